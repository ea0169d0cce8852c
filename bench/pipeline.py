"""The pipeline rows of `make bench`: real `handoff worker` processes on the bench's broker.

- **End to end**: N distinct EMS runs preloaded into `ems.run`; then the worker(s) start
  (BENCH_WORKERS, default 1: one process running every stage; 2: two such processes in one
  consumer group; `split`: the split deployment, one `--stages ingest` and one `--stages
  referrals` process, each in its own group). The clock starts when the first worker logs its partition assignment
  (process start-up and imports excluded, the group join and everything after included) and
  stops when the group has committed every offset of every stage's topic (committed = end
  offset: nothing in flight anywhere, the audit sink included). faust commits every second,
  so the time is over-stated by up to ~1.2 s (conservative). Then `BENCH_LATENCY_N` more runs
  are offered at 50/s on a fixed schedule; latency = broker time of a referral's first
  `referral.status` (the delivery's report) minus that of its run on `ems.run`, matched by
  correlation id.
  Peak RSS = each worker process's VmHWM (/proc) after both phases; the row shows the largest.
  Starvation is measured in the same row: when the ingest stage has committed the whole
  preloaded `ems.run` (`ingest_drained_s`), how many `referral.request` records
  route-decide-render's group had committed by then (`routed_while_backlogged`, of
  `requests_by_then` on the topic).
- **Stages alone**: a fresh topic set and database; `BENCH_STAGE_N` runs preloaded; then
  `handoff worker --stages S` for S = classify-run, route-decide-render, deliver, audit-sink in
  turn, each consuming the backlog the previous one left (its own consumer group, the shared
  database), timed as above.

Each row has its own empty database: SQLite by default, or PostgreSQL with BENCH_POSTGRES (a server's
URL; a database is created per row), as a multi-process deployment would run.

Rows are equal work: the closed loop's deadline sweep (and the task poll, on the same period)
is pinned off (`track.sweep_seconds` = 1 day; its one pass at start finds an empty database),
so no row cancels and re-requests referrals depending on how long it ran.

Every recipient in the bench's directory is Handoff's inbox (the sample directory with its
FHIR, MLLP and Direct endpoints pointed at the inbox): the rows measure Handoff, not the
peers, and no delivery is refused for want of a connector. A row whose run dead-lettered
anything says so (`dead_letters`): its number is not a clean one.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.hops import make_row, paced, preload, read_all
from pipeline import records as r
from pipeline.topics import Catalogue, create_topics

ROOT = Path(__file__).resolve().parent.parent
INBOX = {"system": "urn:handoff:endpoint-type", "code": "handoff-inbox"}


def inbox_directory(path: Path) -> Path:
    """The sample directory with every endpoint delivering to Handoff's inbox."""
    from pipeline.settings import Settings

    bundle = json.loads(Path(Settings().routing.directory).read_text())
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Endpoint" and res["connectionType"]["code"] not in ("handoff-inbox", "webhook"):
            res.update(connectionType=INBOX, address=res["managingOrganization"]["reference"].split("/")[-1])
    path.write_text(json.dumps(bundle))
    return path


