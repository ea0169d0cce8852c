"""The topology table: every row is consistent with the catalogue; `handoff topology` prints it."""
from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
import sys
from pathlib import Path

from pipeline.app import PERIODIC, STAGES
from pipeline.topics import Catalogue

HANDOFF = str(Path(sys.executable).parent / "handoff")


def handoff(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return subprocess.run([HANDOFF, *args], capture_output=True, text=True, env={**clean, **env}, timeout=60)


def test_every_row_names_catalogued_topics_and_is_unique():
    catalogue = Catalogue()
    names = [row.name for row in (*STAGES, *PERIODIC)]
    assert len(names) == len(set(names))
    for stage in STAGES:
        assert catalogue[stage.source].dead_letter, f"{stage.name}: its source has no dead-letter topic"
        for out in stage.outputs:
            assert out in catalogue.topics, f"{stage.name} declares {out}, not catalogued"
    for task in PERIODIC:
        assert all(out in catalogue.topics for out in task.outputs)
    consumed = {s.source for s in STAGES}
    assert {"ems.run", "dispatch.incident", "field.referral", "referral.request", "consent", "consent.pending",
            "delivery", "referral.status", "audit"} <= consumed


def test_handoff_topology_prints_the_table():
    done = handoff("topology")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for stage in STAGES:
        fn = stage.fn
        assert f"{stage.name} ─► {', '.join(stage.outputs) or '(storage)'}" in out
        assert f"{fn.__module__}.{fn.__name__}; on error: {stage.on_error.value}" in out
    for task in PERIODIC:
        assert f"{task.name} ─► {', '.join(task.outputs) or '(storage)'}" in out
    assert out.index("ems.run\n") < out.index("route-decide-render") < out.index("deliver ─►")


def test_worker_refuses_to_start_without_a_broker_or_with_an_unknown_stage():
    done = handoff("worker")
    assert done.returncode == 4 and "HANDOFF_KAFKA__BOOTSTRAP" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    done = handoff("worker", "--stages", "classify-run,dispatch", HANDOFF_KAFKA__BOOTSTRAP="127.0.0.1:9")
    assert done.returncode == 2 and "no stage dispatch" in done.stderr and "Traceback" not in done.stderr


def test_a_worker_waiting_for_its_broker_says_so_and_stops_on_sigterm(tmp_path):
    import signal
    import time

    from pipeline.kafka.broker import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_KAFKA__BOOTSTRAP=f"127.0.0.1:{free_port()}",  # nobody listens there
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'h.db'}", HANDOFF_METRICS__PORT="0")
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([HANDOFF, "worker"], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while "not ready: waiting for the broker" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        # alive while it waits (liveness holds through a long outage), not ready, and says what for
        url = re.search(r"health on (http://\S+)/healthz", log.read_text())[1]
        assert _get(f"{url}/healthz") == (200, "ok\n")
        status, body = _get(f"{url}/readyz")
        assert status == 503 and "waiting for broker, database, consumer-group" in body, body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "SIGTERM: stopping" in log.read_text() and "Traceback" not in log.read_text()
    assert not (tmp_path / "h.db").exists()  # it never got as far as the database


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
