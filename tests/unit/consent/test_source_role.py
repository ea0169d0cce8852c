"""Source role from the organisation (issue 17 item 5): the agency registry, applied at the edges,
carried on the request, read by the policy. The pathway never decides it."""
from __future__ import annotations

import json
from datetime import timedelta

from pydantic import SecretStr

from connectors.edge.service import build_edge
from connectors.field import parse_field_referrals
from pipeline import records as r
from pipeline.consent import Recipient, decide, load_policy
from pipeline.episode import field_requests, incident_requests, merge
from pipeline.route import load_routing_rules
from pipeline.settings import Settings
from pipeline.vocab import Category, Outcome, Purpose, SourceRole
from tests.support.factory import T0, ems_run, envelope
from tests.unit.connectors.helpers import make_ctx

SETTINGS = Settings(environment="test")
KEYS = {1: SecretStr("k1-test-secret-0123456789")}
RULES = load_routing_rules()
CLINIC = Recipient("prov-clinic", "health-care-provider")
PERSON = r.Person(family="Rivera", given="Sam", birth_date=T0.date().replace(year=T0.year - 15))


def _field(pathway: str) -> r.FieldReferral:
    body = {"referral_id": "FR-1", "referred_at": "2025-03-01T10:00:00-05:00", "pathway": pathway,
            "referrer": {"role": "officer"}, "person": {"family": "Rivera", "given": "Sam", "birth_date": "2010-02-03"},
            "services": ["sud-treatment"]}
    ctx = make_ctx(sender="pd-7", agency_role=SETTINGS.agency_role)
    [parsed] = parse_field_referrals(json.dumps(body).encode(), ctx, content_type="application/json")
    return parsed.record


def test_a_police_referral_tagged_first_responder_is_still_law_enforcement():
    referral = _field("first-responder")
    assert referral.envelope.source_role is SourceRole.LAW_ENFORCEMENT
    [request] = field_requests(referral, RULES, KEYS)
    assert request.source_role is SourceRole.LAW_ENFORCEMENT and request.age == 15
    decision = decide(request, CLINIC, Purpose.TREATMENT, [], load_policy(), T0 + timedelta(days=1))
    assert decision.outcome == Outcome.HOLD and decision.basis.value == "none"
    assert decision.source_role is SourceRole.LAW_ENFORCEMENT and decision.subject_age == 15


def test_an_unlisted_agency_is_read_as_a_part2_programme():
    assert SETTINGS.agency_role("ems-999") == ""
    referral = parse_field_referrals(json.dumps({
        "referral_id": "FR-2", "referred_at": "2025-03-01T10:00:00-05:00", "pathway": "self-referral",
        "referrer": {"role": "peer"}, "person": {"family": "Rivera", "given": "Sam", "birth_date": "1990-02-03"},
        "services": ["peer-recovery"]}).encode(),
        make_ctx(sender="ems-999", agency_role=SETTINGS.agency_role), content_type="application/json")[0].record
    assert referral.envelope.source_role is None
    [request] = field_requests(referral, RULES, KEYS)
    assert request.source_role is SourceRole.PART2_PROGRAMME
    decision = decide(request, Recipient("prov-peer", "other"), Purpose.OUTREACH, [], load_policy(), T0)
    assert decision.outcome == Outcome.HOLD and "part2-programme to other" in decision.reasons[0]


def test_a_request_takes_the_most_protective_role_of_its_runs():
    key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-9")

    def run(pcr: str, agency: str, role: SourceRole | None) -> tuple[r.EmsRun, r.Detection]:
        one = ems_run(pcr, key=key, agency_id=agency, patient=PERSON)
        one = one.model_copy(update={"envelope": envelope(pcr).model_copy(update={"source_role": role})})
        return one, r.Detection(envelope=one.envelope, key=key, categories=[Category.OPIOID_OVERDOSE],
                                subject=r.SourceRef(topic="ems.run", record_id=pcr), rules_version="t")

    ems = run("PCR-1", "ems-012", SourceRole.COVERED_ENTITY)
    [alone] = [q for q in incident_requests([ems], RULES, KEYS) if q.service.value == "sud-treatment"]
    assert alone.source_role is SourceRole.COVERED_ENTITY
    with_unlisted = incident_requests([ems, run("PCR-2", "fire-3", None)], RULES, KEYS)
    assert {q.source_role for q in with_unlisted} == {SourceRole.PART2_PROGRAMME}
    looked_up = incident_requests([ems, run("PCR-2", "fire-3", None)], RULES, KEYS,
                                  role_of=lambda agency: "covered-entity" if agency == "fire-3" else "")
    assert {q.source_role for q in looked_up} == {SourceRole.COVERED_ENTITY}
    police = alone.model_copy(update={"source_role": SourceRole.LAW_ENFORCEMENT,
                                      "categories": [Category.SUBSTANCE_USE]})
    assert merge(police, alone.episode_id, alone).source_role is SourceRole.LAW_ENFORCEMENT


def test_the_edges_and_the_stages_read_the_registry_from_settings():
    settings = Settings(environment="test", agencies={"pd-1": {"role": "law-enforcement"}})
    assert build_edge(settings, sink=None).agency_role("pd-1") == "law-enforcement"
    assert build_edge(settings, sink=None).agency_role("ems-012") == ""  # a site's registry replaces the sample
    assert SourceRole.most_protective([]) is SourceRole.PART2_PROGRAMME
