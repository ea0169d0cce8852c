"""The deliver stage in a child process, for the kill-between-send-and-commit test
(tests/integration/test_delivery_kill.py).

    python -m tests.support.deliver_child CONFIG.json

CONFIG: {"db": URL, "deliveries": [PATH, ...] (Avro single-object `delivery` values),
"delivery": {the settings' delivery section}, "kill": true|false}. Runs the deliver stage's body
(pipeline.app.deliver: consent re-read, ledger claim, attempt audit, connector, ledger settle)
for every delivery at once, with the connectors built from the settings. With "kill", each
connector's send, once it has returned, waits for the others' and then the process SIGKILLs
itself: every message went out, and neither the ledger nor a consumer offset heard of it.
Without, it exits 0 once every delivery has settled.
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
from pipeline.app import Deps, deliver
from pipeline.clock import SystemClock
from pipeline.settings import Settings
from pipeline.stage import Context
from pipeline.storage import open_store
from pipeline.topics import Catalogue


class KillAfterSend:
    def __init__(self, inner, barrier: asyncio.Barrier) -> None:
        self.inner, self.barrier, self.name = inner, barrier, inner.name

    async def deliver(self, delivery):
        receipt = await self.inner.deliver(delivery)
        await self.barrier.wait()
        os.kill(os.getpid(), signal.SIGKILL)
        return receipt

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main(config: dict) -> None:
    settings = Settings(environment="test", delivery=config["delivery"])
    catalogue = Catalogue("kill")
    store = open_store(config["db"])
    deliveries = [catalogue["delivery"].value.decode(Path(p).read_bytes()) for p in config["deliveries"]]
    connectors = registry().build(settings, store)
    if config["kill"]:
        barrier = asyncio.Barrier(len(deliveries))
        connectors = {kind: KillAfterSend(c, barrier) for kind, c in connectors.items()}
    async def no_audits(audits) -> None:
        return None

    deps = Deps.build(settings, catalogue, store, connectors, SystemClock(), audit_now=no_audits)

    async def one(d: r.Delivery) -> None:
        ctx = Context("deliver", r.SourceRef(topic="delivery", record_id=d.delivery_id), SystemClock(), "kill", 0, 0)
        await deliver(deps, d, ctx)

    await asyncio.gather(*(one(d) for d in deliveries))
    for c in connectors.values():
        await c.aclose()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
