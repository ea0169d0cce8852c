"""The first cut of episode, route, consent and render: pure functions, table tests."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from pydantic import SecretStr

from pipeline import records as r
from pipeline.consent import decide
from pipeline.episode import requests_from_run
from pipeline.episode.identity import person_token
from pipeline.render import referral_id, render_fhir
from pipeline.route import load_directory, route
from pipeline.vocab import Basis, Category, ConsentKind, ConsentStatus, Match, Outcome, Purpose, Service
from tests.support.factory import T0, ems_run
from tests.support.samples import referral

KEYS = {1: SecretStr("k1-test-secret-0123456789"), 2: SecretStr("k2-test-secret-0123456789")}


def detection(run: r.EmsRun, *categories: Category, died: bool = False, contact: bool = True) -> r.Detection:
    return r.Detection(envelope=run.envelope, key=run.key, subject=r.SourceRef(topic="ems.run", record_id="PCR-1"),
                       categories=list(categories), rules_version="t", patient_died=died, patient_contact=contact)


def test_person_token_is_keyed_normalised_and_versioned():
    a = r.Person(family="O'Brien", given="José", birth_date=date(1990, 5, 1), sex="M")
    b = r.Person(family="obrien", given="JOSE", birth_date=date(1990, 5, 1), sex="male")
    token_a, match = person_token(a, KEYS, "x")
    assert match == Match.EXACT and token_a.key_version == 2
    assert person_token(b, KEYS, "y")[0] == token_a
    assert person_token(a, {1: KEYS[1]}, "x")[0].person_token != token_a.person_token  # rotation changes it
    assert person_token(r.Person(family="obrien", birth_date=date(1990, 5, 1)), KEYS, "x")[1] == Match.UNCERTAIN
    nameless, match = person_token(r.Person(), KEYS, "ems-1/PCR-9")
    assert match == Match.UNCERTAIN and nameless != person_token(r.Person(), KEYS, "ems-1/PCR-8")[0]


@pytest.mark.parametrize("categories, died, contact, services", [
    ((Category.OVERDOSE, Category.OPIOID_OVERDOSE), False, True, [Service.SUD_TREATMENT, Service.PEER_RECOVERY]),
    ((Category.SUICIDE_RISK, Category.BEHAVIORAL_HEALTH), False, True, [Service.MH_CRISIS_FOLLOWUP]),
    ((Category.OVERDOSE,), True, True, []),  # died: the detection stands for surveillance only
    ((Category.OVERDOSE,), False, False, []),  # no patient contact
    ((), False, True, []),
])
def test_requests_from_run(categories, died, contact, services):
    run = ems_run()
    requests = requests_from_run(run, detection(run, *categories, died=died, contact=contact), KEYS)
    assert [q.service for q in requests] == services
    assert len({q.request_id for q in requests}) == len(requests)
    again = requests_from_run(run, detection(run, *categories, died=died, contact=contact), KEYS)
    assert again == requests  # deterministic: a replay repeats the ids


def test_route_picks_an_accepting_provider_of_the_service_in_the_area():
    directory = load_directory()
    request = referral()
    [candidate] = route(request, directory, county="Sangamon")
    assert candidate.provider.id == "org-bridge-clinic" and candidate.purpose == Purpose.TREATMENT
    assert route(request, directory, county="Cook") == []
    assert route(request, directory, exclude=frozenset({"org-bridge-clinic"})) == []
    peer = request.model_copy(update={"service": Service.PEER_RECOVERY})
    assert route(peer, directory)[0].purpose == Purpose.CARE_COORDINATION


def test_decide_fails_closed():
    directory = load_directory()
    request = referral()
    clinic = route(request, directory)[0]
    permit = decide(request, clinic, "ref-1", [], T0)
    assert permit.outcome == Outcome.PERMIT and permit.basis == Basis.HIPAA_TREATMENT
    uncertain = request.model_copy(update={"match": Match.UNCERTAIN})
    assert decide(uncertain, clinic, "ref-1", [], T0).outcome == Outcome.HOLD
    peer_request = request.model_copy(update={"service": Service.PEER_RECOVERY})
    peer = route(peer_request, directory)[0]
    assert decide(peer_request, peer, "ref-2", [], T0).outcome == Outcome.HOLD
    consent = r.ConsentRecord(consent_id="c-1", kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE,
                              recipients=[peer.provider.id], purposes=[Purpose.CARE_COORDINATION],
                              signed_at=T0, period_end=T0 + timedelta(days=30))
    granted = decide(peer_request, peer, "ref-2", [consent], T0)
    assert granted.outcome == Outcome.PERMIT and granted.basis == Basis.PART2_CONSENT and granted.consent_id == "c-1"
    assert decide(peer_request, peer, "ref-2", [consent], T0 + timedelta(days=31)).outcome == Outcome.HOLD
    revoked = consent.model_copy(update={"revoked_at": T0})
    assert decide(peer_request, peer, "ref-2", [revoked], T0).outcome == Outcome.HOLD
    proposed = consent.model_copy(update={"status": ConsentStatus.PROPOSED})
    assert decide(peer_request, peer, "ref-2", [proposed], T0).outcome == Outcome.HOLD


def test_render_is_deterministic_and_valid_fhir_r4():
    from fhir.resources.R4B.bundle import Bundle

    directory = load_directory()
    request = referral()
    clinic = route(request, directory)[0]
    ref = referral_id(request, clinic.provider.id)
    decision = decide(request, clinic, ref, [], T0)
    payload = render_fhir(request, decision, clinic.provider)
    assert render_fhir(request, decision, clinic.provider) == payload  # byte for byte
    bundle = Bundle.model_validate(json.loads(payload.body))
    assert bundle.type == "message" and bundle.entry[0].resource.__resource_type__ == "MessageHeader"
    task = bundle.entry[1].resource
    assert task.status == "requested" and task.code.coding[0].code == "fulfill"
    urls = {e.fullUrl for e in bundle.entry}
    assert task.focus.reference in urls and task.for_fhir.reference in urls
    revised = render_fhir(request.model_copy(update={"revision": 2}), decision, clinic.provider)
    assert revised.message_id != payload.message_id  # an update is a new message of the same referral
    assert ref == referral_id(request.model_copy(update={"revision": 2}), clinic.provider.id)
