"""`handoff config` on the real broker, as a person runs it (the installed console script):

- the shadow replay (`apply --dry-run`) of a rule change, a routing change and a policy change on a
  known generated input reports exactly what the input's construction predicts, produces nothing to
  any topic, commits nothing for any consumer group, installs nothing, and writes one audit record:
  its own;
- a running `handoff worker` takes up a version installed meanwhile without a restart, at a batch
  boundary: every run is detected exactly once, each detection under one version, never the old
  one after the new one on a partition.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.audit.sink import audit_codec
from pipeline.config import versions
from pipeline.kafka.producer import ProducerSink
from pipeline.kafka.read import read_topic
from pipeline.monitor import topic_ends
from pipeline.stage import Output, Writer
from pipeline.storage import open_store
from tests.support import config_changes as known

pytestmark = pytest.mark.kafka

HANDOFF = str(Path(sys.executable).parent / "handoff")
PASSWORD = "a long test password 42"


def _env(kafka, catalogue, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=kafka.bootstrap,
               HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix, HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{catalogue.prefix}",
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT="0",
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"), HANDOFF_CONFIG__POLL_SECONDS="0.5")
    done = subprocess.run([HANDOFF, "users", "add", "admin-1", "--role", "admin", "--password-stdin"], env=env,
                          input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return env


def _config(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([HANDOFF, "config", *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


async def _produce(bootstrap, catalogue, topic: str, records, key) -> None:
    async with ProducerSink(bootstrap) as sink:
        await Writer(catalogue, sink, "test").write([], [Output(topic, key(x), x) for x in records], [])


async def _state(bootstrap, catalogue) -> tuple[dict, list]:
    """Every topic's end offsets under the prefix, and the consumer groups with offsets committed on them."""
    found = await topic_ends(bootstrap, catalogue.prefix)
    return found.ends, sorted({lag.group for lag in found.lags})


def _audits(db: Path) -> list:
    with open_store(f"sqlite:///{db}") as store, store.transaction() as tx:
        return [audit_codec().decode(row["body"]) for row in tx.fetchall("SELECT body FROM audit_record")]


def test_dry_runs_report_exactly_the_known_changes_and_send_nothing(kafka, catalogue, tmp_path):
    env = _env(kafka, catalogue, tmp_path)
    at = known.at_yesterday()
    asyncio.run(_produce(kafka.bootstrap, catalogue, "ems.run", known.runs(at), lambda x: x.key))
    asyncio.run(_produce(kafka.bootstrap, catalogue, "referral.request", known.requests(at), lambda x: x.person))
    db = tmp_path / "handoff.db"
    changes = {"rules": known.rules_change, "routing": known.routing_change, "policy": known.policy_change}
    for kind, make in changes.items():
        before, audits_before = asyncio.run(_state(kafka.bootstrap, catalogue)), len(_audits(db))
        done = _config(env, "apply", kind, make(tmp_path / kind), "--user", "admin-1", "--dry-run", "--days", "2")
        assert done.returncode == 0, done.stderr
        assert before[1] == [] and asyncio.run(_state(kafka.bootstrap, catalogue)) == before  # nothing produced,
        # no offsets committed
        with open_store(f"sqlite:///{db}") as store:
            assert versions.heads(store) == {}  # nothing installed
            [proposal] = [p for p in versions.proposals(store) if p.kind == kind]
        got = sorted((c["what"], c["category"], c["area"], c["case"], c["person"], c["before"], c["after"])
                     for c in proposal.report["changes"])
        assert got == known.expected(kind), done.stdout
        assert proposal.report["read"] == {"ems.run": 15, "dispatch.incident": 0, "referral.request": 8,
                                           "consent": 0}
        new = _audits(db)[audits_before:]
        assert [(a.kind.value, a.detail["action"], a.actor) for a in new] == [("admin", "config-dry-run",
                                                                              "user:admin-1")]
        assert new[0].detail["changes"] == str(len(got)) and new[0].detail["proposal"] == proposal.proposal_id
        lines = done.stdout.splitlines()
        assert lines[2] == f"{len(got)} change(s)" and "nothing sent, nothing installed" in lines[1]
        print(f"\n{kind} dry run:\n{done.stdout}")


