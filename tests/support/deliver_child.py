"""The deliver stage in a child process, for the kill-between-send-and-commit test
(tests/integration/test_delivery_kill.py).

    python -m tests.support.deliver_child CONFIG.json

CONFIG: {"db": URL, "deliveries": [PATH, ...] (Avro single-object `delivery` values),
"delivery": {the settings' delivery section}, "kill": true|false, "audits": PATH}. Runs the deliver
stage's batch form (pipeline.app.delivers: consent re-read and ledger claims, attempt audits, the
connectors, ledger settlings) over every delivery as one batch, with the connectors built from the
settings. Audit records go to the file `audits` (one JSON line each, flushed and synced before the
call returns), as the stage's `audit_now` and its result writes would put them on the audit topic.
With "kill", once the last send has returned the process SIGKILLs itself: every message went out,
and neither the ledger nor a consumer offset heard of it. Without, it exits 0 once every delivery
has settled and its results are written.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from connectors.delivery import registry
from pipeline import records as r
from pipeline.app import Deps, delivers
from pipeline.clock import SystemClock
from pipeline.settings import Settings
from pipeline.stage import Context
from pipeline.storage import open_store
from pipeline.topics import Catalogue


class KillAfterSend:
    """Counts the sends that returned; the last one kills the process before anything settles."""

    def __init__(self, inner, sent: list, total: int) -> None:
        self.inner, self.sent, self.total, self.name = inner, sent, total, inner.name
        self.per_endpoint = getattr(inner, "per_endpoint", None)

    async def deliver(self, delivery):
        receipt = await self.inner.deliver(delivery)
        self.sent.append(delivery.delivery_id)
        if len(self.sent) == self.total:
            os.kill(os.getpid(), signal.SIGKILL)
        return receipt

    async def aclose(self) -> None:
        await self.inner.aclose()


class AuditFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def __call__(self, audits) -> None:
        with self.path.open("a") as f:
            for a in audits:
                f.write(a.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())


async def main(config: dict) -> None:
    settings = Settings(environment="test", delivery=config["delivery"])
    catalogue = Catalogue("kill")
    store = open_store(config["db"])
    deliveries = [catalogue["delivery"].value.decode(Path(p).read_bytes()) for p in config["deliveries"]]
    connectors = registry().build(settings, store)
    if config["kill"]:
        sent: list[str] = []
        connectors = {kind: KillAfterSend(c, sent, len(deliveries)) for kind, c in connectors.items()}
    audits = AuditFile(Path(config["audits"]))
    deps = Deps.build(settings, catalogue, store, connectors, SystemClock(), audit_now=audits)
    batch = [(d, Context("deliver", r.SourceRef(topic="delivery", record_id=d.delivery_id), SystemClock(), "kill", 0,
                         n)) for n, d in enumerate(deliveries)]
    for (d, _), done in zip(batch, await delivers(deps, batch)):
        if isinstance(done, BaseException):
            raise RuntimeError(f"{d.delivery_id}: {type(done).__name__}: {done}")
        await audits(done.audits)  # the stage writes the results' audit records with its outputs
    for c in connectors.values():
        await c.aclose()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
