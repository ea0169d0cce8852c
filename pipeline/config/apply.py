"""Install a version (the command line's `apply` and the admin page's button share this).

    done = apply_version(store, settings, bundle, user="admin-1", at=now)

Validate first (pipeline/config/check.py) against the versions in force: a version with an
error is refused (ConfigRefused, one line) and never installed. Otherwise it is installed as its
kind's next version and an `admin` audit record says who installed what over what, in the
direct chain, in the same call. Workers take it up at their next batch boundary.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pipeline.audit.emit import admin_audit
from pipeline.audit.sink import record_direct
from pipeline.config import versions
from pipeline.config.bundle import KINDS, Bundle
from pipeline.config.check import Findings, validate
from pipeline.config.current import Current, in_force
from pipeline.storage import Store


class ConfigRefused(ValueError):
    """The version may not be installed; the message is one line."""


@dataclass(frozen=True)
class Applied:
    kind: str
    seq: int  # 0: nothing installed (the version is in force already)
    version: str
    previous: str
    findings: Findings


def check_against_force(store: Store, settings, bundle: Bundle) -> tuple[Findings, dict[str, Current]]:
    now = in_force(store, settings)
    return validate(bundle, {kind: c.value for kind, c in now.items() if kind != bundle.kind}), now


def apply_version(store: Store, settings, bundle: Bundle, user: str, at: datetime, os_login: str = "",
                  channel: str = "cli", proposal_id: str = "") -> Applied:
    found, now = check_against_force(store, settings, bundle)
    previous = now[bundle.kind]
    label = KINDS[bundle.kind].label
    target = f"config:{bundle.kind}"
    if not found.ok:
        record_direct(store, admin_audit(user, at, "config-apply", target, {
            "kind": bundle.kind, "digest": bundle.digest[:16], "channel": channel,
            "refused": found.errors[0][:300] if found.errors else "does not load"}, os_login, outcome="failure"))
        raise ConfigRefused(f"{label} not installed: {found.errors[0]}"
                            + (f" (and {len(found.errors) - 1} more error(s))" if len(found.errors) > 1 else ""))
    if previous.bundle is not None and previous.bundle.digest == bundle.digest:
        return Applied(bundle.kind, 0, found.value.version, previous.version, found)
    seq = versions.install(store, bundle, found.value.version, user, at, proposal_id)
    record_direct(store, admin_audit(user, at, "config-apply", target, {
        "kind": bundle.kind, "version": found.value.version, "seq": str(seq), "previous": previous.version,
        "digest": bundle.digest[:16], "channel": channel, **({"proposal": proposal_id} if proposal_id else {})},
        os_login))
    return Applied(bundle.kind, seq, found.value.version, previous.version, found)
