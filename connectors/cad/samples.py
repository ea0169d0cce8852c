"""Made-up NENA EIDO documents (JSON) of 911 calls in the sample directory's city: what the demo
feeds through the EIDO parser, and what the alert tests and the bench POST to the HTTP intake.

    doc = crisis_call("24-90001", at)                          # a live suicide-risk call
    doc = crisis_call("24-90001", at + 60s, units=["MCT1"])    # a later version of it
    doc = crisis_call("24-90001", at + 120s, closed=True)      # the call closed (a disposition)
    doc = traffic_call("24-90002", at)                         # not behavioural health

The location is a civic address and point inside the sample co-responder's service polygon;
the reporting party is a made-up name and number, which no alert may carry.
"""
from __future__ import annotations

from datetime import datetime

ISSUER = "cad.psap-north.example.org"  # settings ingest.agency_dispatch_centre maps it to its centre

PIDF = ('<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" '
        'xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:cad@psap-north.example.org">'
        '<tuple id="t1"><status><gp:geopriv><gp:location-info>'
        '<ca:civicAddress><ca:country>US</ca:country><ca:A1>IL</ca:A1><ca:A2>Sangamon</ca:A2>'
        '<ca:A3>Springfield</ca:A3><ca:HNO>{number}</ca:HNO><ca:RD>Test</ca:RD><ca:STS>Avenue</ca:STS>'
        '<ca:PC>62701</ca:PC></ca:civicAddress>'
        '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>39.80 -89.65</gml:pos></gml:Point>'
        '</gp:location-info></gp:geopriv></status></tuple></presence>')


def crisis_call(incident: str, at: datetime, *, closed: bool = False, units: tuple[str, ...] = (),
                notes: str = "Caller Sam Samplename says her brother is suicidal and has a knife.") -> dict:
    """A live suicide-risk call (EDP), or the same call closed (disposition 15)."""
    return _doc(incident, at, "EDP", "Emotionally disturbed person", 2, notes, closed, units)


def traffic_call(incident: str, at: datetime) -> dict:
    return _doc(incident, at, "TRAFFIC", "Traffic collision, no injuries", 5, "Two cars, minor damage.", False, ())


def _doc(incident: str, at: datetime, call_type: str, text: str, priority: int, notes: str, closed: bool,
         units: tuple[str, ...]) -> dict:
    stamp = at.isoformat()
    doc = {
        "$id": f"urn:emergency:uid:incidentid:{incident}:psap-north.example.org",
        "lastUpdateTimeStamp": stamp, "eidoVersion": "1.0", "issuingElementIdentification": ISSUER,
        "incidentComponent": [{
            "$id": "inc-1", "internalIncidentId": incident, "incidentTypeCommonRegistryText": [call_type],
            "incidentTypeInternalText": text, "incidentCommonPriorityNumber": priority,
            "incidentStatusCommonRegistryText": ["Closed" if closed else "Dispatched"],
            "locationReference": [{"$ref": "loc-1"}]}],
        "callComponent": [{"$id": "call-1", "callStartTimestamp": stamp, "locationReference": [{"$ref": "loc-1"}]}],
        "locationComponent": [{"$id": "loc-1", "locationByValue": PIDF.format(number=100 + sum(map(ord, incident)) % 800)}],
        "personComponent": [{"$id": "p-1", "personIncidentRoleRegistryText": ["Reporting Party"],
                             "callBackReference": {"$ref": "cb-1"}}],
        "callbackComponent": [{"$id": "cb-1", "callBackInformationUri": ["tel:+12175550142"]}],
        "notesComponent": [{"$id": "n-1", "notesActionComments": notes}],
        "emergencyResourceComponent": [{"$id": f"res-{i}", "emergencyResourceIdentifier": unit}
                                       for i, unit in enumerate(units, 1)],
    }
    if closed:
        doc["dispositionComponent"] = [{"$id": "d-1", "dispositionCommonRegistryText": ["15"]}]
    return doc
