"""Kill the deliver stage's process mid-batch, between its last send and the batch's settling, then
restart it: each recipient (the real HAPI FHIR server, an MLLP receiver taking two referrals one at
a time, a Direct HISP, the inbox) ends with exactly one referral per identity, and every message
the MLLP receiver got was audited as an attempt before it left and has its result after the restart,
including a referral's create and update that had settled before the kill (never sent again). With idempotency switched off the
same loop leaves duplicates, so the check can fail. A few trials here; 50 under `make test-long`."""
from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from connectors.hl7v2_mllp import control_id
from connectors.peers.mllp import MllpPeer
from connectors.peers.smtp import SmtpPeer, direct_certs
from pipeline.storage import open_store
from pipeline.topics import Catalogue
from tests.support.delivery import amended, delivery, fhir_settings, tasks

TO, SENDER = "intake@direct.kill.test", "referrals@handoff.kill.test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def recipients(fhir_server, tmp_path):
    mllp = await MllpPeer().start()
    smtp = SmtpPeer().start()
    certs = direct_certs(tmp_path / "direct", [SENDER, TO])
    section = {"lease_seconds": 0.2,
               "fhir": fhir_settings(fhir_server, mode="transaction").model_dump(mode="json"),
               "mllp": {"ack_timeout": 5},
               "direct": {"smtp_port": smtp.port, "sender": SENDER, "signing_cert": str(certs[SENDER][0]),
                          "signing_key": str(certs[SENDER][1]), "recipient_certs": {TO: str(certs[TO][0])}}}
    yield mllp, smtp, section
    await mllp.stop()
    smtp.stop()


