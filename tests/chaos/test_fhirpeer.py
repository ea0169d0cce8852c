"""What the FHIR server holds, as the checker's rows (tests/chaos/fhirpeer.py): pure, no server."""
from __future__ import annotations

from types import SimpleNamespace

from pipeline.render.ids import resource_uuid, uuid_of
from tests.chaos import fhirpeer


def _provenance(message_id: str, referral: str, activity: str, updated: str = "2026-12-02T03:00:00.000+00:00"):
    return {"resourceType": "Provenance", "id": uuid_of(message_id, "provenance"),
            "meta": {"versionId": "1", "lastUpdated": updated},
            "target": [{"reference": f"urn:uuid:{resource_uuid(referral, 'task')}"},
                       {"reference": f"urn:uuid:{resource_uuid(referral, 'service-request')}"}],
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": activity}]}}


def test_each_message_the_server_holds_is_named_by_the_outbox():
    outbox = [SimpleNamespace(message_id="M1", referral_id="ref-a"), SimpleNamespace(message_id="M2", referral_id="ref-a")]
    held = [_provenance("M1", "ref-a", "CREATE"), _provenance("M2", "ref-a", "UPDATE"),
            _provenance("M9", "ref-z", "CREATE")]  # a message no decision names (say, idempotency off)
    rows = fhirpeer.messages("fhir-clinic", held, *fhirpeer.index(outbox))
    assert [(r["recipient_id"], r["referral_id"], r["message_id"], r["action"]) for r in rows] == [
        ("fhir-clinic", "ref-a", "M1", "create"), ("fhir-clinic", "ref-a", "M2", "update"),
        ("fhir-clinic", resource_uuid("ref-z", "task"), uuid_of("M9", "provenance"), "create")]
    assert rows[0]["at"] == 1796180400.0