@dataclass
class Worker:
    """One `handoff worker` process; its stderr is read for the assignment line."""

    proc: asyncio.subprocess.Process
    assigned_at: float | None = None
    tail: list[str] = field(default_factory=list)

    @classmethod
    async def start(cls, env: dict[str, str], stages: str = "") -> "Worker":
        args = [str(Path(sys.executable).with_name("handoff")), "worker", *(["--stages", stages] if stages else [])]
        proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        worker = cls(proc)
        worker.reader = asyncio.create_task(worker._read())
        return worker

    async def _read(self) -> None:
        async for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.tail = [*self.tail[-40:], line]
            if self.assigned_at is None and "partition(s) assigned" in line and "consuming: 0 " not in line:
                self.assigned_at = time.monotonic()

    async def until_assigned(self, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while self.assigned_at is None:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + "\n".join(self.tail))
            await asyncio.sleep(0.05)
        return self.assigned_at

    def check_alive(self) -> None:
        if self.proc.returncode is not None:
            raise RuntimeError(f"worker exited ({self.proc.returncode}):\n" + "\n".join(self.tail[-15:]))

    def peak_rss_mib(self) -> float:
        """The process's peak resident set so far (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.reader


def database_url(db: Path) -> str:
    """The row's own empty database: the SQLite file `db`, or, with BENCH_POSTGRES set to a PostgreSQL
    server's URL (deploy/ci/postgres.sh prints one), a new database on that server named after the file, dropped when the bench exits."""
    server = os.environ.get("BENCH_POSTGRES")
    if not server:
        return f"sqlite:///{db}"
    import psycopg

    name = "bench_" + db.stem.replace("-", "_")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    if not _created:
        atexit.register(_drop_databases, server)
    _created.append(name)
    return server.rsplit("/", 1)[0] + "/" + name


_created: list[str] = []  # the bench's PostgreSQL databases, dropped when it exits


