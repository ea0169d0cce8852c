"""Shared fixtures: one real Kafka broker per test session, a fresh topic prefix per test."""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def kafka(request):
    """A real Apache Kafka broker (embedded default), started once for the session."""
    from pipeline.kafka.broker import EmbeddedBroker

    broker = EmbeddedBroker(ROOT / ".run" / f"test-broker-{os.getpid()}")
    info = broker.start()
    # printed once, in the summary at the end (pytest_terminal_summary below)
    request.config._handoff_broker_line = (f"Kafka {info.version} broker at {info.bootstrap}: ready in "
                                           f"{info.start_seconds:.1f}s, RSS {info.rss_mib:.0f} MiB (pid {info.pid})")
    yield info
    broker.stop()
    import shutil
    shutil.rmtree(broker.run_dir, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    line = getattr(config, "_handoff_broker_line", None)
    if line:
        terminalreporter.write_line(line)


@pytest.fixture
def catalogue(kafka):
    """The topic catalogue under a prefix unique to this test, with its topics created."""
    from pipeline.topics import Catalogue, create_topics

    cat = Catalogue(prefix=f"t{uuid.uuid4().hex[:10]}", partitions=2)
    asyncio.run(create_topics(kafka.bootstrap, cat))
    return cat


@pytest.fixture
def shared():
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (a user's own clone): the shared test data is not here")
    return SHARED
