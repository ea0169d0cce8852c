"""Which of the campaign's inputs must make a referral request and which must not, stated from what
the campaign generated (its own fields, not Handoff's detection or routing code). The senders
(tests/chaos/edges.py) keep one row per input; `write` puts them in the dump as must_refer.jsonl,
{"input", "id", "refer", "requests", "why"} (`requests`: how many distinct requests it must make at least),
and tests/chaos/checker.py joins them with requests.jsonl: a request names an input by its source
record's id (a field referral's own id) or by its incident number.

- field: an officer's referral the edge took asks for a request per service it names, whatever its
  pathway and consent status. Mirrors pipeline/episode `field_requests` (one request per
  `referral.services`, no other condition) and pipeline/app.py `field_requests` (the consent status
  only proposes a consent to capture, `flagged_in_field`; permit, deny or hold is decided after the
  request, by route-decide-render).
- cad, call: a CAD row or a 911 call's EIDO version refers when it is closed as "referred to partner
  agency" (APCO disposition 15) and its call type names a need Handoff serves; anything else does
  not. Mirrors connectors/field/dispatch.py `referrals_from_incidents` and its table
  (connectors/field/partner_referral.yaml), restated below for the call types the campaign sends:
  tests/unit/connectors/cad_gen.py's (MVC and FIRE name no need) and connectors/cad/samples.py's
  crisis call (EDP, disposition 15 once closed) and traffic call (TRAFFIC, never closed).

Left out: the EMS runs. Whether a run refers is the detector's verdict and the routing rules' grounds
(the corpus's labels are what the detector is measured against, not what it decides); the campaign
checks every run sent was detected, and tests/chaos/test_wire.py that each arrives as generated.
"""
from __future__ import annotations

import json
from pathlib import Path

PARTNER_AGENCY = "15"  # APCO ANS 1.111.2 disposition: referred to partner agency
NEEDS = {"OD": "sud-treatment", "INTOX": "sud-treatment", "EDP": "mh-crisis-followup",
         "SUICTHRT": "mh-crisis-followup", "WELFARE": "peer-recovery"}  # of the call types sent


def field(item: dict) -> dict:
    """An officer's field referral (the JSON item the campaign posted)."""
    services = item["services"]
    return {"input": "field", "id": item["referral_id"], "refer": bool(services), "requests": len(services),
            "why": f"{item['pathway']}, consent {item['consent_status']}, {len(services)} services"}


def dispatched(kind: str, incident: str, call_type: str, disposition: str) -> dict:
    """A CAD row or a 911 call (`kind`: "cad", "call") by its incident number, call type and disposition."""
    need = NEEDS.get(call_type) if disposition == PARTNER_AGENCY else None
    return {"input": kind, "id": incident, "refer": need is not None, "requests": int(need is not None),
            "why": f"{call_type}, disposition {disposition or 'none'}" + (f": {need}" if need else "")}


def write(dump: Path, inputs: list[dict]) -> None:
    (dump / "must_refer.jsonl").write_text("".join(json.dumps(x) + "\n" for x in inputs))
