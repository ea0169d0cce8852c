"""The database's disk quota, filled for a while (the fault campaign's `disk-full` fault).

Where this process may mount (root with CAP_SYS_ADMIN, as on the project's CI machine), the
database lives on its own small tmpfs, and the fault writes a ballast file until the file system
answers ENOSPC, holds it, then deletes it: SQLite meets a real full disk. Elsewhere the fault is
the test-only hook tests/chaos/hooks/sitecustomize.py `disk-full`: while a flag file exists every
SQLite transaction is capped at the file's current page count (PRAGMA max_page_count), which
makes SQLite itself return SQLITE_FULL. `mode` says which one a run used.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

CHUNK = 1 << 20


class Disk:
    def __init__(self, root: Path, size_mib: int) -> None:
        self.dir = root / "db"
        self.flag = root / "disk-full.flag"  # the hook's switch (fallback mode)
        self.ballast = self.dir / "ballast"
        self.dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "chaos-db", str(self.dir)],
                              capture_output=True, text=True)
        self.mounted = done.returncode == 0
        self.why = "" if self.mounted else (done.stderr.strip() or f"mount exited {done.returncode}")
        self.mode = f"tmpfs {size_mib} MiB" if self.mounted else "sqlite max_page_count (no mount: " + self.why + ")"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.dir / 'handoff.db'}"

    def fill(self) -> int:
        """Make the disk full; the bytes of ballast written (0 in the fallback mode)."""
        if not self.mounted:
            self.flag.touch()
            return 0
        written, size = 0, CHUNK
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            while size >= 512:  # down to the last small blocks: nothing left at all
                try:
                    written += os.write(fd, b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    size //= 2
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.flag.unlink(missing_ok=True)
        if self.ballast.exists():
            os.unlink(self.ballast)

    def close(self) -> None:
        self.free()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.dir)], capture_output=True)
            self.mounted = False
