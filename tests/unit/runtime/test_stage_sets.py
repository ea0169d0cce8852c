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


def test_the_split_deployment_sets_cover_every_stage_and_task_once():
    from pipeline.app import PERIODIC, STAGES
    from handoff.worker import expand, stage_sets

    sets = stage_sets()
    every = [row.name for row in (*STAGES, *PERIODIC)]
    assert sorted(sets["ingest"] + sets["referrals"]) == sorted(every)
    assert not set(sets["ingest"]) & set(sets["referrals"])
    assert {"classify-run", "audit-sink"} <= set(sets["ingest"])
    assert {"route-decide-render", "deliver", "track", "deadline-sweep"} <= set(sets["referrals"])
    assert expand(["ingest", "classify-run", "track"]) == [*sets["ingest"], "track"]  # each once


def test_a_named_set_joins_its_own_group_and_overlaps_by_its_members():
    from pipeline.app import STAGES
    from handoff.worker import stage_sets

    known = [s.name for s in STAGES]
    ingest = consumer_group("g", list(stage_sets()["ingest"]), all_stages=False, set_name="ingest")
    assert ingest == "g.ingest"
    assert overlapping("g", ingest, ["g.referrals"], known) == {}  # the two sets are disjoint
    assert overlapping("g", ingest, ["g.audit-sink"], known) == {"g.audit-sink": ["audit-sink"]}
    assert overlapping("g", "g.track", ["g.referrals"], known) == {"g.referrals": ["track"]}
    assert overlapping("g", ingest, ["g"], known) == {"g": sorted(stage_sets()["ingest"])}
