"""`--stages` sets: which active groups of a deployment overlap a worker's own (handoff/worker.py)."""
from __future__ import annotations

from handoff.worker import consumer_group, overlapping

KNOWN = ["classify-run", "deliver", "track", "audit-sink"]


def test_sets_that_share_a_stage_overlap_and_others_do_not():
    ours = consumer_group("g", ["deliver", "classify-run"], all_stages=False)
    assert ours == "g.classify-run+deliver"
    assert overlapping("g", ours, [ours], KNOWN) == {}  # the same set: one group, partitions shared
    assert overlapping("g", ours, ["g.track+audit-sink", "g.audit-sink"], KNOWN) == {}  # disjoint
    assert overlapping("g", ours, ["g.deliver"], KNOWN) == {"g.deliver": ["deliver"]}
    assert overlapping("g", ours, ["g"], KNOWN) == {"g": ["classify-run", "deliver"]}  # a worker of every stage
    assert overlapping("g", "g", ["g.track"], KNOWN) == {"g.track": ["track"]}
    # not stage sets of this deployment: another deployment's base, a group of another tool
    assert overlapping("g", ours, ["g.monitor", "gx.deliver", "h.deliver"], KNOWN) == {}
