"""How running workers pick up an installed version without a restart.

Each stage asks `LiveConfig.refresh()` at a batch boundary (pipeline/stage.py `before_batch`):
it reads the heads of config_version at most every `every` seconds (config.poll_seconds), loads
a new head once, and each stage rebinds its function to `apply(deps)` — the stage's `Deps` with
the installed versions in place of the configured ones — before the batch, never during one. So
a message is processed under one version, and nothing is consumed again (the consumer and its
offsets are untouched). A head that fails to load (it was validated at install) is logged and
the version in use stays.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from pipeline.config import versions
from pipeline.config.bundle import ConfigError, load_bundle
from pipeline.route import Directory
from pipeline.storage import Store, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FixedDirectory:
    """An installed directory, in the shape of DirectorySource (what the stages call)."""

    directory: Directory
    location: str = "installed"
    last_error: str = ""

    def current(self) -> Directory:
        return self.directory


class LiveConfig:
    def __init__(self, store: Store, every: float = 5.0) -> None:
        self.store = store
        self.every = every
        self.values: dict[str, tuple[int, Any]] = {}  # kind -> (seq, loaded value) of the installed heads
        self._polled = float("-inf")
        self._lock = threading.Lock()

    @property
    def key(self) -> tuple[tuple[str, int], ...]:
        """What is in force now, to compare against what a stage is bound to."""
        return tuple(sorted((kind, seq) for kind, (seq, _) in self.values.items()))

    def refresh(self, force: bool = False) -> None:
        """Read the heads (rate-limited) and load any new one. The database away: keep what is in use."""
        with self._lock:
            if not force and time.monotonic() - self._polled < self.every:
                return
            self._polled = time.monotonic()
            try:
                self._load(versions.heads(self.store))
            except StorageError as e:
                log.warning("config: versions not read (%s); the versions in use stay", type(e).__name__)

    def _load(self, found: dict[str, int]) -> None:
        for kind, seq in found.items():
            if self.values.get(kind, (0, None))[0] == seq:
                continue
            row = versions.get(self.store, kind, seq)
            try:
                self.values[kind] = (seq, load_bundle(row.bundle))
            except ConfigError as e:
                log.error("config: %s #%d does not load (%s); the version in use stays", kind, seq, e)
                self.values[kind] = (seq, self.values.get(kind, (0, None))[1])

    def apply(self, deps: Any) -> Any:
        """`deps` with the installed versions in force (the configured ones where none is installed)."""
        changes: dict[str, Any] = {}
        for kind, (_, value) in self.values.items():
            if value is None:
                continue
            if kind == "rules":
                changes["rules"] = value
            elif kind == "routing":
                changes["routing"] = value
            elif kind == "directory":
                changes["directory"] = FixedDirectory(value)
            elif kind == "policy" and deps.gate is not None:
                changes["gate"] = type(deps.gate)(deps.gate.store, value, deps.gate.hold_lifetime)
        return replace(deps, **changes) if changes else deps

    def describe(self) -> str:
        return ", ".join(f"{kind} {value.version} (#{seq})" for kind, (seq, value) in sorted(self.values.items())
                         if value is not None) or "the configured files"
