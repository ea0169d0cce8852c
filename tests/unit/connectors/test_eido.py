"""NENA EIDO: an overdose incident we write ourselves, the partial real-shaped sample, hostile input."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pytest

from connectors.cad import parse_eido
from connectors.cad.eido import resolve
from connectors.common import Parsed, Refused
from pipeline.records import Address
from tests.unit.connectors.helpers import make_ctx, records, shared_file

PIDF = ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:x@example.org">'
        '<tuple id="t1"><status><gp:geopriv><gp:location-info>'
        '<ca:civicAddress><ca:country>US</ca:country><ca:A1>CT</ca:A1><ca:A2>Fairfield</ca:A2>'
        '<ca:A3>Danbury</ca:A3><ca:HNO>285</ca:HNO><ca:RD>Main</ca:RD><ca:STS>Street</ca:STS>'
        '<ca:PC>06810</ca:PC></ca:civicAddress>'
        '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>41.396 -73.453</gml:pos></gml:Point>'
        '</gp:location-info></gp:geopriv></status></tuple></presence>')


def overdose_doc() -> dict:
    return {
        "$id": "urn:emergency:uid:incidentid:0001:psap.example.org",
        "lastUpdateTimeStamp": "2024-10-07T20:31:00-04:00",
        "eidoVersion": "1.0",
        "issuingElementIdentification": "cad.psap-north.example.org",
        "incidentComponent": [{
            "$id": "inc-1", "internalIncidentId": "24-46512",
            "incidentTypeCommonRegistryText": ["OD"], "incidentTypeInternalCode": "23C5",
            "incidentTypeInternalText": "Overdose - narcotics", "incidentCommonPriorityNumber": 8,
            "incidentStatusCommonRegistryText": ["Dispatched", "OnScene"],
            "locationReference": [{"$ref": "loc-dangling"}, {"$ref": "loc-1"}],
        }],
        "callComponent": [{"$id": "call-1", "callStartTimestamp": "2024-10-07T20:20:00-04:00",
                           "locationReference": [{"$ref": "loc-1"}]}],
        "locationComponent": [{"$id": "loc-1", "locationByValue": PIDF},
                              {"$id": "loc-2", "locationByReferenceUrl": "https://lis.invalid/never-fetched"}],
        "personComponent": [
            {"$id": "p-1", "personIncidentRoleRegistryText": ["Patient"]},
            {"$id": "p-2", "personIncidentRoleRegistryText": ["Reporting Party"], "callBackReference": {"$ref": "cb-1"}},
        ],
        "callbackComponent": [{"$id": "cb-1", "callBackInformationUri": ["sip:x@example.org", "tel:+12035550100"]}],
        "notesComponent": [{"$id": "n-1", "notesActionComments": "<p>Caller reports male <b>unresponsive</b>,"
                                                                 " possible heroin &amp; fentanyl.</p>"},
                           {"$id": "n-2", "notesActionComments": "Narcan given by PD."}],
        "emergencyResourceComponent": [{"$id": "res-1", "emergencyResourceIdentifier": "M12"},
                                       {"$id": "res-2", "emergencyResourceIdentifier": "E7"}],
        "dispositionComponent": [{"$id": "d-1", "dispositionCommonRegistryText": ["45"]}],
        "agencyComponent": [{"$id": "a-1", "agencyReference": {"$ref": "a-1"}}],
    }


def _parse(doc: dict, ctx):
    return parse_eido(json.dumps(doc).encode(), ctx)


def test_overdose_incident_fields(ctx):
    (incident,) = records(_parse(overdose_doc(), ctx))
    assert incident.key.incident_number == "24-46512"
    assert incident.key.dispatch_centre == "psap-cad.psap-north.example.org"
    assert (incident.call_type, incident.call_type_internal, incident.call_type_text) == (
        "OD", "23C5", "Overdose - narcotics")
    assert (incident.priority, incident.status, incident.dispositions) == (8, ["Dispatched", "OnScene"], ["45"])
    assert incident.received_at == datetime(2024, 10, 7, 20, 20, tzinfo=timezone(timedelta(hours=-4)))
    assert incident.location == Address(street="285 Main Street", city="Danbury", county="Fairfield", state="CT",
                                        zip="06810", latitude=41.396, longitude=-73.453)
    assert [(p.role, p.phone) for p in incident.persons] == [("patient", ""), ("reporting-party", "+12035550100")]
    assert incident.units == ["M12", "E7"]
    assert incident.narrative == "Caller reports male  unresponsive , possible heroin & fentanyl.\nNarcan given by PD."
    env = incident.envelope
    assert (env.source_system, env.source_record_id) == ("eido:cad.psap-north.example.org", "24-46512")
    assert env.source_record_version == int(datetime(2024, 10, 8, 0, 31, tzinfo=timezone.utc).timestamp())


def test_record_id_falls_back_to_document_id(ctx):
    doc = overdose_doc()
    del doc["incidentComponent"][0]["internalIncidentId"]
    (incident,) = records(_parse(doc, ctx))
    assert incident.key.incident_number == "urn:emergency:uid:incidentid:0001:psap.example.org"


def test_versions_and_exact_repeats(ctx):
    first = records(_parse(overdose_doc(), ctx))[0].envelope
    repeat = records(parse_eido(json.dumps(overdose_doc(), indent=2).encode(), make_ctx(sender="other")))[0].envelope
    assert repeat.event_id == first.event_id
    closed = overdose_doc()
    closed["lastUpdateTimeStamp"] = "2024-10-07T21:10:00-04:00"
    closed["incidentComponent"][0]["incidentStatusCommonRegistryText"] = ["Closed"]
    later = records(_parse(closed, ctx))[0].envelope
    assert later.source_record_id == first.source_record_id and later.event_id != first.event_id
    assert later.source_record_version - first.source_record_version == 39 * 60


def test_cycles_and_dangling_refs_are_tolerated():
    components = {"a": {"$ref": "b"}, "b": {"$ref": "a"}, "c": {"$id": "c", "x": 1}}
    assert resolve({"$ref": "a"}, components) is None
    assert resolve({"$ref": "missing"}, components) is None
    assert resolve({"$ref": "c"}, components) == {"$id": "c", "x": 1}
    assert resolve({"$ref": 7}, components) is None


def test_cyclic_document_still_parses(ctx):
    doc = overdose_doc()
    doc["locationComponent"].insert(0, {"$id": "loc-x", "locationReference": {"$ref": "loc-x"}})
    doc["incidentComponent"][0]["locationReference"] = [{"$ref": "loc-y"}]
    doc["locationComponent"].append({"$ref": "loc-y"})
    (incident,) = records(_parse(doc, ctx))
    assert incident.location.city == "Danbury"


def test_location_by_reference_is_never_used(ctx):
    doc = overdose_doc()
    doc["locationComponent"] = [doc["locationComponent"][1]]
    (incident,) = records(_parse(doc, ctx))
    assert incident.location is None


def test_hostile_pidf_is_ignored_not_followed(ctx):
    doc = overdose_doc()
    doc["locationComponent"][0]["locationByValue"] = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence>&x;</presence>')
    (incident,) = records(_parse(doc, ctx))
    assert incident.location is None


def test_call_transfer_sample_is_read_with_what_it_has(ctx):
    results = parse_eido(shared_file("cad/eido-call-transfer-sample.json").read_bytes(), ctx)
    (incident,) = records(results)
    assert incident.key.incident_number == "urn:emergency:uid:incidentid:a56e556d871:bcf.state.pa.us"
    assert incident.envelope.source_system == "eido:idx.state.pa.us"
    assert incident.call_type == "" and incident.priority is None
    assert incident.location == Address(street="42 W Cellular Street", city="Wilmington", state="DE")
    assert [(p.role, p.phone) for p in incident.persons] == [("caller", "8195551212")]
    assert incident.received_at == datetime(2021, 4, 30, 14, 40, tzinfo=timezone(timedelta(hours=-4)))
    assert "lrf.osp.com" not in incident.model_dump_json()


@pytest.mark.parametrize("data, reason", [
    (b"", "EIDO document is not JSON (line 1, column 1)"),
    (b"[1, 2]", "EIDO document is not a JSON object"),
    (b"\xff\xfe{}", "EIDO document is not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "EIDO document nests too deeply"),
    (b'{"$id": "x"}', "EIDO document names no issuer (issuingElementIdentification)"),
    (b'{"issuingElementIdentification": "i", "incidentComponent": [{}]}',
     "EIDO incident has neither internalIncidentId nor a document $id"),
])
def test_unreadable_documents_are_refused(data, reason, ctx):
    (refused,) = parse_eido(data, ctx)
    assert isinstance(refused, Refused) and refused.reason == reason


def test_size_limit(ctx):
    (refused,) = parse_eido(json.dumps(overdose_doc()).encode(), ctx, max_bytes=100)
    assert refused.reason.endswith("over the 100-byte limit")


def test_two_incidents_give_two_records(ctx):
    doc = overdose_doc()
    second = copy.deepcopy(doc["incidentComponent"][0]) | {"internalIncidentId": "24-46513"}
    doc["incidentComponent"].append(second)
    assert [r.record.key.incident_number for r in _parse(doc, ctx) if isinstance(r, Parsed)] == ["24-46512", "24-46513"]


@pytest.mark.parametrize("internal,expected", [("23C5", "23C5"), ("25-B-03", "25-B-03"), ("OD2", ""), ("", "")])
def test_determinant_from_the_internal_type_code(ctx, internal, expected):
    doc = overdose_doc()
    doc["incidentComponent"][0]["incidentTypeInternalCode"] = internal
    (incident,) = records(parse_eido(json.dumps(doc).encode(), ctx))
    assert incident.mpds_determinant == expected
