"""Tamper evidence: random edits, deletions, reorderings, insertions and truncations of a
stored log are each detected; a rewrite that recomputes the whole chain and re-signs the
checkpoints with the host's key is caught by the exported checkpoints; clean logs pass."""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from pipeline.audit.chain import Checkpoint, Link, canonical, link_hash
from pipeline.audit.sink import audit_codec as codec
from pipeline.audit.signing import Verifier
from pipeline.audit.sink import load_links
from pipeline.audit.verify import verify
from pipeline.storage import open_store

from .logs import SIGNER, sealed_log

TRIALS = 600
VERIFIER = Verifier.of([SIGNER.public_hex])


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('audit')}/log.db")
    store.migrate()
    links, checkpoints = sealed_log(store, count=60, segment=10)
    store.close()
    return links, checkpoints


def check(links, checkpoints, exported=None):
    return verify(links, checkpoints, VERIFIER, exported, codec().decode)


def rechain(links: list[Link], partition: int) -> list[Link]:
    """What an attacker with write access does: recompute every hash of one partition."""
    out, prev = [], "0" * 64
    for link in links:
        if link.partition != partition:
            out.append(link)
            continue
        digest = link_hash(partition, link.seq, prev, link.body)
        out.append(replace(link, prev_hash=prev, record_hash=digest))
        prev = digest
    return out


def resign(checkpoints: list[Checkpoint], links: list[Link]) -> list[Checkpoint]:
    """...and, holding the host's key, re-sign every checkpoint over the rewritten chain."""
    by_pos = {(l.partition, l.seq): l for l in links}
    out, prev = [], {}
    for cp in checkpoints:
        s = cp.fields
        s["last_hash"] = by_pos[(cp.partition, s["last_seq"])].record_hash
        s["first_prev_hash"] = by_pos[(cp.partition, s["first_seq"])].prev_hash
        s["prev"] = prev.get(cp.partition, "0" * 64)
        text = canonical(s)
        new = Checkpoint(cp.partition, cp.number, cp.kind, text, SIGNER.sign(text))
        prev[cp.partition] = new.hash
        out.append(new)
    return out


def _edit_event(link: Link, rng: random.Random) -> bytes:
    event = codec().decode(link.body)
    changed = event.model_copy(update={"recipient_id": f"someone-else-{rng.randrange(1000)}"})
    return codec().encode(changed)


def mutate(links: list[Link], rng: random.Random, how: str) -> list[Link]:
    links = list(links)
    i = rng.randrange(len(links))
    victim = links[i]
    part = [k for k, l in enumerate(links) if l.partition == victim.partition]
    if how == "edit-byte":
        body = bytearray(victim.body)
        pos = rng.randrange(len(body))
        body[pos] ^= 1 << rng.randrange(8)
        links[i] = replace(victim, body=bytes(body))
    elif how == "edit-field":
        links[i] = replace(victim, body=_edit_event(victim, rng))
    elif how == "edit-column":
        field = rng.choice(["person_token", "kind", "referral_id", "audit_id", "recorded_at"])
        links[i] = replace(victim, **{field: "tampered"})
    elif how == "edit-and-rehash":
        body = _edit_event(victim, rng)
        links[i] = replace(victim, body=body, record_hash=link_hash(victim.partition, victim.seq, victim.prev_hash,
                                                                     body))
    elif how == "delete":
        del links[i]
    elif how == "delete-and-rechain":
        del links[i]
        links = [replace(l, seq=l.seq - 1) if l.partition == victim.partition and l.seq > victim.seq else l
                 for l in links]
        links = rechain(links, victim.partition)
    elif how == "reorder":
        j = rng.choice([k for k in part if k != i])
        a, b = links[i], links[j]
        links[i] = replace(b, seq=a.seq)
        links[j] = replace(a, seq=b.seq)
    elif how == "insert":
        forged = replace(victim, audit_id="forged", body=_edit_event(victim, rng))
        forged = replace(forged, record_hash=link_hash(forged.partition, forged.seq, forged.prev_hash, forged.body))
        shifted = [replace(l, seq=l.seq + 1) if l.partition == victim.partition and l.seq >= victim.seq else l
                   for l in links]
        links = shifted[:i] + [forged] + shifted[i:]
    elif how == "truncate":
        cut = rng.randrange(1, len(part) + 1)
        drop = set(part[-cut:])
        links = [l for k, l in enumerate(links) if k not in drop]
    elif how == "move-partition":
        links[i] = replace(victim, partition=1 - victim.partition)
    else:
        raise ValueError(how)
    return links


