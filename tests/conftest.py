"""Shared fixtures: one real Kafka broker per test session, a fresh topic prefix per test."""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# Hypothesis: `ci` (the default, and what CI=true runs) is derandomised with no example database, so
# a run is the same on every machine and a failure reproduces from the log; `long` explores with fresh
# random examples and more of them (`make test-long` sets HYPOTHESIS_PROFILE=long). A test's own
# @settings still sets its example count; the profile decides randomness and the database.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("long", derandomize=False, database=None, deadline=None, print_blob=True,
                                     max_examples=2000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


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
    for name in ("_handoff_broker_line", "_handoff_fhir_line"):
        line = getattr(config, name, None)
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


@pytest.fixture(scope="session")
def fhir_server(request, tmp_path_factory):
    """A real HAPI FHIR R4 server (connectors/peers/fhir.py), started once for the session, with
    $process-message and a SMART token endpoint that knows an RSA (RS384) and an EC P-384 (ES384)
    client key, both made here. Cannot run here: skipped with the reason (failed under CI=true)."""
    from types import SimpleNamespace

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from connectors.peers.fhir import FhirServerProcess, Unavailable

    keys = tmp_path_factory.mktemp("smart-keys")
    paths = {}
    for name, key in (("rsa", rsa.generate_private_key(65537, 2048)), ("ec", ec.generate_private_key(ec.SECP384R1()))):
        (keys / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        (keys / f"{name}.pub").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        paths[name] = keys / f"{name}.key"
    try:
        server = FhirServerProcess.start(ROOT / ".run" / f"test-fhir-{os.getpid()}", client_id="handoff-test",
                                         client_keys=[keys / "rsa.pub", keys / "ec.pub"], process_message=True)
    except Unavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the HAPI FHIR server cannot run in CI: {e}", pytrace=False)
        pytest.skip(f"the HAPI FHIR server cannot run here: {e}")
    request.config._handoff_fhir_line = (f"HAPI FHIR server at {server.base}: ready in {server.start_seconds:.1f}s "
                                         f"(pid {server.process.pid})")
    yield SimpleNamespace(server=server, client_id="handoff-test", rsa_key=paths["rsa"], ec_key=paths["ec"])
    server.stop()
