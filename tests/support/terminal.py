"""Run a command with a real pseudo-terminal (pty) as its stdout and stderr, as a person's shell would."""
from __future__ import annotations

import os
import pty
import subprocess


def at_terminal(argv: list[str], env: dict | None = None, timeout: float = 120) -> tuple[int, str]:
    """(exit code, everything it wrote to the terminal)."""
    parent, child = pty.openpty()
    proc = subprocess.Popen(argv, stdout=child, stderr=child, stdin=subprocess.DEVNULL,
                            env=(env or os.environ) | {"TERM": "xterm", "COLUMNS": "100"})
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(parent)
    return proc.wait(timeout), out.decode(errors="replace")