KINDS = ["edit-byte", "edit-field", "edit-column", "edit-and-rehash", "delete", "delete-and-rechain", "reorder",
         "insert", "truncate", "move-partition"]


def test_every_random_mutation_is_detected(log) -> None:
    links, checkpoints = log
    rng = random.Random(20260314)
    detected, tried, missed = Counter(), Counter(), []
    for trial in range(TRIALS):
        how = rng.choice(KINDS)
        tried[how] += 1
        report = check(mutate(links, rng, how), checkpoints)
        if report.ok:
            missed.append((trial, how))
        else:
            detected[how] += 1
    print(f"\nmutation trials: {sum(tried.values())}, detected {sum(detected.values())}: {dict(sorted(tried.items()))}")
    assert not missed, missed
    assert sum(tried.values()) >= 500 and set(tried) == set(KINDS)


def test_clean_logs_raise_no_alarm(tmp_path) -> None:
    for seed in range(12):
        rng = random.Random(seed)
        store = open_store(f"sqlite:///{tmp_path}/clean-{seed}.db")
        store.migrate()
        links, checkpoints = sealed_log(store, count=rng.randrange(1, 80), segment=rng.randrange(1, 25), seed=seed)
        store.close()
        report = check(links, checkpoints, exported=checkpoints)
        assert report.ok, report.first_break
        assert report.sealed == report.records == len(links)


def test_a_rewritten_and_resigned_chain_is_caught_only_by_the_exported_checkpoints(log) -> None:
    links, checkpoints = log
    exported = list(checkpoints)  # what the privacy officer filed before the attack
    target = links[3]
    forged = [replace(l, body=_edit_event(l, random.Random(1))) if l is target else l for l in links]
    forged = rechain(forged, target.partition)
    resigned = resign(checkpoints, forged)
    # With the key on the host, the attacker's log is internally perfect...
    assert check(forged, resigned).ok
    # ...but it no longer matches what was exported before.
    report = check(forged, resigned, exported=exported)
    assert not report.ok
    assert report.first_break.reason == "stored checkpoint differs from the exported copy"


def test_truncating_records_and_checkpoints_together_is_caught_by_the_export(log) -> None:
    links, checkpoints = log
    last = max(c.number for c in checkpoints if c.partition == 0)
    kept_cps = [c for c in checkpoints if not (c.partition == 0 and c.number == last)]
    end = [c for c in checkpoints if c.partition == 0 and c.number == last][0].fields["first_seq"]
    kept = [l for l in links if not (l.partition == 0 and l.seq >= end)]
    assert check(kept, kept_cps).ok  # consistent in itself: records and their seal both gone
    report = check(kept, kept_cps, exported=checkpoints)
    assert report.first_break.reason == "exported checkpoint missing from the store"


def test_a_checkpoint_with_a_foreign_key_or_bad_signature_is_a_break(log) -> None:
    links, checkpoints = log
    bad = [replace(c, signature="00" * 64) if i == 2 else c for i, c in enumerate(checkpoints)]
    assert check(links, bad).first_break.reason == "bad signature"
    other = Verifier.of([SIGNER.public_hex[:-2] + ("00" if SIGNER.public_hex[-2:] != "00" else "01")])
    report = verify(links, checkpoints, other, None, codec().decode)
    assert "not trusted" in report.first_break.reason


def test_tampering_in_the_database_itself_is_reported(tmp_path) -> None:
    """The SQL-level attacker: drops the append-only triggers, then edits and deletes rows."""
    store = open_store(f"sqlite:///{tmp_path}/db.db")
    store.migrate()
    links, checkpoints = sealed_log(store, count=30, segment=5)
    with store.transaction() as tx:
        tx.execute("DROP TRIGGER audit_record_no_update")
        tx.execute("DROP TRIGGER audit_record_no_delete")
        tx.execute("UPDATE audit_record SET person_token = 'someone-else' WHERE chain_seq = 4"
                   " AND kafka_partition = 1")
        tx.execute("DELETE FROM audit_record WHERE chain_seq = 2 AND kafka_partition = 0")
    report = check(list(load_links(store)), checkpoints)
    store.close()
    assert [str(b) for b in report.breaks] == [
        "partition 0, record 3: expected position 2: records missing, inserted or reordered",
        "partition 1, record 4: indexed columns disagree with the body"]
