"""The version of each kind in force: the newest installed one (pipeline/config/versions.py), else
the configured files (settings: consent.policy, routing.directory; the shipped detection and
routing rules), as before anything was installed.

    now = in_force(store, settings)       # {kind: Current}
    now["policy"].value                   # the Policy; .version, .bundle, .source
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import versions
from pipeline.config.bundle import KINDS, Bundle, ConfigError, load_bundle, read_bundle
from pipeline.detect.ruleset import RULES_DIR
from pipeline.route import RULES_FILE, DirectorySource
from pipeline.storage import Store


@dataclass(frozen=True)
class Current:
    kind: str
    value: Any  # Rules, RoutingRules, Directory or Policy
    bundle: Bundle | None  # None: a directory served by a FHIR server (no files)
    source: str  # in words: "installed #3 by admin-1 at …" or "file …"
    seq: int = 0  # 0: the configured files

    @property
    def version(self) -> str:
        return str(self.value.version)


def configured_path(kind: str, settings) -> str:
    return {"rules": str(RULES_DIR), "routing": str(RULES_FILE), "directory": settings.routing.directory,
            "policy": str(settings.consent.policy)}[kind]


def configured(kind: str, settings) -> Current:
    where = configured_path(kind, settings)
    if kind == "directory" and where.startswith(("http://", "https://")):
        return Current(kind, DirectorySource(location=where, ttl=0).current(), None, f"server {where}")
    bundle = read_bundle(kind, Path(where))
    return Current(kind, load_bundle(bundle), bundle, f"file {where}")


def installed(row: versions.Installed) -> Current:
    return Current(row.kind, load_bundle(row.bundle), row.bundle,
                   f"installed #{row.seq} by {row.installed_by} at {row.installed_at[:19]}", row.seq)


def current(store: Store, settings, kind: str) -> Current:
    row = versions.active(store, kind)
    return installed(row) if row is not None else configured(kind, settings)


def in_force(store: Store, settings) -> dict[str, Current]:
    return {kind: current(store, settings, kind) for kind in KINDS}


def versions_in_force(store: Store, settings) -> dict[str, str]:
    """{label: version} for pages; a kind that does not load says so."""
    out = {}
    for kind, k in KINDS.items():
        try:
            out[k.label] = current(store, settings, kind).version
        except (ConfigError, ValueError, OSError) as e:
            out[k.label] = f"does not load ({type(e).__name__})"
    return out
