"""What every deployment file must start: the split deployment (deploy/README.md)."""
from __future__ import annotations

from collections import Counter


def assert_split(commands: list[list[str]]) -> None:
    """The worker commands of one deployment run every stage and periodic task exactly once
    between them, as the named sets `ingest` and `referrals` (each set in its own group)."""
    from pipeline.app import PERIODIC, STAGES
    from handoff.worker import expand, stage_sets

    sets = sorted(c[c.index("--stages") + 1] for c in commands if c[0] == "worker")
    assert sets == sorted(stage_sets()) == ["ingest", "referrals"], commands
    started = Counter(expand(sets[:1]) + expand(sets[1:]))
    assert set(started) == {r.name for r in (*STAGES, *PERIODIC)} and set(started.values()) == {1}, started
