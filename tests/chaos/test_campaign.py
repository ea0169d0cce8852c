"""The fault campaign: EMS runs go in through the ingest edge (the `publish` the HTTP, MLLP and
file edges share) and through the whole pipeline — two `handoff worker` processes in one
group — to the local peers (an MLLP receiver over TLS, Handoff's inbox), while a seeded
schedule SIGKILLs and SIGTERMs workers (and restarts them), restarts the broker, and makes the
MLLP peer withhold its ACK (time out) or reset the connection. Then tests/chaos/collect.py
dumps what the recipients hold, what was decided, audited and dead-lettered, and the offline
checker (tests/chaos/checker.py) must find nothing wrong; the same dump doctored (an audit
record deleted, a delivery duplicated, a permit removed) must make it exit 1.

CI: CHAOS_RUNS (default 120) runs and CHAOS_FAULTS (default 6) faults, a few minutes.
`make test-long` (`long`): CHAOS_LONG_RUNS (default 100,000) and CHAOS_LONG_FAULTS (default 100).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from connectors.peers import demo as demo_peers
from bench.pipeline import settled
from handoff.demo import sample_runs
from pipeline.app import STAGES
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.settings import Settings
from pipeline.storage import open_store
from pipeline.topics import Catalogue, create_topics
from tests.chaos.checker import check
from tests.chaos.collect import Tail, collect, held_messages
from tests.chaos import consents, feed, fhirpeer, providers
from tests.chaos.disk import Disk
from tests.chaos.edges import Edges
from tests.chaos.doctor import DOCTORS
from tests.conftest import ROOT
from tests.integration.test_worker import Worker

FAULTS = ("sigkill", "sigterm", "sigkill-both", "broker-restart", "disk-full", "peer-timeout", "peer-reset", "peer-busy")
CONSENT_RUNS = 20  # detected runs sent again from an unregistered (Part 2) programme: holds, consents, revocations
HOOKS = Path(__file__).parent / "hooks"  # test-only breaks and the disk-full fallback (sitecustomize.py)
STARTUP = 300.0  # a worker's start on a loaded 2-core machine (ICD-10-CM alone took 57 s once)
DISK_MIB = int(os.environ.get("CHAOS_DISK_MIB", "256"))  # the database's own file system (tmpfs), filled by disk-full
INBOX = {"system": "urn:handoff:endpoint-type", "code": "handoff-inbox"}


def _compressed(value, newest: datetime, now: datetime, scale: float):
    """Every date-time in a record's dump moved so that `newest` is `now` and the distances to it are
    `scale` times what they were (dates of birth are dates: they stay)."""
    if isinstance(value, datetime):
        return now - (newest - value) * scale
    if isinstance(value, dict):
        return {k: _compressed(v, newest, now, scale) for k, v in value.items()}
    if isinstance(value, list):
        return [_compressed(v, newest, now, scale) for v in value]
    return value


SPAN_HOURS = float(os.environ.get("CHAOS_SPAN_HOURS", "12"))  # the runs' times fall in the last SPAN hours


def _letters(n: int) -> str:
    """n in letters (a name's part: person tokens keep only a name's letters)."""
    out = ""
    while True:
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
        if not n:
            return out


def campaign_runs(count: int, seed: int, distinct: float = 0.0) -> list:
    """`count` EMS runs: the demo's fixed-seed sample, then copies of it under new PCR and incident
    numbers (new event ids), so that a long campaign has as many distinct inputs as it asks for.
    The copies are of the sample's people, so most become updates of their referrals; `distinct`
    (CHAOS_DISTINCT, 0-1) is the share of the copies (whole copies of the sample, spread evenly) whose
    people are others (the family name marked with the copy's number): referrals grow with runs.
    The sample is dated 2025 over 6.5 months; its times are moved into the last SPAN_HOURS (12 h), the
    newest now, as if the edges had just received a day shift's runs. Spread over months, every referral
    would reach its recipient long past its 24 h accept deadline (counted from the run's time: the sent
    status carries the run's occurred_at) and the deadline sweep cancels and escalates nearly all of them
    within a minute, before any provider could answer. The campaign keeps episodes for 365 days."""
    import uuid

    base = sample_runs(min(count, 1000), seed=seed)
    newest = max(run.envelope.ingested_at for run in base)
    oldest = min(min(run.envelope.ingested_at, run.envelope.occurred_at) for run in base)
    now, scale = datetime.now(timezone.utc), SPAN_HOURS * 3600 / max(1.0, (newest - oldest).total_seconds())
    base = [type(run).model_validate(_compressed(run.model_dump(), newest, now, scale)) for run in base]
    runs = list(base)
    for i in range(len(base), count):
        run = base[i % len(base)]
        tag = f"c{i}"
        generation = i // len(base)
        if distinct and int((generation + 1) * distinct) > int(generation * distinct) and run.patient.family:
            # this copy of the sample is of other people: the same recurrences among them, new referrals
            run = run.model_copy(update={"patient": run.patient.model_copy(update={
                "family": f"{run.patient.family}x{_letters(generation)}"})})
        runs.append(run.model_copy(update={
            "pcr_number": f"{run.pcr_number}-{tag}", "pcr_uuid": f"{run.pcr_uuid}-{tag}" if run.pcr_uuid else "",
            "key": run.key.model_copy(update={"incident_number": f"{run.key.incident_number}-{tag}"}),
            "envelope": run.envelope.model_copy(update={
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run.envelope.event_id}/{tag}")),
                "source_record_id": f"{run.envelope.source_record_id}-{tag}"})}))
    return runs


def _also_over_mllp(path: Path, org: str) -> None:
    """`org` gets the MLLP receiver too (a second recipient behind it; MSH-6 tells them apart): it is one
    that Part 2 programmes' referrals go to, so the consent phase can keep its sends waiting."""
    bundle = json.loads(path.read_text())
    endpoints = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Endpoint"]
    mllp = next(e for e in endpoints if e["connectionType"]["code"] == "hl7v2-mllp")
    for endpoint in endpoints:
        if endpoint["managingOrganization"]["reference"] == f"Organization/{org}":
            endpoint.update(connectionType=mllp["connectionType"], address=mllp["address"],
                            payloadType=mllp.get("payloadType", []))
    path.write_text(json.dumps(bundle))


def _recipients(path: Path, connection: str) -> list[str]:
    """The organisations whose endpoints in the campaign's directory are of this connection type."""
    bundle = json.loads(path.read_text())
    return sorted({e["resource"]["managingOrganization"]["reference"].split("/")[-1] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Endpoint" and e["resource"]["connectionType"]["code"] == connection})


def _recipient(path: Path, connection: str) -> str:
    """The organisation whose endpoint in the campaign's directory is of this connection type."""
    return _recipients(path, connection)[0]


def _env(bootstrap: str, prefix: str, tmp_path: Path, peers, idempotent: bool, disk: Disk, breaks: tuple[str, ...]
         ) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDOFF_", "CHAOS_"))}
    mllp, direct, alerts = peers.settings.delivery.mllp, peers.settings.delivery.direct, peers.settings.alerts
    fhir = peers.settings.delivery.fhir
    if peers.fhir is not None:  # the HAPI FHIR server (CHAOS_FHIR): the workers' SMART client; its Tasks read back
        env.update(HANDOFF_DELIVERY__FHIR__CLIENT_ID=fhir.client_id, HANDOFF_DELIVERY__FHIR__TOKEN_URL=fhir.token_url,
                   HANDOFF_DELIVERY__FHIR__PRIVATE_KEY=str(fhir.private_key), HANDOFF_TRACK__SWEEP_SECONDS="5")
    hooks = (*breaks, *(() if disk.mounted else ("disk-full",)))
    if hooks:  # the test-only patches (never a switch in the product)
        env.update(PYTHONPATH=os.pathsep.join([str(HOOKS), *filter(None, [env.get("PYTHONPATH")])]),
                   CHAOS_BREAK=",".join(hooks), CHAOS_BREAK_STATE=str(tmp_path / "break.state"),
                   CHAOS_DISK_FULL=str(disk.flag))
    env.update(HANDOFF_ENVIRONMENT="test", HANDOFF_KAFKA__BOOTSTRAP=bootstrap, HANDOFF_KAFKA__TOPIC_PREFIX=prefix,
               HANDOFF_KAFKA__CONSUMER_GROUP=f"g-{prefix}", HANDOFF_STORAGE__URL=disk.url,
               HANDOFF_METRICS__PORT="0", HANDOFF_AUDIT__CHECKPOINT_EXPORT=str(tmp_path / "checkpoints.jsonl"),
               HANDOFF_ROUTING__DIRECTORY=str(peers.settings.routing.directory),
               HANDOFF_DELIVERY__MLLP__CA_BUNDLE=str(mllp.ca_bundle), HANDOFF_DELIVERY__MLLP__ACK_TIMEOUT="2",
               HANDOFF_DELIVERY__DIRECT__SMTP_PORT=str(direct.smtp_port), HANDOFF_DELIVERY__DIRECT__SENDER=direct.sender,
               HANDOFF_DELIVERY__DIRECT__SIGNING_CERT=str(direct.signing_cert),
               HANDOFF_DELIVERY__DIRECT__SIGNING_KEY=str(direct.signing_key), HANDOFF_DELIVERY__DIRECT__TIMEOUT="5",
               HANDOFF_DELIVERY__DIRECT__RECIPIENT_CERTS=json.dumps({k: str(v) for k, v in direct.recipient_certs.items()}),
               HANDOFF_ALERTS__CA_BUNDLE=str(alerts.ca_bundle),  # the co-responder team's webhook (alerts of 911 calls)
               HANDOFF_ALERTS__WEBHOOK_KEYS=json.dumps({k: v.get_secret_value() for k, v in alerts.webhook_keys.items()}),
               HANDOFF_DELIVERY__LEASE_SECONDS="5", HANDOFF_DELIVERY__FINAL_ATTEMPT="50",
               HANDOFF_DELIVERY__IDEMPOTENT="true" if idempotent else "false",
               # the retry tiers outlast a killed worker's lease (5 s): else a replay meets "in flight
               # elsewhere" in every tier and is dead-lettered (the production tiers are 1 m, 10 m, 1 h);
               # the long run sets longer last tiers (CHAOS_RETRY_DELAYS): an update waiting for a create
               # stuck behind a worker restart (20-60 s at load) outlasted 2+4+8 s and was dead-lettered
               HANDOFF_RUNTIME__RETRY_TOPIC_DELAYS_SECONDS=os.environ.get("CHAOS_RETRY_DELAYS", "[2, 4, 8]"), HANDOFF_ROUTING__EPISODE_RETENTION_DAYS="365")
    return env


class Campaign:
    def __init__(self, tmp_path: Path, runs: int, faults: int, seed: int, idempotent: bool = True,
                 breaks: tuple[str, ...] = (), kinds: tuple[str, ...] = FAULTS, consent_persons: int = 0,
                 answering: bool = True, broker=None, gap: float | None = None, fhir: bool = False) -> None:
        self.tmp, self.n, self.fault_count, self.rng, self.idempotent = tmp_path, runs, faults, random.Random(seed), idempotent
        self.seed, self.breaks, self.kinds, self.answering, self.fhir = seed, breaks, kinds, answering, fhir
        self.gap = gap or float(os.environ.get("CHAOS_FAULT_GAP", "6"))  # seconds between faults
        self.calls, self.consents, self.revoked = 0, consent_persons, []
        self.inputs: dict[str, int] = {}
        self.shared = broker  # the session's broker (its bootstrap), not this campaign's own: no broker-restart then
        assert broker is None or "broker-restart" not in kinds
        self.prefix = f"chaos{seed}" if broker is None else f"chaos{seed}{random.Random().getrandbits(32):08x}"
        self.catalogue = Catalogue(prefix=self.prefix, partitions=2)
        self.faults: list[dict] = []
        self.received_at: dict[str, float] = {}
        self.workers: list[Worker] = []
        self.spawned: list[Worker] = []
        self.parsed: dict = {}  # the held messages read so far (held_messages' memo)
        self.sent: list[feed.Batch] = []  # the batches the senders took
        self.lag, self.max_lag = 0, int(os.environ.get("CHAOS_MAX_LAG", "0"))

    def _worker(self, name: str) -> Worker:
        worker = Worker(name, self.env, self.tmp)
        self.spawned.append(worker)
        return worker

    async def _watch_peer(self) -> None:
        while True:
            now = time.time()
            for message_id in [*self.peers.mllp.held, *self.peers.smtp.held]:
                self.received_at.setdefault(message_id, now)
            await asyncio.sleep(0.2)

    async def _fault(self, kind: str) -> None:
        at, target = time.time(), ""
        if kind in ("sigkill", "sigterm", "sigkill-both"):
            chosen = range(len(self.workers)) if kind == "sigkill-both" else [self.rng.randrange(len(self.workers))]
            for i in chosen:  # both at once: the group loses every member
                if kind == "sigterm":
                    self.workers[i].proc.send_signal(signal.SIGTERM)
                else:
                    self.workers[i].proc.kill()
            for i in chosen:
                old = self.workers[i]
                try:
                    await asyncio.to_thread(old.proc.wait, 60)
                except subprocess.TimeoutExpired:  # a worker that does not stop on SIGTERM (runtime issue 13)
                    old.proc.kill()
                    await asyncio.to_thread(old.proc.wait)
                self.workers[i] = self._worker(f"w{len(self.spawned)}")  # starts while the run goes on
            target = ",".join(str(i) for i in chosen)
        elif kind == "disk-full":
            written = await asyncio.to_thread(self.disk.fill)
            target = f"{self.disk.mode}, ballast {written >> 20} MiB"
            await asyncio.sleep(5.0)
            self.disk.free()
        elif kind == "broker-restart":
            await asyncio.to_thread(self.broker.stop)
            self.broker = EmbeddedBroker(self.tmp / "broker", wipe=False)
            await asyncio.to_thread(self.broker.start)
        elif kind == "peer-busy":  # the Direct HISP answers 451 (try again later)
            self.peers.smtp.script = ["451"] * 3
            await asyncio.sleep(2.5)
        else:  # the MLLP receiver keeps the next messages and withholds the ACK, or resets the connection
            self.peers.mllp.script = ["silent" if kind == "peer-timeout" else "reset"] * 2
            await asyncio.sleep(2.5)
        self.faults.append({"kind": kind, "target": target, "at": at, "until": time.time()})

    async def run(self) -> dict:
        started = time.monotonic()
        phases: dict[str, float] = {}  # seconds each phase took (where a CI run's time goes)

        def mark(name: str) -> None:
            phases[name] = round(time.monotonic() - started - sum(phases.values()), 1)

        self.broker = None if self.shared else EmbeddedBroker(self.tmp / "broker", wipe=True)
        info = self.shared or await asyncio.to_thread(self.broker.start)
        mark("broker")
        self.bootstrap = info.bootstrap
        await create_topics(self.bootstrap, self.catalogue)
        self.disk = Disk(self.tmp, max(DISK_MIB, self.n // 25))  # ~40 KiB a run at most (the audit log is most of it)
        async with AsyncExitStack() as stack:
            stack.callback(self.disk.close)
            self.peers = await demo_peers.start(Settings(environment="test"), self.tmp / "peers", stack,
                                                fhir_server=self.fhir)
            assert not self.fhir or self.peers.fhir is not None, self.peers.lines  # asked for: it must run
            directory = Path(self.peers.settings.routing.directory)
            self.fhir_peer = None
            if self.peers.fhir is not None:
                self.fhir_peer = await stack.enter_async_context(fhirpeer.FhirPeer(
                    self.peers.settings.delivery.fhir, self.peers.fhir.base, _recipient(directory, "hl7-fhir-rest")))
            _also_over_mllp(directory, consents.ALSO_OVER_MLLP)
            self.mllp_recipient, self.direct_recipient = _recipient(directory, "hl7v2-mllp"), _recipient(directory, "direct-project")
            self.env = _env(self.bootstrap, self.prefix, self.tmp, self.peers, self.idempotent, self.disk, self.breaks)
            watcher = asyncio.create_task(self._watch_peer())
            try:
                self.workers = [self._worker("a"), self._worker("b")]
                for worker in self.workers:
                    await worker.assigned(timeout=STARTUP)
                mark("peers and workers")
                runs = campaign_runs(self.n, self.seed, float(os.environ.get("CHAOS_DISTINCT", "0")))
                self.batches = feed.plan(runs, feed.per_document())
                kinds = [self.kinds[i % len(self.kinds)] for i in range(self.fault_count)]
                self.rng.shuffle(kinds)
                mllp_orgs = _recipients(directory, "hl7v2-mllp")
                self.edges = Edges(self.tmp, self.bootstrap, self.catalogue, runs, self.disk.url, [consents.DEFLECTION],
                                   providers=mllp_orgs)
                self.staff = providers.Silent()
                if self.answering:
                    self.staff = providers.InboxStaff(self.tmp, self.env, _recipients(directory, "handoff-inbox"))
                    stack.callback(self.staff.stop)
                    await self.staff.start(timeout=STARTUP)
                mark("runs and web service")
                async with self.edges.running():
                    self.ehr = providers.Silent()
                    self.fhir_staff = providers.Silent()
                    if self.answering:
                        self.ehr = providers.MllpStaff(self.edges, self.peers.mllp, mllp_orgs, self.received_at)
                        if self.fhir_peer is not None:
                            self.fhir_staff = fhirpeer.FhirStaff(self.fhir_peer, self.disk.url)
                    answering = asyncio.create_task(self._answer())
                    lag = asyncio.create_task(self._watch_lag())
                    feeding = asyncio.create_task(feed.paced(self.batches, self.fault_count * self.gap, feed.senders(),
                                                             self._send, self._gate, feed.budget()))
                    for kind in kinds:  # while the inputs come in and the workers work
                        await asyncio.sleep(self.gap)
                        await self._fault(kind)
                    await feeding
                    lag.cancel()
                    mark("inputs and faults")
                    calm = main_calm = time.time()
                    for worker in self.workers:
                        await worker.assigned(timeout=STARTUP)
                    drained = main_drained = await self._drain(timeout=float(
                        os.environ.get("CHAOS_DRAIN_TIMEOUT", max(300.0, self.n / 4))))
                    mark("drain")
                    if self.consents:  # then the MLLP recipient away while consents come and go (a fault too)
                        at = time.time()
                        self.revoked = await consents.revoke_while_pending(self, runs, self.consents)
                        calm = time.time()
                        self.faults.append({"kind": "peer-down", "target": f"{len(self.revoked)} consents revoked "
                                            "while their sends waited", "at": at, "until": calm})
                        drained = await self._drain()
                        mark("consent phase")
                    answering.cancel()
                dump = await collect(self.tmp / "dump", self.bootstrap, self.catalogue, self.disk.url,
                                     {self.mllp_recipient: self.peers.mllp, self.direct_recipient: self.peers.smtp},
                                     self.received_at, self.faults, self.fhir_peer)
                consents.write(dump, self.revoked)
                providers.write(dump, self.staff, self.ehr, self.fhir_staff)
                _write_alerts(dump, self.peers.webhooks, self.edges.expected_alerts)
                mark("dump")
                exits = [w.proc.poll() for w in self.workers]
            finally:
                watcher.cancel()
                for worker in self.spawned:
                    worker.stop()
                if self.broker is not None:
                    await asyncio.to_thread(self.broker.stop)
        return {"dump": dump, "runs": len(runs), "faults": len(self.faults), "calm": calm, "drained": drained,
                "main_drain": main_drained - main_calm,
                "disk": self.disk.mode, "calls": self.calls,
                "alerts": sum(len(w.accepted) for w in self.peers.webhooks.values()), "answers": dict(self.edges.answers),
                "inputs": dict(self.inputs),
                "replies": len(self.staff.replies) + len(self.ehr.replies) + len(self.fhir_staff.replies),
                "views": len(self.staff.views), "web errors": dict(self.staff.errors) | {
                    f"fhir {k}": v for k, v in self.fhir_staff.errors.items()},
                "bit": _bites(self.tmp),
                "seconds": time.monotonic() - started, "phases": phases, "exits": exits}

    async def _send(self, batch: feed.Batch) -> None:
        """One batch of the plan through its edge; a 911 call's EIDO versions at every tenth chunk, a CAD
        export and officers' field referrals at every tenth from the fifth."""
        self.sent.append(batch)  # expected from here on (a batch half taken when a failure stops the run is too)
        await (self.edges.nemsis(batch.runs) if batch.kind == "nemsis" else self.edges.hl7(batch.runs))
        self._count("EMS runs (NEMSIS/HTTP)" if batch.kind == "nemsis" else "EMS runs (HL7/MLLP)", len(batch.runs))
        for j in batch.chunks:
            if j % 10 == 0:
                self.calls += await self.edges.calls(j)
                self._count("EIDO call versions", 4)
            if j % 10 == 5:
                self._count("CAD CSV rows", await self.edges.cad(j))
                self._count("field referrals (police)", await self.edges.field(j))

    async def _gate(self) -> None:
        """Backpressure (CHAOS_MAX_LAG): wait while the workers' group has that many messages to read."""
        while self.max_lag and self.lag > self.max_lag:
            await asyncio.sleep(0.5)

    async def _watch_lag(self) -> None:
        """How many messages the workers' group has still to read on the topics its stages read, every second
        (kept as it was while the broker is away)."""
        if not self.max_lag:
            return
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        group, topics = f"g-{self.prefix}", sorted({s.source for s in STAGES})
        tps = [TopicPartition(self.catalogue[t].full_name, p) for t in topics for p in range(self.catalogue[t].partitions)]
        while True:
            admin, ends = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap), AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=None)
            try:
                await admin.start()
                await ends.start()
                while True:
                    end = await ends.end_offsets(tps)
                    done = await admin.list_consumer_group_offsets(group)
                    self.lag = sum(end[tp] - (done[tp].offset if tp in done and done[tp].offset >= 0 else 0)
                                   for tp in tps)
                    await asyncio.sleep(1.0)
            except Exception:  # noqa: BLE001 (the broker restarting: a new client in a moment)
                await asyncio.sleep(2.0)
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()
                with contextlib.suppress(Exception):
                    await ends.stop()

    def _count(self, what: str, n: int) -> None:
        self.inputs[what] = self.inputs.get(what, 0) + n

    async def _answer(self) -> None:
        """The providers answer what they hold, round after round, while the campaign goes on."""
        rounds = 0
        while True:
            try:
                await self.staff.round()
                await self.ehr.round()
                if rounds % 5 == 0:  # its every Task in one search: not every second
                    await self.fhir_staff.round()
                rounds += 1
            except Exception as e:  # noqa: BLE001 (a provider's bad moment is counted, the campaign goes on)
                self.staff.errors[f"round {type(e).__name__}: {e}"[:120]] = self.staff.errors.get(
                    f"round {type(e).__name__}: {e}"[:120], 0) + 1
            await asyncio.sleep(1.0)

    async def _drain(self, timeout: float = 300.0) -> float:
        """Until every run is detected, every create the outbox holds is held by its recipient, and the
        workers' group has committed the end of every topic a stage reads (nothing left in flight). The
        topics are read on from where the last check left them (a long run's outbox holds tens of thousands)."""
        want, detected, creates = feed.source_ids(self.sent), set(), set()
        deadline, stable = time.monotonic() + timeout, 0
        async with Tail(self.bootstrap, self.catalogue["detection"]) as detections, \
                Tail(self.bootstrap, self.catalogue["delivery"]) as deliveries:
            while time.monotonic() < deadline:
                detected |= {d.subject.record_id for d in await detections.read()}
                creates |= {(d.referral_id, d.recipient_id) for d in await deliveries.read() if d.action.value == "create"}
                cancelled = {x["referral_id"] for x in self.revoked}  # the re-check must stop these
                held = {(m["referral_id"], m["recipient_id"]) for m in
                        held_messages(self.mllp_recipient, self.peers.mllp, {}, self.parsed) + held_messages(
                            self.direct_recipient, self.peers.smtp, {}, self.parsed)} | await asyncio.to_thread(self._inbox)
                if self.fhir_peer is not None:
                    try:
                        held |= {(rid, self.fhir_peer.recipient_id) for rid in await self.fhir_peer.tasks()}
                    except httpx.HTTPError:  # the server's bad moment: the next check
                        stable = 0
                        await asyncio.sleep(2.0)
                        continue
                answering = self.staff.pending(held) + self.ehr.pending(held) + self.fhir_staff.pending(held)
                live = {c for c in creates if c[0] not in cancelled}
                if want <= detected and live and live <= held and not answering:
                    stable += 1
                    if stable >= 3:
                        topics = sorted({self.catalogue[s.source].full_name for s in STAGES})
                        try:
                            first = await settled(self.bootstrap, f"g-{self.prefix}", topics,
                                                  timeout=max(1.0, deadline - time.monotonic()))
                            return time.time() - (time.monotonic() - first)  # settled's clock is monotonic
                        except TimeoutError:
                            return time.time()
                else:
                    stable = 0
                await asyncio.sleep(2.0)
        return time.time()

    def _inbox(self) -> set[tuple[str, str]]:
        store = open_store(self.disk.url)
        try:
            with store.transaction() as tx:
                return {(x["referral_id"], x["recipient_id"])
                        for x in tx.fetchall("SELECT referral_id, recipient_id FROM inbox_item")}
        except Exception:  # the table is not there before the first worker migrated
            return set()
        finally:
            store.close()


def _write_alerts(dump: Path, webhooks: dict, expected: list[dict]) -> None:
    """alerts.jsonl: what each co-responder team's webhook accepted (its message id names the alert,
    version and action); expected_alerts.jsonl: the 911 calls the campaign made and what each must raise."""
    held = []
    for team, peer in webhooks.items():
        for got in peer.accepted:
            body = json.loads(got.body)
            held.append({"team": team, "message_id": got.message_id, "action": got.message_id.rsplit(":", 1)[-1],
                         "incident_number": body.get("incident_number", ""), "version": body.get("version"),
                         "at": got.at, "body": body})
    (dump / "alerts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in held))
    (dump / "expected_alerts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in expected))


def _bites(directory: Path) -> dict[str, int]:
    """Evidence that the faults bit: the workers' log lines on an unusable database (the full disk),
    and the delivery attempts the audit log records as failed, retried or ambiguous (the peers)."""
    found = {"StorageUnavailable log lines": sum(log.read_text(errors="replace").count("StorageUnavailable")
                                                 for log in directory.glob("*.log"))}
    for line in (directory / "dump" / "audit.jsonl").read_text().splitlines():
        audit = json.loads(line)
        if audit["kind"] == "delivery-attempt" and audit["outcome"] in ("failure", "retry", "ambiguous"):
            found[f"delivery attempts {audit['outcome']}"] = found.get(f"delivery attempts {audit['outcome']}", 0) + 1
    return found


def _checker_cli(dump: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.chaos.checker", str(dump)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


async def _campaign(tmp_path: Path, runs: int, faults: int, seed: int, consent_persons: int = CONSENT_RUNS,
                    fhir: bool = False) -> None:
    result = await Campaign(tmp_path, runs, faults, seed, consent_persons=consent_persons, fhir=fhir).run()
    done = _checker_cli(result["dump"])
    events = sum(result["inputs"].values()) + result["replies"]
    print(f"\ncampaign: {events} events through the edges ({result['inputs']}, {result['replies']} provider answers), "
          f"{result['views']} referral views; {result['faults']} faults, {result['seconds']:.0f} s in all; "
          f"{result['alerts']} alerts at the webhook; drained "
          f"{result['main_drain']:.1f} s after the last fault of the run (settled: every topic committed), "
          f"{result['drained'] - result['calm']:.1f} s after the consent phase; disk: {result['disk']}\n"
          f"edge answers: {result['answers']}\nweb service misses (retried): {result['web errors']}\n"
          f"fault evidence in worker logs: {result['bit']}\nphases (s): {result['phases']}\n{done.stdout}")
    assert result["exits"] == [None, None]
    report = check(result["dump"])
    assert report.expected > 0 and report.held >= report.expected
    # the closed loop ran: providers answered through both reply edges, people viewed referrals, and no
    # deadline passed (the runs span 12 h, the first deadline is 24 h): nothing the sweep had to cancel
    assert {k.split()[0] for k in report.replies} == {"inbox", "mllp", *(("fhir",) if fhir else ())} \
        and report.views > 0, done.stdout
    assert report.swept == 0, done.stdout
    assert report.violations == 0, done.stdout
    for what, doctor in DOCTORS.items():  # the same real dump, broken three ways: the checker must fail
        doctored = _checker_cli(doctor(result["dump"], tmp_path / what.replace(" ", "-")))
        assert doctored.returncode == 1, f"{what}: {doctored.stdout}"
    assert done.returncode == 0, done.stdout


# This campaign found, on a clean clone, one referral delivered twice and 19 detections dead-lettered
# "source record not in the episode store" after the faults: the episode purge at each worker start
# (fixed, migration 0019; see tests/integration/test_pipeline_kill.py). Its long variant then found two
# creates of one referral and lost result records (fixed, migration 0023). With providers answering (round 5)
# it found answers lost when they overtook the deliver stage's `requested` status (track refused them as
# "did not receive"; fixed: track parks them, migration 0030), and referrals cancelled by the deadline sweep
# within a minute (the `requested` status carried the EMS run's time; fixed: dated at the acknowledgement).
@pytest.mark.timeout(900)
@pytest.mark.kafka
async def test_fault_campaign(tmp_path):
    await _campaign(tmp_path, int(os.environ.get("CHAOS_RUNS", "120")), int(os.environ.get("CHAOS_FAULTS", "8")),
                    seed=28)


@pytest.mark.timeout(6 * 3600)
@pytest.mark.long
@pytest.mark.kafka
async def test_fault_campaign_long(tmp_path):
    await _campaign(tmp_path, int(os.environ.get("CHAOS_LONG_RUNS", "100000")),
                    int(os.environ.get("CHAOS_LONG_FAULTS", "100")), seed=int(os.environ.get("SEED", "2828")),
                    consent_persons=int(os.environ.get("CHAOS_LONG_CONSENTS", str(CONSENT_RUNS))),
                    fhir=os.environ.get("CHAOS_FHIR", "0") == "1")


# The checker shown to fail on REAL runs: the same campaign with a deliberate break in the workers (the
# product's own setting for idempotency; a test-only patch from tests/chaos/hooks for the audit record). Each
# named count must be as stated and the checker's command must exit 1. Each on the session's broker, without answering providers (their counts need no answers), 30 runs.
BROKEN = {
    # a resend after the withheld ACK / the reset goes out under a new MSH-10: a second create at the recipient
    # (and every message under an id no decision names: without a permit and without an audit record)
    # (four faults, not two: with two, a clean CI run once saw no resend land during a fault, and 0 duplicates)
    "idempotency off": (dict(idempotent=False, kinds=("peer-timeout", "peer-reset") * 2),
                        {"duplicated at a recipient": lambda n: n > 0,
                         "delivered without a permitting decision": lambda n: n > 0}),
    # exactly one delivery-result record left out of the audit sink: exactly one disclosure without one
    "one audit record suppressed": (dict(breaks=("drop-audit",), kinds=("sigkill", "peer-timeout")),
                                    {"disclosures without an audit record": lambda n: n == 1}),
    # the consent phase's revocations come while the sends wait; without the re-check they go out anyway
    # (its fault is a cheap one: the consent phase is what bites; a worker restart would only cost time)
    "consent re-check skipped": (dict(breaks=("skip-recheck",), kinds=("peer-busy",), consent_persons=CONSENT_RUNS),
                                 {"delivered without a permitting decision": lambda n: n > 0}),
}


def _count(stdout: str, label: str) -> int:
    return int(next(line for line in stdout.splitlines() if line.startswith(label + ":")).split(":")[1])


@pytest.mark.timeout(600)
@pytest.mark.kafka
@pytest.mark.parametrize("what", sorted(BROKEN))
async def test_the_checker_fails_on_a_real_broken_run(kafka, tmp_path, what):
    options, named = BROKEN[what]
    runs = int(os.environ.get("CHAOS_BROKEN_RUNS", "30"))
    result = await Campaign(tmp_path, runs, len(options["kinds"]), seed=29, answering=False, broker=kafka, gap=3.0,
                            **options).run()
    done = _checker_cli(result["dump"])
    print(f"\nbroken campaign ({what}): {result['runs']} runs, {result['faults']} faults, "
          f"{result['seconds']:.0f} s (phases: {result['phases']})\n{done.stdout}")
    assert done.returncode == 1, done.stdout
    for label, holds in named.items():
        assert holds(_count(done.stdout, label)), f"{label}: {done.stdout}"
