"""Who a dispatch-time alert goes to and what it carries (pipeline/alerts.py): the on-duty
co-responder team the consent policy permits (rule dispatch-alert, purpose emergency-response);
never police, never an off-duty team, never a call that is not behavioural health; a closed call
withdraws; the content is the policy's minimum, names no person and no substance."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import time

from pipeline import records as r
from pipeline.alerts import content, plan
from pipeline.consent import load_policy
from pipeline.route import DirectorySource, load_routing_rules
from pipeline.route.directory import Directory, Hours
from pipeline.vocab import Basis, Category, Outcome, SourceRole, Variant
from tests.support.factory import T0, at_version, envelope

RULES = load_routing_rules()
POLICY = load_policy()
KEY = r.IncidentKey(dispatch_centre="psap-north", incident_number="CAD-2026-0042")
CALLER = r.Person(role="caller", family="Neighbourname", given="Pat", phone="+1 217 555 0199")
INCIDENT = r.DispatchIncident(
    envelope=envelope("CAD-2026-0042", system="eido:psap-north").model_copy(
        update={"source_role": SourceRole.DISPATCH_CENTRE}),
    key=KEY, call_type="EDP", priority=2,
    location=r.Address(street="100 Test St", city="Springfield", latitude=39.8, longitude=-89.65),
    persons=[CALLER], received_at=T0,
    narrative="caller Pat Neighbourname says brother suicidal, has a knife, history of heroin use")
CRISIS = r.Detection(envelope=INCIDENT.envelope, key=KEY, categories=[Category.SUICIDE_RISK,
                     Category.BEHAVIORAL_HEALTH, Category.SUBSTANCE_USE],
                     subject=r.SourceRef(topic="dispatch.incident", record_id="CAD-2026-0042"), rules_version="t")


def directory(*changed) -> Directory:
    """The sample directory with the mobile crisis team (on duty all week) replaced by `changed`."""
    base = DirectorySource().current()
    team = base.get("org-mobile-crisis")
    others = [p for p in base.providers if p.id != team.id]
    return replace(base, providers=(*others, *(replace(team, **c) for c in changed)))


def recipients(found) -> list[str]:
    return [s.provider.id for s in found.send]


def planned(incident=INCIDENT, detection=CRISIS, team=None, alerted=frozenset(), policy=POLICY):
    return plan(incident, detection, directory(team or {}), RULES, policy, T0, alerted)


def test_a_suicide_risk_call_alerts_the_on_duty_co_responder_under_the_dispatch_rule():
    first = planned()
    assert recipients(first) == ["org-mobile-crisis"] and first.withdraw == () and first.refused == ()
    decision = first.send[0].decision
    assert (decision.outcome, decision.basis, decision.variant) == \
        (Outcome.PERMIT_REDACTED, Basis.EMERGENCY_DISPATCH, Variant.NO_SUD)
    assert any("dispatch-alert" in reason for reason in decision.reasons)
    assert any("withheld: sud" in reason for reason in decision.reasons)
    assert (decision.routing_version, decision.directory_version) == (RULES.version, directory().version)
    again = planned(at_version(INCIDENT, 2), alerted=frozenset({"org-mobile-crisis"}))
    assert recipients(again) == ["org-mobile-crisis"] and again.send[0].content["version"] == 2


def test_the_content_is_the_minimum_no_name_no_substance_no_free_text():
    body = content(INCIDENT, CRISIS, POLICY, Variant.NO_SUD)
    assert body["incident_number"] == "CAD-2026-0042" and body["call_type"] == "EDP"
    assert body["location"] == {"street": "100 Test St", "city": "Springfield", "latitude": 39.8, "longitude": -89.65}
    assert body["call_nature"] == ["behavioral_health", "suicide_risk"]
    assert body["safety"] == ["weapon"]
    text = json.dumps(body).lower()
    for never in ("neighbourname", "555", "heroin", "substance", "brother", "knife"):
        assert never not in text, never


def test_the_content_is_what_the_policy_lists_and_never_beyond_its_alert_data():
    only_location = replace(POLICY, alert_content=("location",))
    assert set(content(INCIDENT, CRISIS, only_location, Variant.NO_SUD)) == \
        {"incident_number", "dispatch_centre", "version", "received_at", "location"}
    # a basis permitting the full record (an unregistered centre is read as a Part 2 programme,
    # 2.51) still names no substance: the policy's dispatch_alert.data is the ceiling
    assert content(INCIDENT, CRISIS, POLICY, Variant.FULL)["call_nature"] == ["behavioral_health", "suicide_risk"]
    wider = replace(POLICY, alert_data=POLICY.alert_data | {r.DataCategory.SUD})
    assert "substance_use" in content(INCIDENT, CRISIS, wider, Variant.FULL)["call_nature"]  # the ceiling is data


def test_an_unregistered_dispatch_centre_is_read_as_the_policy_says_and_still_names_no_substance():
    unknown = INCIDENT.model_copy(update={"envelope": INCIDENT.envelope.model_copy(update={"source_role": None})})
    found = planned(unknown)
    assert [s.decision.basis for s in found.send] == [Basis.PART2_MEDICAL_EMERGENCY]
    assert "substance_use" not in found.send[0].content["call_nature"]


def test_an_off_duty_team_gets_nothing():
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[T0.weekday()]
    off = Hours(days=frozenset({weekday}), start=time(8, 0), end=time(16, 0))  # T0 is 02:05
    assert planned(team={"hours": (off,)}).send == ()
    on = Hours(days=frozenset({weekday}), start=time(0, 0), end=time(23, 59, 59))
    assert recipients(planned(team={"hours": (on,)})) == ["org-mobile-crisis"]


def test_a_police_co_responder_gets_nothing_and_the_refusal_is_a_decision():
    for police in ({"law_enforcement": True, "health_care_provider": False}, {"law_enforcement": True}):
        found = planned(team=police)
        assert found.send == ()
        [refused] = found.refused
        assert refused.outcome == Outcome.DENY and refused.recipient_id == "org-mobile-crisis"
        assert "no policy rule permits dispatch-centre to law-enforcement" in refused.reasons[0]


def test_a_co_responder_team_that_is_not_a_health_care_provider_gets_the_minimum():
    found = planned(team={"health_care_provider": False})
    assert recipients(found) == ["org-mobile-crisis"] and found.send[0].decision.basis == Basis.EMERGENCY_DISPATCH


def test_a_call_that_is_not_behavioural_health_alerts_no_one():
    overdose = CRISIS.model_copy(update={"categories": [Category.OVERDOSE, Category.SUBSTANCE_USE]})
    assert planned(detection=overdose).send == ()
    nothing = CRISIS.model_copy(update={"categories": []})
    assert planned(detection=nothing).send == ()


def test_a_closed_call_withdraws_every_alert_sent_or_on_its_way_and_sends_none():
    cleared = at_version(INCIDENT, 3, cleared_at=T0)
    done = planned(cleared, alerted=frozenset({"org-mobile-crisis"}))
    assert done.send == () and done.withdraw == ("org-mobile-crisis",)
    closed = at_version(INCIDENT, 3, dispositions=["15"])
    assert planned(closed, alerted=frozenset({"org-mobile-crisis"})).withdraw == ("org-mobile-crisis",)
    # nothing sent yet: the team the open call alerts may have an alert on its way (a retry tier)
    assert planned(cleared).withdraw == ("org-mobile-crisis",)
    off = Hours(days=frozenset({"mon"}), start=time(8, 0), end=time(8, 1))
    assert planned(cleared, team={"hours": (off,)}).withdraw == ()