async def child(tmp_path: Path, db: str, files: list[str], section: dict, kill: bool) -> int:
    config = tmp_path / "child.json"
    config.write_text(json.dumps({"db": db, "deliveries": files, "delivery": section, "kill": kill,
                                  "audits": str(tmp_path / "audits.jsonl")}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.support.deliver_child", str(config),
                                                cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert kill or proc.returncode == 0, err.decode()[-2000:]
    return proc.returncode


async def trials(count: int, tmp_path, fhir_server, recipients, idempotent: bool) -> dict[str, list[int]]:
    """Per connector, how many referrals each identity's recipient holds after kill + restart."""
    mllp, smtp, section = recipients
    section = {**section, "idempotent": idempotent}
    db = f"sqlite:///{tmp_path / 'kill.db'}"
    store = open_store(db)
    store.migrate()
    store.close()
    codec = Catalogue("kill")["delivery"].value
    held: dict[str, list] = {"fhir-rest": [], "hl7v2-mllp": [], "direct": [], "inbox": [], "updated": []}
    for n in range(count):
        tag = f"{'i' if idempotent else 'x'}{n}"
        sent = {"fhir-rest": delivery("fhir-rest", fhir_server.server.base, pid=f"org-kill-{tag}-f"),
                "hl7v2-mllp": delivery("hl7v2-mllp", mllp.address, pid=f"org-kill-{tag}-m"),
                "direct": delivery("direct", TO, pid=f"org-kill-{tag}-d")}
        if idempotent:  # a second MLLP referral goes in a second round (one at a time): killed after it, the
            sent |= {"hl7v2-mllp-2": delivery("hl7v2-mllp", mllp.address, pid=f"org-kill-{tag}-m2"),  # first
                     "inbox": delivery("inbox", "x", pid=f"org-kill-{tag}-i"),  # round has settled, the second not
                     "inbox-2": delivery("inbox", "x", pid=f"org-kill-{tag}-i2"),
                     **updated(mllp.address, f"org-kill-{tag}-u")}
        files = []
        for kind, d in sent.items():
            (tmp_path / f"{tag}-{kind}.avro").write_bytes(codec.encode(d))
            files.append(str(tmp_path / f"{tag}-{kind}.avro"))
        assert await child(tmp_path, db, files, section, kill=True) == -9  # SIGKILL after the batch's last send
        await asyncio.sleep(0.3)  # its leases run out
        assert await child(tmp_path, db, files, section, kill=False) == 0  # the restart resends
        held["fhir-rest"].append(len(await tasks(fhir_server, sent["fhir-rest"].referral_id)))
        for kind in ("hl7v2-mllp", "hl7v2-mllp-2")[:1 + idempotent]:
            held["hl7v2-mllp"].append(len(mllp.referrals().get(sent[kind].referral_id, [])))
        if idempotent:
            held["updated"].append(revisions_received(mllp, sent))
        held["direct"].append(len(smtp.referrals().get(sent["direct"].referral_id, [])))
        store = open_store(db)
        with store.transaction() as tx:
            for kind in ("inbox", "inbox-2")[:2 * idempotent]:
                held["inbox"].append(tx.fetchone("SELECT COUNT(*) AS n FROM inbox_item WHERE referral_id = :r",
                                                 {"r": sent[kind].referral_id})["n"])
        store.close()
    if idempotent:  # (without, the MLLP control ids are made up at the send and name no audited message)
        every_send_audited(tmp_path / "audits.jsonl", mllp)
    return held


def updated(address: str, pid: str) -> dict:
    """One referral's create and two updates, in successive rounds of the batch: killed after the last
    send, the create and the first update had settled, their results not yet written (round 7's big
    fault run: 483 held messages without a result record)."""
    return {f"hl7v2-mllp-u{v}": amended("hl7v2-mllp", address, v, f"217-555-01{v:02d}", pid) if v > 1
            else delivery("hl7v2-mllp", address, pid=pid) for v in (1, 2, 3)}


def revisions_received(mllp: MllpPeer, sent: dict) -> list[int]:
    """The revisions of the updated referral's messages, in the order the receiver got them (resends
    included): a settled message is never sent again, so only the last one, in flight at the kill."""
    revision = {sent[f"hl7v2-mllp-u{v}"].message_id: v for v in (1, 2, 3)}
    return [revision[m] for m in map(control_id, mllp.received) if m in revision]


def every_send_audited(path: Path, mllp: MllpPeer) -> None:
    audits = [json.loads(line) for line in path.read_text().splitlines()]
    attempts = Counter(a["detail"]["message_id"] for a in audits if a["kind"] == "delivery-attempt"
                       and a["outcome"] == "attempt")
    frames = Counter(control_id(m) for m in mllp.received)
    assert frames and all(attempts[m] >= k for m, k in frames.items()), (frames, attempts)  # every send audited first
    results = {a["detail"]["message_id"] for a in audits if a["kind"] == "delivery-result"}
    assert results >= set(frames)  # and its result after the restart


async def test_kill_between_send_and_commit_leaves_one_referral_per_identity(tmp_path, fhir_server, recipients):
    held = await trials(2, tmp_path, fhir_server, recipients, idempotent=True)
    assert held == {"fhir-rest": [1, 1], "hl7v2-mllp": [1] * 4, "direct": [1, 1], "inbox": [1] * 4,
                    "updated": [[1, 2, 3, 3]] * 2}  # (before round 8: [1, 2, 3, 1, 2, 3], an older one resent)


async def test_without_idempotency_the_same_loop_shows_duplicates(tmp_path, fhir_server, recipients):
    held = await trials(1, tmp_path, fhir_server, recipients, idempotent=False)
    assert held == {"fhir-rest": [2], "hl7v2-mllp": [2], "direct": [2], "inbox": [], "updated": []}


@pytest.mark.long
async def test_kill_between_send_and_commit_fifty_times(tmp_path, fhir_server, recipients):
    held = await trials(50, tmp_path, fhir_server, recipients, idempotent=True)
    assert held.pop("updated") == [[1, 2, 3, 3]] * 50 and all(set(counts) == {1} for counts in held.values()), held
