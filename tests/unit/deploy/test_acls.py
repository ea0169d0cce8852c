"""The ACL data keeps up with the topology table (pipeline/app.py): the worker's principal may read
every stage's source and write every output and dead letter; the delivery principal (a site that runs
delivery apart) those of the delivery stages. A stage added without its ACLs fails here, not on a
secured broker at a site."""
from __future__ import annotations

from pipeline.app import STAGES
from pipeline.kafka.secure import allowed, bindings
from pipeline.topics import Catalogue


def _missing(component: str, stages) -> list[str]:
    catalogue = Catalogue()
    bound = bindings(catalogue)
    principal = f"User:handoff-{component}"
    missing = []
    for stage in stages:
        wants = [(stage.source, "read"), (catalogue[stage.source].dead_letter, "write"),
                 *[(out, "write") for out in stage.outputs]]
        missing += [f"{stage.name}: {op} {topic}" for topic, op in wants
                    if not allowed(bound, principal, catalogue[topic].full_name, op)]
    return missing


def test_the_worker_may_read_every_source_and_write_every_output():
    assert _missing("worker", STAGES) == []


def test_the_delivery_principal_covers_the_delivery_stages():
    assert _missing("delivery", [s for s in STAGES if s.name.startswith("deliver")]) == []


def test_the_worker_principal_may_join_the_split_deployments_groups():
    from handoff.worker import stage_sets
    from pipeline.kafka.secure import Binding

    bound = set(bindings(Catalogue(), group_base="g"))
    for name in ("g", *(f"g.{s}" for s in stage_sets())):
        assert Binding("User:handoff-worker", "group", name, "read") in bound, name