def _drop_databases(server: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        for name in _created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_env(bootstrap: str, cat: Catalogue, db: Path, directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=bootstrap, HANDOFF_KAFKA__TOPIC_PREFIX=cat.prefix,
               HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{cat.prefix}", HANDOFF_STORAGE__URL=database_url(db),
               HANDOFF_METRICS__PORT="0", HANDOFF_ROUTING__DIRECTORY=str(directory),
               HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(db.with_suffix(".checkpoints.jsonl")),
               HANDOFF_TRACK__SWEEP_SECONDS=str(SWEEP_OFF))  # equal work: see the module's docstring
    return env


SWEEP_OFF = 86400


async def settled(bootstrap: str, group: str, topics: list[str], timeout: float, every: float = 0.2,
                  workers: Sequence["Worker"] = ()) -> float:
    """Until `group` has committed the end offset of every partition of `topics` that has
    messages (checked twice in a row); returns the time of the first of the two checks.
    Raises at once if one of `workers` has exited meanwhile (nothing would progress)."""
    return await settled_groups(bootstrap, {group: topics}, timeout, every, workers)


async def settled_groups(bootstrap: str, groups: dict[str, list[str]], timeout: float, every: float = 0.2,
                         workers: Sequence["Worker"] = ()) -> float:
    """`settled` for several groups at once ({group: its topics}): all of them done in the same
    check, twice in a row (the split deployment's groups feed each other)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    ends_of = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await ends_of.start()
    try:
        partitions = {group: await _partitions(admin, topics) for group, topics in groups.items()}
        deadline, first = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            for worker in workers:
                worker.check_alive()
            now = time.monotonic()
            done = True
            for group, tps in partitions.items():
                ends = await ends_of.end_offsets(tps)
                committed = await admin.list_consumer_group_offsets(group)
                done = done and all(end == 0 or (tp in committed and committed[tp].offset >= end)
                                    for tp, end in ends.items())
            if done and first is not None:
                return first
            first = now if done else None
            await asyncio.sleep(every)
    finally:
        await admin.close()
        await ends_of.stop()
    raise TimeoutError(f"groups {', '.join(groups)}: not settled after {timeout:.0f}s")


async def committed_total(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    """The offsets `group` has committed on `topic`, summed over its partitions."""
    return sum(m.offset for tp, m in (await admin.list_consumer_group_offsets(group)).items()
               if tp.topic == topic and m.offset > 0)


async def backlog_progress(bootstrap: str, cat: Catalogue, ingest_group: str, routing_group: str, runs: int,
                           began: float, every: float = 1.0) -> dict:
    """Starvation, measured: once the ingest group has committed all `runs` of `ems.run`, how many
    `referral.request` records route-decide-render's group had committed (and how many there were)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    ends_of = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await ends_of.start()
    requests = cat["referral.request"].full_name
    try:
        request_tps = await _partitions(admin, [requests])
        samples = []
        while True:
            ingested = await committed_total(admin, ingest_group, cat["ems.run"].full_name)
            routed = await committed_total(admin, routing_group, requests)
            samples.append((round(time.monotonic() - began, 1), ingested, routed))
            if ingested >= runs:
                made = sum((await ends_of.end_offsets(request_tps)).values())
                return {"ingest_drained_s": samples[-1][0], "routed_while_backlogged": routed,
                        "requests_by_then": made, "progress": samples[:: max(1, len(samples) // 12)]}
            await asyncio.sleep(every)
    finally:
        await admin.close()
        await ends_of.stop()


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    found = {t["topic"]: [p["partition"] for p in t["partitions"]] for t in await admin.describe_topics(topics)}
    missing = sorted(t for t in topics if not found.get(t))
    if missing:
        raise RuntimeError(f"no such topics: {', '.join(missing)}")
    return [TopicPartition(t, p) for t in topics for p in sorted(found[t])]


async def message_count(bootstrap: str, topics: list[str]) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        return sum((await consumer.end_offsets(await _partitions(admin, topics))).values())
    finally:
        await admin.close()
        await consumer.stop()


def _stage_topics(cat: Catalogue, names: list[str] | None = None) -> list[str]:
    from pipeline.app import STAGES

    return sorted({cat[s.source].full_name for s in STAGES if names is None or s.name in names})


def _dead_letter_topics(cat: Catalogue) -> list[str]:
    return sorted({t.full_name for t in cat if t.name.endswith(".dlq")})


def _db_counts(url: str) -> dict[str, int]:
    from pipeline.storage import open_store

    store = open_store(url)
    try:
        with store.transaction() as tx:
            return {"inbox_items": tx.fetchone("SELECT count(*) AS n FROM inbox_item")["n"],
                    "audit_rows": tx.fetchone("SELECT count(*) AS n FROM audit_record")["n"]}
    finally:
        store.close()


async def status_latencies(bootstrap: str, cat: Catalogue, runs: list[r.EmsRun]) -> list[float]:
    """Per referral of the given runs: the broker time of its first `referral.status` (the
    delivery's report) minus that of its run on `ems.run` (matched by correlation id)."""
    source, status = cat["ems.run"], cat["referral.status"]
    wanted = {source.key.encode(run.key): run.envelope.correlation_id for run in runs}
    ingested = {wanted[m.key]: m.timestamp for m in await read_all(bootstrap, source.full_name) if m.key in wanted}
    first: dict[str, float] = {}
    for m in await read_all(bootstrap, status.full_name):
        value = status.value.decode(m.value)
        if value.envelope.correlation_id in ingested:
            took = m.timestamp - ingested[value.envelope.correlation_id]
            first[value.referral_id] = min(took, first.get(value.referral_id, took))
    return list(first.values())


def deployment(spec: str) -> list[str]:
    """A BENCH_WORKERS entry as the `--stages` of each worker process: "2" → two of every stage,
    "split" → the split deployment (handoff/worker.py: stage_sets)."""
    return ["ingest", "referrals"] if spec == "split" else [""] * int(spec)


async def end_to_end(bootstrap: str, spec: str, runs: list[r.EmsRun], lat_runs: list[r.EmsRun], rate: float,
                     tmp: Path, settings: dict[str, str] | None = None) -> dict:
    from handoff.worker import expand

    cat = Catalogue(prefix=f"e{os.urandom(4).hex()}")
    await create_topics(bootstrap, cat)
    db = tmp / f"{cat.prefix}.db"
    env = worker_env(bootstrap, cat, db, inbox_directory(tmp / "directory.json")) | (settings or {})
    sets = deployment(spec)
    named = {s: f"g-{cat.prefix}" + (f".{s}" if s else "") for s in dict.fromkeys(sets)}
    groups = {g: _stage_topics(cat, expand([s]) if s else None) for s, g in named.items()}

    def running(stage: str) -> str:
        return next(g for s, g in named.items() if not s or stage in expand([s]))
    await preload(bootstrap, cat["ems.run"], runs)
    started = [await Worker.start(env, s) for s in sets]
    try:
        began = min(await asyncio.gather(*(w.until_assigned() for w in started)))
        progress = asyncio.create_task(backlog_progress(bootstrap, cat, running("classify-run"),
                                                        running("route-decide-render"), len(runs), began))
        seconds = await settled_groups(bootstrap, groups, timeout=3600, workers=started) - began
        starvation = await progress
        if lat_runs:
            await paced(bootstrap, cat["ems.run"], lat_runs, rate)
            await settled_groups(bootstrap, groups, timeout=600, workers=started)
        rss = [w.peak_rss_mib() for w in started]
    finally:
        for w in started:
            await w.stop()
    lat = await status_latencies(bootstrap, cat, lat_runs) if lat_runs else []
    workers = len(started)
    label = ("split deployment: one --stages ingest and one --stages referrals process" if spec == "split" else
             "one worker process" if workers == 1 else f"{workers} worker processes")
    row = make_row(f"pipeline end to end, {label} (ems.run → … → inbox, referral.status, audit stored); "
                   f"latency ems.run → first referral.status at {rate:g}/s offered", len(runs), seconds, lat)
    row.update(workers=workers, deployment=spec, peak_rss_mib=round(max(rss)),
               peak_rss_each_mib=[round(x) for x in rss], statuses_timed=len(lat), **starvation,
               dead_letters=await message_count(bootstrap, _dead_letter_topics(cat)),
               **_db_counts(env["HANDOFF_STORAGE__URL"]))
    return row


STAGE_ROWS = (("classify-run", "detect + open the episode's referral requests"),
              ("route-decide-render", "episode merge, route, consent decision, render"),
              ("deliver", "consent re-read, send to the inbox, status"),
              ("audit-sink", "hash chains in the database"))


async def stages_alone(bootstrap: str, runs: list[r.EmsRun], tmp: Path) -> list[dict]:
    """Each stage alone on the backlog the one before it left (see the module's docstring)."""
    from pipeline.app import STAGES

    cat = Catalogue(prefix=f"s{os.urandom(4).hex()}")
    await create_topics(bootstrap, cat)
    db = tmp / f"{cat.prefix}.db"
    env = worker_env(bootstrap, cat, db, inbox_directory(tmp / "directory.json"))
    await preload(bootstrap, cat["ems.run"], runs)
    rows = []
    for name, what in STAGE_ROWS:
        topic = cat[next(s.source for s in STAGES if s.name == name)]
        count = await message_count(bootstrap, [topic.full_name])
        worker = await Worker.start(env, name)
        try:
            began = await worker.until_assigned()
            seconds = await settled(bootstrap, f"g-{cat.prefix}.{name}", [topic.full_name], timeout=3600,
                                    workers=[worker]) - began
            rss = worker.peak_rss_mib()
        except RuntimeError as e:  # the worker exited: say so in the row, go on with the others
            rows.append({"name": f"stage {name} alone", "records": count, "seconds": 0.0, "records_per_s": 0.0,
                         "error": str(e).splitlines()[0]})
            print("\n".join(worker.tail[-15:]), file=sys.stderr)
            continue
        finally:
            await worker.stop()
        row = make_row(f"stage {name} alone ({what}), its {topic.name} backlog", count, seconds, [])
        row.update(runs_per_s=round(len(runs) / seconds, 1), peak_rss_mib=round(rss))
        rows.append(row)
    for row in rows:
        row["dead_letters"] = await message_count(bootstrap, _dead_letter_topics(cat))
    return rows

