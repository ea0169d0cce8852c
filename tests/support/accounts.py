"""Local accounts for command-line tests, made through the installed `handoff users add`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HANDOFF = shutil.which("handoff", path=str(Path(sys.executable).parent))


def add_accounts(db: Path, accounts: tuple[tuple[str, str], ...]) -> None:
    """(name, role) pairs, each with the same long-enough password."""
    for account, role in accounts:
        made = subprocess.run([HANDOFF, "users", "add", account, "--role", role, "--password-stdin"],
                              input="a-long-enough-password\n", capture_output=True, text=True, timeout=60,
                              env=os.environ | {"HANDOFF_STORAGE__URL": f"sqlite:///{db}",
                                                "HANDOFF_ENVIRONMENT": "test"})
        assert made.returncode == 0, made.stderr
