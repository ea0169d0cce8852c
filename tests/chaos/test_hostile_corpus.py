"""The bad-input corpus (tests/data/hostile/generate.py, ≥ 300 cases) through the real edges and
a real `handoff worker`: the HTTP intake and the MLLP listener (TLS, on 127.0.0.1), the file path
(`handoff ingest`), and Avro produced straight to the topics for the stage wrapper.

Every case is refused with a reason (an HTTP 4xx with the reason, an MLLP AE/AR with an ERR
segment, a closed connection for a frame cut short) and dead-lettered with its bytes, the
edge's answer coming within 1 s; a Consent the registry refuses is refused at the edge with
its reason (the consent endpoint keeps no dead letters). The few cases kept as data on purpose
say why (`Case.note`). Meanwhile the worker never exits, its peak RSS stays under 512 MiB, and
the canary person's name, date of birth and phone appear in no log line, metrics label or
dead-letter reason.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from connectors.edge.tls import client_context
from pipeline.consent import Registry
from pipeline.kafka.producer import ProducerSink
from pipeline.kafka.read import read_topic
from pipeline.storage import open_store
from tests.data.hostile.generate import CANARY, Case, corpus
from tests.integration.test_worker import Worker
from tests.support.edges import KEYS, MllpClient, edge_settings, make_certs, running_intake, running_mllp
from tests.support.kafka import produce

pytestmark = pytest.mark.kafka

HANDOFF = str(Path(sys.executable).parent / "handoff")
LIMIT = 1 << 20  # the edges' body and message limit here (1 MiB)
KEY = {"nemsis": "ems-012", "eido": "psap-north", "cad": "psap-north", "field": "outreach-1",
       "consent": "outreach-1"}
PATH = {"nemsis": "/v1/nemsis", "eido": "/v1/eido", "cad": "/v1/cad", "field": "/v1/field-referrals",
        "consent": "/v1/consents/"}
DLQ = ("ems.run.dlq", "dispatch.incident.dlq", "field.referral.dlq", "referral.request.dlq", "delivery.dlq",
       "referral.status.dlq")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(kafka, catalogue, tmp_path: Path, metrics_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=kafka.bootstrap,
               HANDOFF_KAFKA__TOPIC_PREFIX=catalogue.prefix, HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{catalogue.prefix}",
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT=str(metrics_port),
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"),
               HANDOFF_INGEST__AGENCY_DISPATCH_CENTRE=json.dumps({"ems-012": "psap-north"}))
    return env


class Outcome:
    def __init__(self, case: Case) -> None:
        self.case, self.answer, self.reason, self.seconds = case, "", "", 0.0
        self.closed_at: float | None = None  # a connection the sender closed: timed to its dead letter


async def send_http(certs, base: str, case: Case) -> Outcome:
    kind = case.channel.split(":")[1]
    out = Outcome(case)
    ctx = client_context(certs.ca.cert)
    async with httpx.AsyncClient(base_url=base, verify=ctx, headers={"X-API-Key": KEYS[KEY[kind]]}, timeout=30) as http:
        started = time.perf_counter()
        response = await http.post(PATH[kind], content=case.data, headers={"content-type": case.content_type})
        out.seconds = time.perf_counter() - started
    out.answer = str(response.status_code)
    body = response.json()
    out.reason = body.get("error") or "; ".join(x["reason"] for x in body.get("refused", []))
    if response.status_code in (200, 201) and body.get("refused"):
        out.answer = "partial"
    return out


async def send_mllp(address, certs, case: Case) -> Outcome:
    out = Outcome(case)
    client = await MllpClient.connect(address, certs, "ems-012")
    try:
        started = time.perf_counter()
        await client.send_raw(case.data)
        if case.family == "hl7-truncated-frame" and not case.data.endswith(b"\x1c\x0d"):
            await client.close()  # the sender goes away inside the frame: no answer is possible
            out.answer, out.reason, out.closed_at = "closed", "connection closed", time.time()
            return out
        ack = await client.read_ack(timeout=10)
        out.seconds = time.perf_counter() - started
    finally:
        await client.close()
    if ack is None:
        out.answer, out.reason = "closed", "connection closed"
    else:
        fields = {s.split("|")[0]: s.split("|") for s in ack.decode("utf-8", "replace").split("\r") if s}
        out.answer = fields["MSA"][1]
        out.reason = fields["ERR"][8] if "ERR" in fields and len(fields["ERR"]) > 8 else ""
    return out


def ingest_files(cases: list[Case], env: dict, directory: Path) -> dict[str, Outcome]:
    """`handoff ingest KIND FILE...` once per kind; every file is refused (exit 5, reasons on stderr)."""
    outcomes = {}
    by_kind: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_kind[case.channel.split(":")[1]].append(case)
    for kind, group in by_kind.items():
        paths = []
        for case in group:
            path = directory / kind / (case.name.split("@")[0] + {"nemsis": ".xml", "eido": ".json", "cad": ".csv",
                                                                   "hl7": ".hl7"}[kind])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(case.data)
            paths.append(path)
        started = time.perf_counter()
        done = subprocess.run([HANDOFF, "ingest", kind, "--journal", str(directory / f"{kind}.journal"),
                               *map(str, paths)], env=env, capture_output=True, text=True, timeout=300)
        for case, path in zip(group, paths):
            out = Outcome(case)
            out.answer = f"exit {done.returncode}"
            out.reason = "\n".join(line for line in done.stderr.splitlines() if path.name in line)
            outcomes[case.name] = out
    return outcomes


async def dead_letters(kafka, catalogue) -> list:
    letters = []
    for name in DLQ:
        topic = catalogue[name]
        for m in await read_topic(kafka.bootstrap, topic.full_name):
            letters.append((topic.value.decode(m.value), m.timestamp))
    return letters


async def test_the_hostile_corpus_is_refused_dead_lettered_and_leaks_no_canary(kafka, catalogue, tmp_path, caplog):
    caplog.set_level(logging.INFO)  # the product's own loggers at DEBUG; libraries at their INFO
    for name in ("connectors", "pipeline", "handoff"):
        caplog.set_level(logging.DEBUG, logger=name)
    cases = corpus()
    certs = make_certs(tmp_path / "certs")
    settings = edge_settings(certs, catalogue.prefix, max_body_bytes=LIMIT, mllp_max_message_bytes=LIMIT,
                             mllp_frame_timeout=0.5)
    metrics_port = free_port()
    env = worker_env(kafka, catalogue, tmp_path, metrics_port)
    store = open_store(f"sqlite:///{tmp_path / 'consents.db'}")
    store.migrate()
    worker = Worker("worker", env, tmp_path)
    try:
        await worker.assigned()
        outcomes: dict[str, Outcome] = {}
        produced_at: dict[str, float] = {}
        async with ProducerSink(kafka.bootstrap) as sink, \
                running_intake(settings, sink, catalogue, Registry(store)) as (base, http_edge), \
                running_mllp(settings, sink, catalogue) as (address, mllp_edge):
            for case in cases:
                if case.channel.startswith("http:"):
                    outcomes[case.name] = await send_http(certs, base, case)
                elif case.channel == "mllp":
                    outcomes[case.name] = await send_mllp(address, certs, case)
            await asyncio.sleep(1.0)  # the last truncated frame's dead letter
            edge_metrics = (generate_latest(http_edge.metrics.registry) + generate_latest(mllp_edge.metrics.registry))
        outcomes |= await asyncio.to_thread(ingest_files, [c for c in cases if c.channel.startswith("file:")], env,
                                            tmp_path / "files")
        for case in (c for c in cases if c.channel.startswith("avro:")):
            topic = catalogue[case.channel.split(":")[1]]
            produced_at[case.name] = time.time()
            await produce(kafka.bootstrap, topic, [(b"hostile", case.data)])
        letters = await _until_avro_dead_lettered(kafka, catalogue, cases)
        async with httpx.AsyncClient(timeout=10) as http:
            worker_metrics = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        peak_mib = _peak_rss_mib(worker.proc.pid)
        assert worker.proc.poll() is None, worker.text()[-3000:]
    finally:
        worker.stop()
        store.close()

    by_value: dict[tuple[str, str], list] = defaultdict(list)
    for letter, at in letters:
        by_value[(letter.topic.split(":")[0], hashlib.sha256(letter.value).hexdigest())].append((letter, at))
    _time_files(cases, outcomes, letters)
    failures, slow, answers = [], [], Counter()
    for case in cases:
        channel = case.channel.split(":")[0]
        out = outcomes.get(case.name)
        if channel == "avro":
            found = by_value.get((catalogue[case.channel.split(":")[1]].full_name,
                                  hashlib.sha256(case.data).hexdigest()), [])
            if not found or not found[0][0].reason:
                failures.append(f"{case.name}: no dead letter")
                continue
            seconds = found[0][1] / 1000 - produced_at[case.name]
            answers[f"avro: {found[0][0].error_type}"] += 1
        else:
            problem = _judge(case, out, by_value)  # also times a closed connection to its dead letter
            seconds = out.seconds
            answers[f"{channel}: {out.answer}"] += 1
            if problem:
                failures.append(f"{case.name}: {problem} (answer {out.answer}, reason {out.reason[:80]!r})")
        if seconds > 1.0:
            slow.append(f"{case.name}: {seconds:.2f} s")

    texts = {"worker log": worker.text(), "test-process logs": "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records),
        "edge metrics": edge_metrics.decode(), "worker metrics": worker_metrics,
        "dead-letter reasons": "\n".join(f"{x.reason} {x.headers}" for x, _ in letters)}
    leaks = [f"{canary!r} in {where}" for where, text in texts.items() for canary in CANARY if canary in text]
    refused = sum(1 for c in cases if c.expect == "refused")
    print(f"\nhostile corpus: {len(cases)} cases ({refused} to refuse, "
          f"{sum(c.expect == 'partial' for c in cases)} partial, {sum(c.expect == 'accepted' for c in cases)} kept "
          f"on purpose); dead letters {len(letters)}; answers {dict(sorted(answers.items()))}; worker peak RSS "
          f"{peak_mib:.0f} MiB; slowest: {', '.join(f'{o.case.name} {o.seconds:.2f} s' for o in sorted(outcomes.values(), key=lambda o: o.seconds)[-4:])}")
    assert failures == [], "\n".join(failures[:40])
    assert slow == [], "\n".join(slow[:40])
    assert leaks == []
    assert peak_mib < 512


def _judge(case: Case, out: Outcome, by_value) -> str:
    """What is wrong with an edge's handling of one case ('' when right)."""
    channel = case.channel.split(":")[0]
    if case.expect == "accepted" and channel != "file":
        return "" if out.answer in ("200", "201", "AA") else "kept-on-purpose case was not accepted"
    if channel == "http":
        kind = case.channel.split(":")[1]
        if case.expect == "partial":
            ok = out.answer == "partial"
        else:
            ok = out.answer in ("413", "415", "422")
        if not ok or not out.reason:
            return "not refused with a reason"
        if kind == "consent":
            return ""  # refused at the edge with the reason; the consent endpoint keeps no dead letters
        value = b"" if out.answer == "413" else case.data
        return "" if by_value.get(("http", hashlib.sha256(value).hexdigest())) else "no dead letter"
    if channel == "mllp":
        if out.answer not in ("AE", "AR", "closed") or (out.answer != "closed" and not out.reason):
            return "not refused with a reason"
        body = case.data.lstrip(b"\x0b")
        found = [(x, at) for (origin, _), xs in by_value.items() if origin == "mllp" for x, at in xs
                 if (x.value and (x.value in case.data or body.startswith(x.value[:200])))
                 or (not x.value and body.rstrip(b"\x1c\x0d") == b"")]
        if found and out.closed_at is not None:
            out.seconds = found[0][1] / 1000 - out.closed_at
        return "" if found else "no dead letter"
    if channel == "file":  # stderr names only the first 20 refusals: the dead letters carry each reason
        name = case.name.split("@")[0]
        found = [x for (origin, _), xs in by_value.items() if origin == "file" for x, _ in xs
                 if x.topic.startswith(f"file:{name}.") and x.reason]
        if case.expect == "accepted":
            return "" if not found and out.answer in ("exit 0", "exit 5") else "kept-on-purpose case was refused"
        return "" if found and out.answer == "exit 5" else "no dead letter with a reason"
    return f"unknown channel {case.channel}"


