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


def test_run_serves_until_ctrl_c_and_stops_cleanly_with_its_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_KAFKA__EMBEDDED_RUN_DIR=str(tmp_path / "broker"),
               HANDOFF_STORAGE__URL=f"sqlite:///{tmp_path / 'handoff.db'}", HANDOFF_METRICS__PORT="0")
    log = open(tmp_path / "run.out", "w+")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "handoff"), "run", "--sample", "12",
                             "--no-fhir-server"],  # the HAPI FHIR server starts once per session (conftest)
                            stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
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
    assert "MLLP receiver (TLS) at mllps://127.0.0.1:" in out and "FHIR server not started" in out
    with pytest.raises(ProcessLookupError):  # the broker went down with it
        for _ in range(60):
            os.kill(broker_pid, 0)
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
