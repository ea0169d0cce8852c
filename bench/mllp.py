"""MLLP listener throughput with ACK after commit (acks=all), one process, one event loop.

`run(bootstrap)` creates a fresh topic prefix on the given broker, makes throw-away
certificates, starts the real listener (TLS, client certificates) and drives it with real
MLLP clients in the same event loop, so the number is for one core doing both sides (the
clients' TLS and framing included). Each client sends a message and waits for its ACK
before the next (HL7 original mode); rows for 1 and 8 concurrent connections.
`.venv/bin/python -m bench.mllp` starts its own broker and prints the rows.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from pipeline.kafka.producer import ProducerSink
from pipeline.topics import Catalogue, create_topics
from tests.support.edges import MllpClient, edge_settings, make_certs, msa, running_mllp
from tests.unit.connectors import hl7_gen


async def _drive(address, certs, connections: int, per_connection: int, seed: int) -> tuple[float, int]:
    clients = [await MllpClient.connect(address, certs, "ems-012") for _ in range(connections)]
    messages = [[hl7_gen.oru(seed + c * per_connection + i, control_id=f"B{seed}-{c}-{i}")
                 for i in range(per_connection)] for c in range(connections)]
    accepted = 0

    async def one(client: MllpClient, batch: list[bytes]) -> None:
        nonlocal accepted
        for message in batch:
            ack = await client.call(message)
            if ack is not None and msa(ack)[1] == "AA":
                accepted += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(c, b) for c, b in zip(clients, messages)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    return elapsed, accepted


async def run(bootstrap: str, n: int = 1000) -> list[dict]:
    catalogue = Catalogue(prefix=f"bench{uuid.uuid4().hex[:8]}", partitions=6)
    await create_topics(bootstrap, catalogue)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certs(Path(tmp))
        settings = edge_settings(certs, catalogue.prefix, mllp_frame_timeout=30.0, mllp_idle_timeout=60.0)
        async with ProducerSink(bootstrap) as sink, running_mllp(settings, sink, catalogue) as (address, _):
            await _drive(address, certs, 1, 20, seed=10**6)  # warm up: metadata, connections, JIT-less caches
            for connections in (1, 8):
                cpu = time.process_time()
                elapsed, accepted = await _drive(address, certs, connections, n // connections, seed=connections)
                cpu = time.process_time() - cpu
                rows.append({"name": f"mllp ack-after-commit ({connections} connection{'s' * (connections > 1)})",
                             "records_per_s": round(accepted / elapsed, 1), "messages": accepted,
                             "ms_per_message": round(elapsed / accepted * 1000 * connections, 2),
                             "cpu_ms_per_message": round(cpu / accepted * 1000, 2)})
    return rows


def main() -> None:
    import os

    from pipeline.kafka.broker import EmbeddedBroker

    root = Path(__file__).resolve().parent.parent
    broker = EmbeddedBroker(root / ".run" / f"bench-mllp-broker-{os.getpid()}")
    info = broker.start()
    try:
        for row in asyncio.run(run(info.bootstrap, int(os.environ.get("BENCH_N", "1000")))):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
