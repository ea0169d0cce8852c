"""Issue 24: the routing rules and directory versions in force are stamped on the outputs they shape.
route-decide-render stamps them on each decision: the decision a delivery (the outbox record) carries
and the decision audit record of a hold. A held referral keeps them, so the decision that releases it
later names the versions that chose its recipient, not whatever is in force at the release."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from pipeline import app
from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.consent import Gate, load_policy
from pipeline.detect import load_rules
from pipeline.route import SAMPLE_DIRECTORY, DirectorySource, load_routing_rules
from pipeline.stage import Context
from pipeline.vocab import Action, ConsentKind, ConsentStatus, DataCategory, Outcome, Purpose, SourceRole
from tests.support.factory import T0
from tests.unit.test_episode_route import sangamon_request


def _deps(store, routing) -> app.Deps:
    return app.Deps(catalogue=None, store=store, directory=DirectorySource(str(SAMPLE_DIRECTORY)), routing=routing,
                    rules=load_rules(), linkage_keys={}, connectors={}, clock=FixedClock(T0),
                    gate=Gate(store, load_policy()))


def _ctx(stage: str, topic: str, offset: int = 0) -> Context:
    return Context(stage, r.SourceRef(topic=topic, record_id="q"), FixedClock(T0), "trace", 0, offset)


def _request(role: SourceRole, request_id: str) -> r.ReferralRequest:
    return sangamon_request().model_copy(update={"source_role": role, "request_id": request_id,
                                                 "episode_id": "ep-" + request_id})


def test_deliveries_and_decision_audits_name_the_routing_and_directory_versions(migrated):
    routing = load_routing_rules()
    deps = _deps(migrated, routing)
    directory = deps.directory.current().version
    assert routing.version and directory

    sent = asyncio.run(app.route_decide_render(deps, _request(SourceRole.COVERED_ENTITY, "q-ems"),
                                               _ctx("route-decide-render", "referral.request")))
    deliveries = [o.value for o in sent.outputs if o.topic == "delivery"]
    assert deliveries, sent  # an EMS agency (a covered entity) to a provider for treatment: permitted
    assert {(d.decision.routing_version, d.decision.directory_version) for d in deliveries} == {(routing.version,
                                                                                                  directory)}

    held = asyncio.run(app.route_decide_render(deps, _request(SourceRole.PART2_PROGRAMME, "q-p2"),
                                               _ctx("route-decide-render", "referral.request", 1)))
    audits = [a for a in held.audits if a.outcome == Outcome.HOLD.value]
    assert audits and held.held
    assert {(a.detail["routing"], a.detail["directory"]) for a in audits} == {(routing.version, directory)}

    # the routing rules change while the referral is held; a consent then releases it
    later = _deps(migrated, replace(routing, version=routing.version + "-later"))
    recipient = audits[0].recipient_id
    later.gate.registry.put(sangamon_request().person, r.ConsentRecord(
        consent_id="c-1", kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=[recipient],
        purposes=[audits[0].purpose], data_categories=list(DataCategory), signed_at=T0, artefact_ref="doc:1",
        period_end=T0 + timedelta(days=365), signed_by=["patient"]), T0, "user:ana")
    released = asyncio.run(app.consent_changed(later, r.ConsentSet(person=sangamon_request().person,
                                                                   registry_version=1, updated_at=T0),
                                               _ctx("consent-release", "consent", 2)))
    [delivery] = [o.value for o in released.outputs if o.topic == "delivery" and o.value.recipient_id == recipient]
    assert (delivery.decision.routing_version, delivery.decision.directory_version) == (routing.version, directory)
    [audit] = [a for a in released.audits if a.recipient_id == recipient]
    assert audit.detail["routing"] == routing.version  # the versions that chose it, not those of the release


def test_the_first_content_of_a_referral_is_its_create_any_other_an_update_even_before_it_settled(migrated):
    """Two requests of one episode rendered seconds apart, before the first message is sent (in
    the deliver stage's queue, or unanswered): the second is an update of the same referral, not a
    second create (the fault campaign found 13 referrals created twice). A replay of either renders
    the message it rendered before."""
    deps = _deps(migrated, load_routing_rules())
    request = _request(SourceRole.COVERED_ENTITY, "q-1")
    first = asyncio.run(app.route_decide_render(deps, request, _ctx("route-decide-render", "referral.request")))
    creates = {o.value.referral_id: o.value for o in first.outputs if o.topic == "delivery"}
    assert creates and {d.action for d in creates.values()} == {Action.CREATE}
    amended = request.model_copy(update={"subject": request.subject.model_copy(update={"phone": "217-555-0100"})})
    second = asyncio.run(app.route_decide_render(deps, amended, _ctx("route-decide-render", "referral.request", 1)))
    updates = {o.value.referral_id: o.value for o in second.outputs if o.topic == "delivery"}
    assert updates.keys() == creates.keys() and {d.action for d in updates.values()} == {Action.UPDATE}
    assert all(updates[k].message_id != creates[k].message_id for k in creates)
    replay = asyncio.run(app.route_decide_render(deps, amended, _ctx("route-decide-render", "referral.request", 1)))
    assert {o.value.message_id for o in replay.outputs if o.topic == "delivery"} == {
        d.message_id for d in updates.values()}