CHANGED = re.compile(r"config: stage classify-run now runs under (.*)")


async def _feed_until(bootstrap, catalogue, applied: asyncio.Task, after: int) -> int:
    """Runs one at a time, 0.2 s apart, until the apply has finished and `after` more went in."""
    at, n, extra = known.at_yesterday(), 0, 0
    codes = ("F10.92", "T40.1X1A", "R50.9")
    async with ProducerSink(bootstrap) as sink:
        writer = Writer(catalogue, sink, "test")
        while extra < after:
            base = known.runs(at)[0]
            run = base.model_copy(update={
                "pcr_number": f"PCR-L{n}", "key": base.key.model_copy(update={"incident_number": f"N-L{n}"}),
                "envelope": base.envelope.model_copy(update={"event_id": f"live:{n}", "source_record_id": f"PCR-L{n}"}),
                "primary_impression": base.primary_impression.model_copy(update={"code": codes[n % 3]})})
            await writer.write([], [Output("ems.run", run.key, run)], [])
            n += 1
            extra += applied.done()
            await asyncio.sleep(0.2)
    return n


def test_a_running_worker_switches_versions_without_a_restart_or_a_second_processing(kafka, catalogue, tmp_path):
    env = _env(kafka, catalogue, tmp_path)
    new_rules = known.rules_change(tmp_path)
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([HANDOFF, "worker", "--stages", "classify-run"], stdout=open(log, "w"),
                              stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while "consuming: " not in log.read_text() or "consuming: 0" in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        async def scenario() -> int:
            async def apply() -> subprocess.CompletedProcess:
                await asyncio.sleep(3)  # a few batches under the version in force first
                return await asyncio.to_thread(_config, env, "apply", "rules", new_rules, "--user", "admin-1")
            applied = asyncio.create_task(apply())
            fed = await _feed_until(kafka.bootstrap, catalogue, applied, after=15)
            done = await applied
            assert done.returncode == 0, done.stderr
            return fed
        fed = asyncio.run(scenario())
        detections = []
        deadline = time.monotonic() + 120
        while len(detections) < fed and time.monotonic() < deadline:
            time.sleep(0.5)
            detections = asyncio.run(read_topic(kafka.bootstrap, catalogue["detection"].full_name))
        time.sleep(2)  # anything processed twice would show up now
        detections = asyncio.run(read_topic(kafka.bootstrap, catalogue["detection"].full_name))
        assert worker.poll() is None, log.read_text()  # the same process throughout
    finally:
        worker.terminate()
        worker.wait(60)
    text = log.read_text()
    decoded = [(m.partition, m.offset, catalogue["detection"].value.decode(m.value)) for m in detections]
    subjects = [d.subject.record_id for _, _, d in decoded]
    assert len(subjects) == fed and len(set(subjects)) == fed  # each run detected once: none lost, none twice
    used = sorted({d.rules_version for _, _, d in decoded})
    assert len(used) == 2 and used[1].startswith("1.1.0+"), used
    old, new = used[0], used[1]
    for partition in {p for p, _, _ in decoded}:
        seq = [d.rules_version for p, _, d in sorted(decoded, key=lambda x: x[1]) if p == partition]
        assert seq == sorted(seq, key=lambda v: v == new), f"partition {partition} went back: {seq}"
    for _, _, d in decoded:  # what each version finds: the F10.92 runs lose substance_use under the new one
        if d.subject.record_id.startswith("PCR-L") and int(d.subject.record_id[5:]) % 3 == 0:
            assert ("substance_use" in [c.value for c in d.categories]) == (d.rules_version == old)
    assert text.count("worker started") == 1 and len(CHANGED.findall(text)) == 1, text
    counts = {v: sum(d.rules_version == v for _, _, d in decoded) for v in used}
    print(f"\n{fed} runs fed 0.2 s apart; detections under {old}: {counts[old]}, under {new}: {counts[new]}; "
          f"one worker process (pid {worker.pid}), switched once: {CHANGED.findall(text)[0]}")
