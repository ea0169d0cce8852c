"""Generated inputs: every render is valid in its format, leaks nothing its variant withholds, and
never raises (200 examples: ~30 s of CPU here, each Bundle and REF also validated by the models,
hl7apy and the profile and table checks)."""
from __future__ import annotations

import email
from datetime import date, datetime, timedelta, timezone
from email import policy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.hl7v2 import read
from pipeline import records as r
from pipeline.ids import referral_id
from pipeline.render import default_redaction, referring_party, render, render_cancel
from pipeline.render.content import clean
from pipeline.route import Provider
from pipeline.vocab import Basis, Category, Format, Outcome, Pathway, Purpose, Service, Variant
from tests.unit.render.hl7_tables import ref_problems, table_problems
from tests.unit.render.support import valid_bundle, valid_ref

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CODES = ["T40.1X1A", "T40.411A", "F11.20", "F10.92", "F32.9", "R45.851", "T14.91", "X78.9XXA", "T42.4X2A",
         "R06.89", "R51.9", "Z91.5", "T43.621A", "bad code", "", "F1", "t40.1"]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc))
ids_ = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_. |^&~\\", min_size=1, max_size=20).filter(lambda s: s.strip())


@st.composite
def coded(draw, system=ICD):
    return r.Coded(code=draw(st.sampled_from(CODES) | text), system=draw(st.sampled_from([system, "", "ICD-10-CM"])),
                   pn=draw(st.sampled_from(["", "", "8801031"])), nil=draw(st.sampled_from(["", "", "7701003"])))


@st.composite
def person(draw):
    address = draw(st.none() | st.builds(r.Address, street=text, city=text | st.just("213415"), county=text,
                                         state=text | st.sampled_from(["IL", "09"]), zip=text,
                                         county_code=st.sampled_from(["", "17167", "99999"])))
    return r.Person(family=draw(text), given=draw(text), middle=draw(text), phone=draw(text), language=draw(text),
                    sex=draw(st.sampled_from(["F", "M", "U", "", "X"])), address=address,
                    birth_date=draw(st.none() | st.dates(date(1900, 1, 1), date(2025, 1, 1))))


def _a_notice_or_none(notice: str) -> bool:
    """What decide() can put on a decision: no notice (not a Part 2 disclosure) or the policy's, which is
    never blank (a policy with a blank part2_notice does not load: tests/unit/consent/test_policy.py)."""
    return notice == "" or clean(notice) != ""


