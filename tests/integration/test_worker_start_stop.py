"""SIGTERM at every point of a `handoff worker`'s start-up, on the real broker: while it builds its
stages, while faust starts and joins the group, and once partitions are assigned but before the
start has finished (the moment that hung a rolling restart). Each is a graceful stop: exit 0
within the stop bound, no traceback, no agent crashing on the way out."""
from __future__ import annotations

import signal
import time

import pytest

from tests.integration.test_worker import Worker, worker_env, _seen

pytestmark = pytest.mark.kafka

POINTS = ["database", "joining consumer group", "consuming:"]  # lines the worker logs on its way up


@pytest.mark.parametrize("point", POINTS)
async def test_sigterm_during_start_up_is_a_graceful_stop(kafka, catalogue, tmp_path, point):
    env = worker_env(kafka, catalogue, tmp_path)
    worker = Worker("w", env, tmp_path)
    try:
        await _seen(worker, point)
        stopping = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.proc.wait(45)  # the worker's own bound is 30 s (runtime.stop_grace_seconds)
    finally:
        worker.stop()
    text = worker.text()
    print(f"\nSIGTERM after '{point}': exit {code} in {time.monotonic() - stopping:.1f}s")
    assert code == 0, text
    assert "SIGTERM: stopping" in text and "Traceback" not in text and "Crashed" not in text, text
