"""The campaign's test-only breaks (tests/chaos/hooks/sitecustomize.py) act in a fresh Python process
that has the hooks on its PYTHONPATH and CHAOS_BREAK set, and only then; and the disk-full fault makes
the product's own SQLite store fail with SQLITE_FULL, both on a mounted tmpfs (where this process may
mount) and through the hook's max_page_count fallback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.chaos.disk import Disk
from tests.chaos.sample import HOOKS
from tests.conftest import ROOT

PROBE = """
import sys
from pipeline.audit import sink
from pipeline.consent import gate
print(sink._Chains.append.__qualname__, gate.Gate.recheck.__qualname__)
"""

WRITE = """
import sys
from pipeline.storage import open_store
store = open_store(sys.argv[1])
def write():
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO admin_note (body) VALUES (:b)", {"b": "x" * 200000})
with store.transaction(immediate=True) as tx:
    tx.execute("CREATE TABLE IF NOT EXISTS admin_note (body TEXT)")
write()
open(sys.argv[2], "w").close()  # the disk is full from here
try:
    write()
    print("written")
except Exception as e:
    print(type(e).__name__, str(e)[-40:])
"""


def run(code: str, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAOS_")}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**clean, "PYTHONPATH": str(HOOKS), **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_chaos_break_nothing_is_patched():
    assert run(PROBE) == "_Chains.append Gate.recheck"


@pytest.mark.parametrize("name, patched", [("drop-audit", "_drop_audit.<locals>.append Gate.recheck"),
                                           ("skip-recheck", "_Chains.append _skip_recheck.<locals>.<lambda>")])
def test_each_break_patches_its_one_function(tmp_path, name, patched):
    assert run(PROBE, CHAOS_BREAK=name, CHAOS_BREAK_STATE=str(tmp_path / "state")) == patched


def test_the_disk_full_hook_makes_the_store_fail_with_sqlite_full(tmp_path):
    flag = tmp_path / "full.flag"
    out = run(WRITE, f"sqlite:///{tmp_path / 'db.sqlite'}", str(flag), CHAOS_BREAK="disk-full",
              CHAOS_DISK_FULL=str(flag))
    assert out.startswith("StorageUnavailable") and "database or disk is full" in out, out


def test_a_full_tmpfs_makes_the_store_fail_and_freeing_it_mends_it(tmp_path):
    from pipeline.storage import open_store
    from pipeline.storage.errors import StorageUnavailable

    disk = Disk(tmp_path, 4)
    if not disk.mounted:
        pytest.skip(f"this process may not mount a tmpfs ({disk.why}); the hook's fallback is tested above")
    store = open_store(disk.url)

    def write() -> None:
        with store.transaction(immediate=True) as tx:
            tx.execute("INSERT INTO admin_note (body) VALUES (:b)", {"b": "x" * 200000})
    try:
        with store.transaction(immediate=True) as tx:
            tx.execute("CREATE TABLE admin_note (body TEXT)")
        write()
        assert disk.fill() > 0
        with pytest.raises(StorageUnavailable, match="database or disk is full"):
            write()
        disk.free()
        write()
    finally:
        store.close()
        disk.close()