@st.composite
def scenario(draw):
    at = draw(times)
    key = r.IncidentKey(dispatch_centre=draw(ids_), incident_number=draw(ids_))
    env = r.Envelope(event_id="e", source_system=draw(ids_), source_record_id=draw(ids_), occurred_at=at,
                     ingested_at=at, correlation_id="c")
    meds = [r.Medication(drug=draw(coded("http://www.nlm.nih.gov/research/umls/rxnorm")).model_copy(
        update={"code": draw(st.sampled_from(["7242", "203192", "1819", "x"]))}),
        route=draw(st.sampled_from(["9927017", "", "zz"])), response=draw(st.sampled_from(["9916001", "", "q"])),
        dose=draw(st.none() | st.floats(0, 1000, allow_nan=False)),
        dose_unit=draw(st.sampled_from(["3706021", "3706043", "", "x"])),
        administered_by=draw(st.sampled_from(["9905047", "", "x"])),
        given_prior=draw(st.booleans()), given_at=draw(st.none() | times)) for _ in range(draw(st.integers(0, 2)))]
    run = r.EmsRun(envelope=env, key=key, agency_id=draw(ids_), agency_name=draw(text), pcr_number=draw(ids_),
                   patient=draw(person()), primary_impression=draw(coded()),
                   secondary_impressions=draw(st.lists(coded(), max_size=3)), primary_symptom=draw(coded()),
                   other_symptoms=draw(st.lists(coded(), max_size=2)), medications=meds,
                   alcohol_drug_indicators=draw(st.lists(coded("nemsis:eHistory.17"), max_size=2)),
                   times=r.EmsTimes(psap_call=draw(st.none() | times), in_service=draw(st.none() | times)))
    field = r.FieldReferral(envelope=env.model_copy(update={"source_record_id": draw(ids_)}), agency_id=draw(ids_),
                            referral_id=draw(ids_), referrer_role=draw(text), referrer_id=draw(text),
                            pathway=Pathway.SELF_REFERRAL, subject=draw(person()), note=draw(text))
    categories = draw(st.lists(st.sampled_from(list(Category)), unique=True))
    request = r.ReferralRequest(
        envelope=env, request_id="req", person=r.PersonKey(person_token=draw(ids_), key_version=1),
        episode_id=draw(ids_), service=draw(st.sampled_from(list(Service))), categories=categories,
        reasons=[r.Evidence(category=draw(st.sampled_from(list(Category))), rule_id="x",
                            field=draw(st.sampled_from(["eSituation.11", "eSituation.09", "eNarrative.01"])),
                            code=draw(st.sampled_from(CODES))) for _ in range(draw(st.integers(0, 3)))],
        source_records=[r.SourceRef(topic="ems.run", record_id=run.envelope.source_record_id),
                        r.SourceRef(topic="field.referral", record_id=field.envelope.source_record_id)],
        revision=draw(st.integers(1, 5)), subject=draw(st.none() | person()), incident=draw(st.none() | st.just(key)),
        referring_agency=draw(st.sampled_from(["", "ems-012", "a b|c"])))
    kind = draw(st.sampled_from(["fhir-rest", "hl7v2-mllp", "direct", "inbox", "webhook"]))
    provider = Provider(id=draw(ids_), name=draw(text), health_care_provider=draw(st.booleans()), accepting=True,
                        services=frozenset(Service), endpoint=r.Endpoint(kind=kind, address=draw(ids_)))
    variant = draw(st.sampled_from(list(Variant)))
    basis = draw(st.sampled_from(list(Basis)))
    decision = r.Decision(referral_id=referral_id(request, provider.id), request_id="req", recipient_id=provider.id,
                          purpose=draw(st.sampled_from(list(Purpose))), outcome=Outcome.PERMIT, variant=variant,
                          basis=basis, consent_id=draw(st.sampled_from(["", "c-1", "c 2|x"])), policy_version=draw(text),
                          decided_at=at + timedelta(minutes=1), notice=draw(st.sampled_from(["", "notice"]) | text.filter(_a_notice_or_none)),
                          consent_scope=draw(text), consent_signed_at=draw(st.none() | times))
    return request, [run, field], decision, provider


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_every_render_is_valid_and_withholds_what_its_variant_withholds(case):
    request, sources, decision, provider = case
    for fmt in (Format.FHIR_R4, Format.HL7V2, Format.DIRECT):
        payload = render(request, sources, decision, provider, redaction=default_redaction(), format=fmt)
        assert payload.body == render(request, sources, decision, provider, redaction=default_redaction(),
                                      format=fmt).body
        assert len(payload.message_id) <= 20
        if fmt == Format.FHIR_R4:
            valid_bundle(payload.body, decision.variant)
        elif fmt == Format.HL7V2:
            valid_ref(payload.body)
            assert read(payload.body).get(read(payload.body).first("RF1"), 6) == decision.referral_id
        else:
            mail = email.message_from_bytes(payload.body, policy=policy.default)
            valid_bundle(list(mail.iter_parts())[1].get_content(), decision.variant)
    for fmt in (Format.FHIR_R4, Format.HL7V2):
        cancel = render_cancel(decision.referral_id, request.person, provider, decision.policy_version,
                               decision.decided_at, referring=referring_party(request, sources), format=fmt)
        if fmt == Format.FHIR_R4:
            valid_bundle(cancel.body)
        else:  # the structure is the golden cancel's; the tables are checked on every one
            assert table_problems(cancel.body) + ref_problems(cancel.body) == []
