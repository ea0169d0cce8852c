"""`handoff run` (what `make run` calls) as a user starts it: embedded broker, sample, Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka


HANDOFF = str(Path(sys.executable).parent / "handoff")


def demo_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_KAFKA__EMBEDDED_RUN_DIR=str(tmp_path / "broker"),
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}",  # the service's: the demo leaves it
               HANDOFF_RUNTIME__DEMO_DATABASE=str(tmp_path / "demo.db"), HANDOFF_METRICS__PORT="0")
    return env


def start_demo(tmp_path: Path, sample: int) -> subprocess.Popen:
    return subprocess.Popen([HANDOFF, "run", "--sample", str(sample), "--no-fhir-server"],  # HAPI: once per session
                            stdout=open(tmp_path / "run.out", "w+"),
                            stderr=subprocess.STDOUT, env=demo_env(tmp_path), text=True)


def test_run_serves_until_ctrl_c_and_stops_cleanly_with_its_broker(tmp_path):
    proc = start_demo(tmp_path, 12)
    try:
        deadline = time.monotonic() + 180
        while "serving; Ctrl-C stops" not in (tmp_path / "run.out").read_text():
            assert proc.poll() is None, (tmp_path / "run.out").read_text()
            assert time.monotonic() < deadline, "handoff run did not get to serving"
            time.sleep(0.5)
        broker_pid = _broker_pid(tmp_path / "broker")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "run.out").read_text()
    assert "events in              12" in out and "delivered to inbox" in out
    assert "demo: made-up sample data" in out and (tmp_path / "demo.db").exists()
    assert "MLLP receiver (TLS) at mllps://127.0.0.1:" in out and "FHIR server not started" in out
    # the sample 911 calls: the mobile crisis team's webhook (served on loopback) got its alerts (issue 20)
    assert "alert webhook (HMAC-signed, TLS) at https://127.0.0.1:" in out
    assert "alerts to org-mobile-crisis alert 24-90001" in out and "withdraw 24-90003" in out
    assert not (tmp_path / "handoff.db").exists()  # the service's database was not touched
    _gone(broker_pid)


def test_sigterm_during_start_up_leaves_no_broker_behind(tmp_path):
    proc = start_demo(tmp_path, 3)
    try:
        deadline = time.monotonic() + 60
        while True:  # the JVM has been started, the broker is not ready yet
            try:
                broker_pid = _broker_pid(tmp_path / "broker")
                break
            except AssertionError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.out").read_text()
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        assert proc.wait(60) == 0, (tmp_path / "run.out").read_text()
        print(f"\nSIGTERM during start-up: handoff run and its broker gone in {time.monotonic() - began:.1f}s")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Kafka 4" not in (tmp_path / "run.out").read_text()  # it was stopped before the broker was ready
    _gone(broker_pid)


def _gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):  # the broker went down with it
        for _ in range(60):
            os.kill(pid, 0)
            time.sleep(0.5)


def _broker_pid(run_dir: Path) -> int:
    """The embedded broker's pid: the java process started with this run directory."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline and cmdline[0].endswith(b"java") and any(str(run_dir).encode() in part for part in cmdline):
                return int(entry.name)
    raise AssertionError("no broker process found")
