"""The registry and the gate on SQLite and PostgreSQL: hold, release, revoke, expire, re-check."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline import records as r
from pipeline.consent import ConsentError, Gate, Recipient, load_policy
from pipeline.consent.fhir import from_fhir, to_fhir
from pipeline.storage import open_store
from pipeline.vocab import (Category, ConsentKind, ConsentStatus, DataCategory, Outcome, Pathway, Purpose,
                            Service)

T0 = datetime(2026, 3, 14, 2, 5, tzinfo=timezone.utc)
PERSON = r.PersonKey(person_token="tok-1", key_version=1)
HOUSING = Recipient("prov-housing", "other")
CLINIC = Recipient("prov-clinic", "health-care-provider")


def request(n: int = 1, pathway=Pathway.OFFICER_INTERVENTION) -> r.ReferralRequest:
    env = r.Envelope(event_id=f"e{n}", source_system="field:pd", source_record_id=f"s{n}", occurred_at=T0,
                     ingested_at=T0, correlation_id="c", programme_id="demo")
    return r.ReferralRequest(envelope=env, request_id=f"q{n}", person=PERSON, episode_id=f"ep{n}",
                      service=Service.SUD_TREATMENT, categories=[Category.OPIOID_OVERDOSE], pathway=pathway)


def consent(cid="c-1", recipients=("prov-housing",), **kw) -> r.ConsentRecord:
    values = dict(consent_id=cid, kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=list(recipients),
                  purposes=[Purpose.CARE_COORDINATION, Purpose.TREATMENT],
                  data_categories=[DataCategory.GENERAL, DataCategory.SUD], signed_at=T0, artefact_ref="doc:1",
                  period_end=T0 + timedelta(days=365))
    values.update(kw)
    return r.ConsentRecord(**values)


@pytest.fixture
def gate(migrated):
    return Gate(migrated, load_policy())


def test_hold_then_a_complete_consent_releases_and_a_revocation_cancels(gate):
    [held] = gate.decide(request(), [(HOUSING, Purpose.CARE_COORDINATION)], T0)
    assert held.outcome == Outcome.HOLD and "needs a valid" in held.reasons[0]
    assert [w["referral_id"] for w in gate.worklist()] == [held.referral_id]

    gate.registry.propose_from_field(PERSON, "field:pd:R-1", T0)  # a field flag never permits
    released, cancelled = gate.on_consent_change(PERSON, T0, "consent:0@1")
    assert (released, cancelled) == ([], []) and len(gate.worklist()) == 1

    gate.registry.put(PERSON, consent(), T0 + timedelta(hours=1), "user:ana")
    released, cancelled = gate.on_consent_change(PERSON, T0 + timedelta(hours=1), "consent:0@2")
    assert [x.decision.outcome for x in released] == [Outcome.PERMIT] and not cancelled
    assert released[0].decision.consent_id == "c-1" and "42 CFR part 2" in released[0].decision.notice
    assert "prov-housing" in released[0].decision.consent_scope and gate.worklist() == []
    again, _ = gate.on_consent_change(PERSON, T0 + timedelta(hours=1), "consent:0@2")  # a replay repeats it
    assert [x.decision.referral_id for x in again] == [held.referral_id]

    delivery = _delivery(released[0])
    assert gate.recheck(delivery, T0 + timedelta(hours=2)) == []
    gate.record_use(delivery, T0 + timedelta(hours=2))
    gate.registry.revoke("c-1", T0 + timedelta(hours=3), "user:ana")
    assert any("revoked" in p for p in gate.recheck(delivery, T0 + timedelta(hours=3)))
    _, cancelled = gate.on_consent_change(PERSON, T0 + timedelta(hours=3), "consent:0@3")
    assert [(c.referral_id, c.sent) for c in cancelled] == [(held.referral_id, True)]


def test_a_revocation_cancels_holds_made_before_it_and_expiry_cancels_the_rest(gate):
    gate.registry.put(PERSON, consent(recipients=["prov-other"]), T0, "user:ana")
    [first] = gate.decide(request(1), [(HOUSING, Purpose.CARE_COORDINATION)], T0)
    gate.registry.revoke("c-1", T0 + timedelta(minutes=5), "user:ana")
    _, cancelled = gate.on_consent_change(PERSON, T0 + timedelta(minutes=5), "consent:0@1")
    assert [(c.referral_id, c.reason) for c in cancelled] == [(first.referral_id, "consent revoked")]

    [second] = gate.decide(request(2), [(HOUSING, Purpose.CARE_COORDINATION)], T0 + timedelta(days=1))
    assert gate.expire(T0 + timedelta(days=30)) == []
    expired = gate.expire(T0 + timedelta(days=31, minutes=1))
    assert [c.referral_id for c in expired] == [second.referral_id] and "30 days" in expired[0].reason
    assert [c.referral_id for c in gate.expire(T0 + timedelta(days=32))] == [second.referral_id]  # until confirmed
    gate.confirm(expired)
    assert gate.expire(T0 + timedelta(days=33)) == [] and gate.worklist() == []


def test_a_registry_that_cannot_be_read_holds(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/empty.db")  # not migrated: every read fails
    gate = Gate(store, load_policy())
    decisions = gate.decide(request(pathway=Pathway.FIRST_RESPONDER), [(CLINIC, Purpose.TREATMENT)], T0)
    assert [d.outcome for d in decisions] == [Outcome.HOLD] and "fail closed" in decisions[0].reasons[0]
    store.close()


def test_a_consent_belongs_to_one_person_and_round_trips_as_fhir(gate):
    gate.registry.put(PERSON, consent(), T0, "user:ana")
    other = r.PersonKey(person_token="tok-2", key_version=1)
    with pytest.raises(ConsentError):
        gate.registry.put(other, consent(), T0, "user:ana")
    person, record = gate.registry.find("c-1")
    assert from_fhir(to_fhir(person, record)) == (PERSON, record)
    [(published, actor)] = gate.registry.unpublished()
    assert published.registry_version == 1 and actor == "user:ana"
    gate.registry.mark_published(published)
    assert gate.registry.unpublished() == []


def _delivery(release) -> r.Delivery:
    d = release.decision
    return r.Delivery(envelope=release.request.envelope, delivery_id=f"{d.referral_id}:m", referral_id=d.referral_id,
                      recipient_id=d.recipient_id, endpoint=r.Endpoint(kind="inbox", address="x"),
                      format="fhir-r4", message_id="m", content_type="application/fhir+json", payload=b"{}",
                      decision=d, person=release.request.person)


def test_signers_expiry_event_tpo_and_recipient_classes_round_trip_as_fhir():
    from pipeline.vocab import SignerCapacity
    record = consent(cid="c-9", kind=ConsentKind.PART2, tpo=True, general_designation=True, recipients=[],
                     period_end=None, expiry_event="none", signed_by=[SignerCapacity.PATIENT, SignerCapacity.GUARDIAN],
                     signer="form:mother")
    resource = to_fhir(PERSON, record)
    assert from_fhir(resource) == (PERSON, record)
    auth = consent(cid="c-10", kind=ConsentKind.HIPAA_AUTHORIZATION, recipients=[], recipient_classes=["other"],
                   expiry_event="end of the housing search")
    assert from_fhir(to_fhir(PERSON, auth)) == (PERSON, auth)
    bad = {**resource, "extension": [{"url": "urn:handoff:consent-signed-by", "valueCode": "neighbour"}]}
    with pytest.raises(ConsentError, match="consent-signed-by"):
        from_fhir(bad)


def test_a_released_hold_is_decided_for_the_recipient_the_hold_was_made_for(gate):
    """The hold keeps every type of its recipient: released again, the decision still sees a
    co-responder that is a Part 2 programme (the types the policy's rules and consent classes name)."""
    team = Recipient("team-crisis", "health-care-provider", part2_programme=True, co_responder=True)
    [held] = gate.decide(request(), [(team, Purpose.CARE_COORDINATION)], T0)
    assert held.outcome == Outcome.HOLD and held.recipient_types == ["co-responder", "health-care-provider"]
    gate.registry.put(PERSON, consent(recipients=("team-crisis",)), T0 + timedelta(hours=1), "user:ana")
    [released], _ = gate.on_consent_change(PERSON, T0 + timedelta(hours=1), "consent:0@1")
    assert released.decision.recipient_types == held.recipient_types
    assert released.decision.outcome == Outcome.PERMIT