async def _until_avro_dead_lettered(kafka, catalogue, cases: list[Case], timeout: float = 90.0) -> list:
    want = {hashlib.sha256(c.data).hexdigest() for c in cases if c.channel.startswith("avro:")}
    deadline = time.monotonic() + timeout
    while True:
        letters = await dead_letters(kafka, catalogue)
        got = {hashlib.sha256(x.value).hexdigest() for x, _ in letters if not x.topic.startswith(("http", "mllp", "file"))}
        if want <= got or time.monotonic() > deadline:
            return letters
        await asyncio.sleep(0.5)


def _time_files(cases: list[Case], outcomes: dict[str, "Outcome"], letters: list) -> None:
    """A file's time: from the previous file's dead letter to its own (`handoff ingest` reads the files of a
    kind in order), so that the command's start-up is not counted."""
    first: dict[str, float] = {}
    for letter, at in letters:
        if letter.topic.startswith("file:"):
            name = letter.topic.removeprefix("file:").rsplit(".", 1)[0]
            first[name] = min(first.get(name, at), at)
    previous: dict[str, float] = {}
    for case in (c for c in cases if c.channel.startswith("file:")):
        kind, name = case.channel.split(":")[1], case.name.split("@")[0]
        if name in first:
            at = first[name] / 1000
            outcomes[case.name].seconds = at - previous.get(kind, at)
            previous[kind] = at


def _peak_rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0
