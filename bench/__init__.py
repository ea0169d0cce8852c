"""Benchmarks (`make bench`): ratios against a raw-Kafka baseline measured in the same run."""


def alone(name: str, rows) -> None:
    """`python -m bench.<name>`: one benchmark on its own broker; `rows(bootstrap)` is a coroutine of rows."""
    import asyncio
    import os
    from pathlib import Path

    from pipeline.kafka.broker import EmbeddedBroker

    broker = EmbeddedBroker(Path(__file__).resolve().parent.parent / ".run" / f"bench-{name}-broker-{os.getpid()}")
    info = broker.start()
    try:
        for row in asyncio.run(rows(info.bootstrap)):
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    finally:
        broker.stop()
