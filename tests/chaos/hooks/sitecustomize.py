"""Test-only faults inside a `handoff worker` (never a switch in the product): the fault campaign
puts this directory on the worker's PYTHONPATH and names breaks in CHAOS_BREAK (comma-separated); Python imports
this module at start-up (site), and it patches one function when its module is first imported.

  drop-audit    the audit sink leaves out ONE delivery-result record ("delivered") of a referral message
                (one naming its message id; an alert's is not one): the first one
                any worker sees (claimed across processes with a marker file, CHAOS_BREAK_STATE),
                and the same record again whenever a replay brings it back
  skip-recheck  the consent re-check just before sending always answers "send"
  disk-full     while the file CHAOS_DISK_FULL exists, every SQLite transaction starts with PRAGMA
                max_page_count = the file's current page count: a write that needs a new page fails
                with SQLITE_FULL (the disk-full fault where no small file system can be mounted)

Without CHAOS_BREAK this module does nothing at all (each patch runs only in the processes it is named for).
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

BREAKS = [name for name in os.environ.get("CHAOS_BREAK", "").split(",") if name]


def _drop_audit(module) -> None:
    state = os.environ["CHAOS_BREAK_STATE"]
    original = module._Chains.append

    def append(chains, event, body, partition, offset):
        if event.kind.value == "delivery-result" and event.outcome == "delivered" and event.detail.get("message_id"):
            try:
                fd = os.open(state, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # the first one, across processes
            except FileExistsError:
                pass
            else:
                os.write(fd, event.audit_id.encode())
                os.close(fd)
            with open(state) as f:
                if f.read().strip() == event.audit_id:
                    return True  # "stored": the record is suppressed
        return original(chains, event, body, partition, offset)

    module._Chains.append = append


def _skip_recheck(module) -> None:
    module.Gate.recheck = lambda self, delivery, now: []


def _disk_full(module) -> None:
    flag, backend = os.environ["CHAOS_DISK_FULL"], module.SqliteBackend
    original = backend.begin

    def begin(self, conn, immediate):
        if os.path.exists(flag):  # no page beyond those the file has now: SQLITE_FULL on growth
            count = conn.execute("PRAGMA page_count").fetchone()["page_count"]
            conn.execute(f"PRAGMA max_page_count = {int(count)}")
        else:
            conn.execute("PRAGMA max_page_count = 4294967294")
        return original(self, conn, immediate)

    backend.begin = begin


PATCHES = {"drop-audit": ("pipeline.audit.sink", _drop_audit), "skip-recheck": ("pipeline.consent.gate", _skip_recheck),
           "disk-full": ("pipeline.storage._sqlite", _disk_full)}


class _Patcher(importlib.abc.MetaPathFinder):
    """Runs the patch right after the target module has executed."""

    def __init__(self, name: str, patch) -> None:
        self.name, self.patch = name, patch

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        loader, patch = spec.loader, self.patch

        class Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                patch(module)

        spec.loader = Loader()
        return spec


for _break in BREAKS:
    sys.meta_path.insert(0, _Patcher(*PATCHES[_break]))
