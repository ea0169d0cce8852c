"""Progress on long work: a rich bar at a terminal (a real pty), a plain counter without rich, nothing in a pipe."""
from __future__ import annotations

import subprocess
import sys

from tests.support import terminal

CHILD = """
import sys
if "--no-rich" in sys.argv:
    sys.modules["rich"] = None  # as if rich were not installed
from handoff.progress import progress
with progress("replay", 3) as advance:
    for _ in range(3):
        advance(1)
print("done")
"""


def at_terminal(*args: str) -> str:
    code, out = terminal.at_terminal([sys.executable, "-c", CHILD, *args])
    assert code == 0, out
    return out


def test_a_bar_at_a_terminal():
    out = at_terminal()
    assert "replay" in out and "3/3" in out and "━" in out and "done" in out


def test_a_plain_counter_without_rich():
    out = at_terminal("--no-rich")
    assert "replay: 1/3" in out and "replay: 3/3" in out and "━" not in out


def test_nothing_when_stdout_is_not_a_terminal():
    piped = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30)
    assert piped.returncode == 0 and piped.stdout == "done\n" and piped.stderr == ""
