"""A consent flag from the field (ePCR custom element, field referral) is a *proposed* consent."""
from __future__ import annotations

from datetime import date

from pipeline import records as r
from pipeline.app import Deps, classify_run, field_requests
from pipeline.clock import FixedClock
from pipeline.consent import Recipient, flagged_in_field, flagged_in_run
from pipeline.settings import Settings
from pipeline.stage import Context
from pipeline.topics import Catalogue
from pipeline.vocab import ConsentStatus, Outcome, Pathway, Purpose, Service
from tests.support.factory import T0, envelope, ems_run

PERSON = r.Person(family="Haddad", given="Quinn", birth_date=date(1979, 9, 9), sex="F",
                  address=r.Address(county="Sangamon"))


def deps(tmp_path) -> Deps:
    from pipeline.storage import open_store

    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    return Deps.build(Settings(environment="test"), Catalogue("unit"), store, {}, FixedClock(T0))


def ctx(stage: str, topic: str) -> Context:
    return Context(stage, r.SourceRef(topic=topic, record_id="x"), FixedClock(T0), "0" * 32)


def test_flags_are_read_from_custom_results_and_field_status():
    flagged = ems_run(custom_results=[r.CustomResult(element_id="itCustom.ConsentToReferral", value="9923003")])
    elements = frozenset({"itCustom.ConsentToReferral"})
    assert flagged_in_run(flagged, elements)
    assert not flagged_in_run(ems_run(custom_results=[r.CustomResult(element_id="itCustom.ConsentToReferral",
                                                                     value="no")]), elements)
    assert not flagged_in_run(flagged, frozenset({"another.element"}))
    assert not flagged_in_field(r.FieldReferral(envelope=envelope("F"), agency_id="pd", referral_id="F",
                                                referrer_role="officer", pathway=Pathway.SELF_REFERRAL,
                                                subject=PERSON, consent_status="none"))


async def test_a_flagged_field_referral_and_epcr_create_a_proposed_consent_that_never_permits(tmp_path):
    d = deps(tmp_path)
    referral = r.FieldReferral(envelope=envelope("FR-9", system="field:pd-7"), agency_id="pd-7", referral_id="FR-9",
                               referrer_role="officer", pathway=Pathway.OFFICER_PREVENTION, subject=PERSON,
                               services=[Service.PEER_RECOVERY], consent_status="verbal")
    result = await field_requests(d, referral, ctx("field-requests", "field.referral"))
    field_request = result.outputs[0].value
    person = field_request.person
    [proposed] = d.gate.registry.consents(person)
    assert proposed.status == ConsentStatus.PROPOSED and proposed.missing_elements
    await field_requests(d, referral, ctx("field-requests", "field.referral"))  # the same flag twice is one proposal
    assert len(d.gate.registry.consents(person)) == 1

    run = ems_run("PCR-C", patient=PERSON,
                  custom_results=[r.CustomResult(element_id="itCustom.ConsentToReferral", value="Yes")])
    result = await classify_run(d, run, ctx("classify-run", "ems.run"))
    requests = [o.value for o in result.outputs if o.topic == "referral.request"]
    assert requests and len(d.gate.registry.consents(requests[0].person)) == 2
    peer = Recipient.of(d.directory.current().get("org-peer-recovery"))
    [decision] = d.gate.decide(field_request, [(peer, Purpose.CARE_COORDINATION)], T0)
    assert decision.outcome == Outcome.HOLD  # proposed consents permit nothing
    d.store.close()
