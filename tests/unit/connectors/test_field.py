"""Field referrals (JSON, CSV) and CAD partner-agency referrals (APCO 15): pure parsing."""
from __future__ import annotations

import json

import pytest

from connectors.common import Parsed, Refused
from connectors.field import parse_field_referrals, referrals_from_incidents
from connectors.cad import parse_eido
from pipeline.vocab import Pathway, Service
from tests.unit.connectors.helpers import make_ctx, records, refusals
from tests.unit.connectors.test_eido import overdose_doc

POLICE = make_ctx(sender="pd-7")


def referral(**changes) -> dict:
    base = {"referral_id": "FR-1", "referred_at": "2025-03-01T10:00:00-05:00", "pathway": "officer-intervention",
            "referrer": {"role": "officer", "id": "badge-41"},
            "person": {"family": "Rivera", "given": "Sam", "birth_date": "1990-02-03", "sex": "m",
                       "address": {"street": "1 Main Street", "city": "Danbury"}},
            "services": ["sud-treatment", "sud-treatment", "peer-recovery"], "consent_status": "proposed",
            "incident_number": "24-1", "note": "asked for help"}
    return base | changes


def parse_json(value, ctx=POLICE) -> list:
    return parse_field_referrals(json.dumps(value).encode(), ctx, content_type="application/json")


def test_a_json_referral_becomes_a_field_referral_of_the_sending_agency():
    [result] = parse_json(referral())
    rec = result.record
    assert (rec.agency_id, rec.referral_id, rec.referrer_role, rec.referrer_id) == ("pd-7", "FR-1", "officer", "badge-41")
    assert rec.pathway is Pathway.OFFICER_INTERVENTION and rec.services == [Service.SUD_TREATMENT, Service.PEER_RECOVERY]
    assert rec.subject.sex == "M" and rec.subject.birth_date.isoformat() == "1990-02-03"
    assert rec.subject.address.city == "Danbury" and rec.incident.dispatch_centre == "psap-pd-7"
    env = rec.envelope
    assert (env.sender, env.source_system, env.source_record_version) == ("pd-7", "field:pd-7", 1740841200)


def test_list_and_wrapped_forms_and_repeats_have_the_same_event_ids():
    one = parse_json([referral(), referral(referral_id="FR-2")])
    two = parse_json({"referrals": [referral(), referral(referral_id="FR-2")]})
    assert [r.record.envelope.event_id for r in one] == [r.record.envelope.event_id for r in two]
    changed = parse_json(referral(note="changed"))[0].record.envelope.event_id
    assert changed != one[0].record.envelope.event_id


@pytest.mark.parametrize("changes, reason", [
    ({"referral_id": ""}, "referral has no referral_id"),
    ({"agency_id": "pd-9"}, "agency_id differs from the authenticated sender"),
    ({"pathway": "arrest"}, "pathway must be one of"),
    ({"referrer": {}}, "referral does not say who referred"),
    ({"services": ["jail"]}, "services must be among"),
    ({"consent_status": "maybe"}, "consent_status must be one of"),
    ({"referred_at": "yesterday"}, "referred_at is not an ISO 8601 time"),
    ({"person": {"given": "Sam", "birth_date": "03/02/1990"}}, "person.birth_date is not an ISO date"),
    ({"person": {"sex": "F"}}, "referral gives no way to reach the person"),
])
def test_bad_referrals_are_refused_with_a_reason_and_no_values(changes, reason):
    [refused] = parse_json(referral(**changes))
    assert isinstance(refused, Refused) and refused.reason.startswith(reason)
    assert "Rivera" not in refused.reason + "".join(refused.detail)


def test_csv_rows_each_become_a_referral_or_a_refusal():
    data = ("\ufeffreferral_id,pathway,referrer_role,given,phone,services,consent_status,incident_number,note\r\n"
            "FR-1,self-referral,self,Alex,555-0100,sud-treatment; peer-recovery,verbal,,\"walked in,\nasked\"\r\n"
            "FR-2,nope,self,Jo,,,none,,\r\n").encode()
    results = parse_field_referrals(data, POLICE, content_type="text/csv")
    [rec] = records(results)
    assert rec.services == [Service.SUD_TREATMENT, Service.PEER_RECOVERY] and rec.note == "walked in,\nasked"
    assert rec.incident is None and rec.subject.phone == "555-0100"
    assert [(r.record_id, r.detail) for r in refusals(results)] == [("FR-2", ("row 4",))]


@pytest.mark.parametrize("data, content_type, reason", [
    (b"{not json", "application/json", "document is not valid JSON"),
    (b"[1, 2]", "application/json", "each referral must be a JSON object"),
    (b"[]", "application/json", "document holds no referral"),
    (b"name,pathway\r\nx,self-referral\r\n", "text/csv", "CSV header has no referral_id column"),
    (b"\xff\xfe", "text/csv", "document is not UTF-8"),
])
def test_unreadable_documents_are_one_refusal(data, content_type, reason):
    [refused] = parse_field_referrals(data, POLICE, content_type=content_type)
    assert isinstance(refused, Refused) and refused.record_id is None and refused.reason.startswith(reason)


def _incident(dispositions: list[str], call_type: str = "OD"):
    doc = overdose_doc()
    doc["dispositionComponent"] = [{"$id": "d-1", "dispositionCommonRegistryText": dispositions}]
    doc["incidentComponent"][0]["incidentTypeCommonRegistryText"] = [call_type]
    return parse_eido(json.dumps(doc).encode(), make_ctx(sender="psap-north"))


def test_apco_15_on_a_served_call_type_becomes_a_referral_keyed_to_the_incident():
    ctx = make_ctx(sender="psap-north")
    results = _incident(["43", "15"])
    [derived] = referrals_from_incidents(results, ctx)
    rec = derived.record
    incident = results[0].record
    assert rec.incident == incident.key and rec.agency_id == incident.key.dispatch_centre
    assert rec.referral_id == f"cad-{incident.key.incident_number}" and rec.services == [Service.SUD_TREATMENT]
    assert rec.subject.role == "patient" and rec.pathway is Pathway.FIRST_RESPONDER and rec.consent_status == "none"
    assert rec.envelope.correlation_id == incident.envelope.correlation_id  # meets its incident downstream
    later = _incident(["15"])  # another version of the incident, same referral content → same event
    assert referrals_from_incidents(later, ctx)[0].record.envelope.event_id == rec.envelope.event_id


@pytest.mark.parametrize("dispositions, call_type", [(["45"], "OD"), (["15"], "FIRE"), ([], "EDP")])
def test_no_referral_without_apco_15_or_for_a_call_type_not_served(dispositions, call_type):
    assert referrals_from_incidents(_incident(dispositions, call_type), make_ctx()) == []


def test_mental_health_call_types_ask_for_crisis_follow_up():
    [derived] = referrals_from_incidents(_incident(["15"], "SUICTHRT"), make_ctx())
    assert isinstance(derived, Parsed) and derived.record.services == [Service.MH_CRISIS_FOLLOWUP]
