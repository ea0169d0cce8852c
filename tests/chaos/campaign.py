"""One fault campaign, as tests/chaos/test_campaign.py runs it: `Campaign(tmp_path, runs, faults,
seed, ...).run()` starts a broker (or takes the session's), the local peers and two `handoff worker`
processes, sends the runs (tests/chaos/sample.py) through the edges (tests/chaos/feed.py) while a
seeded schedule of FAULTS goes off every CHAOS_FAULT_GAP seconds, drains, runs the consent phase,
writes the dump for tests/chaos/checker.py, and returns what the test prints and asserts on.
`checker_cli(dump)` runs the checker's command on a dump.
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
from pathlib import Path

import httpx

from connectors.peers import demo as demo_peers
from bench.pipeline import settled
from pipeline.app import STAGES
from pipeline.kafka.broker import EmbeddedBroker
from pipeline.settings import Settings
from pipeline.storage import open_store
from pipeline.topics import Catalogue, create_topics
from tests.chaos.collect import Tail, collect, held_messages
from tests.chaos import consents, feed, fhirpeer, oracle, providers
from tests.chaos.disk import Disk
from tests.chaos.edges import Edges
from tests.chaos.sample import also_over_mllp, campaign_runs, recipient, recipients, worker_env
from tests.conftest import ROOT
from tests.integration.test_worker import Worker

FAULTS = ("sigkill", "sigterm", "sigkill-both", "broker-restart", "disk-full", "peer-timeout", "peer-reset", "peer-busy")
CONSENT_RUNS = 20  # detected runs sent again from an unregistered (Part 2) programme: holds, consents, revocations
STARTUP = 300.0  # a worker's start on a loaded 2-core machine (ICD-10-CM alone took 57 s once)
DISK_MIB = int(os.environ.get("CHAOS_DISK_MIB", "256"))  # the database's own file system (tmpfs), filled by disk-full


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
                    self.peers.settings.delivery.fhir, self.peers.fhir.base, recipient(directory, "hl7-fhir-rest")))
            also_over_mllp(directory, consents.ALSO_OVER_MLLP)
            self.mllp_recipient, self.direct_recipient = recipient(directory, "hl7v2-mllp"), recipient(directory, "direct-project")
            self.env = worker_env(self.bootstrap, self.prefix, self.tmp, self.peers, self.idempotent, self.disk, self.breaks)
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
                mllp_orgs = recipients(directory, "hl7v2-mllp")
                self.edges = Edges(self.tmp, self.bootstrap, self.catalogue, runs, self.disk.url, [consents.DEFLECTION],
                                   providers=mllp_orgs)
                self.staff = providers.Silent()
                if self.answering:
                    self.staff = providers.InboxStaff(self.tmp, self.env, recipients(directory, "handoff-inbox"))
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
                oracle.write(dump, self.edges.must_refer)
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


def checker_cli(dump: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.chaos.checker", str(dump)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
