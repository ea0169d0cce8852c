"""`handoff dlq replay` through the installed console script: a progress bar at a terminal (a real pty),
none when its output goes to a pipe; the replay itself the same either way."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline import records as r
from tests.support.kafka import consume_raw, produce
from tests.support.terminal import at_terminal

pytestmark = pytest.mark.kafka
HANDOFF = shutil.which("handoff", path=str(Path(sys.executable).parent))
LETTERS = 12


async def test_replay_shows_a_bar_at_a_terminal_and_nothing_in_a_pipe(kafka, catalogue):
    ems = catalogue["ems.run"]
    dlq = catalogue.dead_letter_of("ems.run")
    now = datetime.now(timezone.utc)
    await produce(kafka.bootstrap, dlq, [
        (r.DeadLetterKey(topic=ems.full_name, partition=0),
         r.DeadLetter(dead_letter_id=f"{i:032d}", stage="classify-run", reason="CodecError: not Avro",
                      error_type="CodecError", topic=ems.full_name, partition=0, offset=i, key=b"k",
                      value=f"bytes {i}".encode(), headers={}, failed_at=now)) for i in range(LETTERS)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env |= {"HANDOFF_ENVIRONMENT": "test", "HANDOFF_KAFKA__BOOTSTRAP": kafka.bootstrap,
            "HANDOFF_KAFKA__TOPIC_PREFIX": catalogue.prefix}
    argv = [HANDOFF, "dlq", "replay", "--reason", "CodecError"]

    piped = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert f"{LETTERS} dead letter(s) replayed" in piped.stdout
    assert "━" not in piped.stdout + piped.stderr and f"{LETTERS}/{LETTERS}" not in piped.stdout + piped.stderr

    code, shown = at_terminal(argv, env)
    assert code == 0, shown
    assert "replay" in shown and "━" in shown and f"{LETTERS}/{LETTERS}" in shown
    assert f"{LETTERS} dead letter(s) replayed" in shown
    again = await consume_raw(kafka.bootstrap, ems, 2 * LETTERS, timeout=30)
    assert len(again) == 2 * LETTERS  # each replayed once per run
    assert {m.value for m in again} == {f"bytes {i}".encode() for i in range(LETTERS)}
