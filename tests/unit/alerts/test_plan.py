"""Who a dispatch-time alert goes to and what it carries (pipeline/alerts.py): the on-duty
co-responder team only; never police, never an off-duty team, never a call that is not
behavioural health; a closed call withdraws; the content names no person and no substance."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import time

from pipeline import records as r
from pipeline.alerts import content, plan
from pipeline.route import DirectorySource, load_routing_rules
from pipeline.route.directory import Directory, Hours
from pipeline.vocab import Category
from tests.support.factory import T0, at_version, envelope

RULES = load_routing_rules()
KEY = r.IncidentKey(dispatch_centre="psap-north", incident_number="CAD-2026-0042")
CALLER = r.Person(role="caller", family="Neighbourname", given="Pat", phone="+1 217 555 0199")
INCIDENT = r.DispatchIncident(
    envelope=envelope("CAD-2026-0042", system="eido:psap-north"), key=KEY, call_type="EDP", priority=2,
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
    return [s.recipient.id for s in found.send]


def test_a_suicide_risk_call_alerts_the_on_duty_co_responder_once_then_updates():
    first = plan(INCIDENT, CRISIS, directory({}), RULES, T0, frozenset())
    assert recipients(first) == ["org-mobile-crisis"] and not first.send[0].update and first.withdraw == ()
    again = plan(at_version(INCIDENT, 2), CRISIS, directory({}), RULES, T0,
                 frozenset({"org-mobile-crisis"}))
    assert recipients(again) == ["org-mobile-crisis"] and again.send[0].update
    assert again.send[0].content["version"] == 2


def test_the_content_is_the_minimum_no_name_no_substance_no_free_text():
    body = content(INCIDENT, CRISIS)
    assert body["incident_number"] == "CAD-2026-0042" and body["call_type"] == "EDP"
    assert body["location"] == {"street": "100 Test St", "city": "Springfield", "latitude": 39.8, "longitude": -89.65}
    assert body["call_nature"] == ["behavioral_health", "suicide_risk"]
    assert body["safety"] == ["weapon"]
    text = json.dumps(body).lower()
    for never in ("neighbourname", "555", "heroin", "substance", "brother", "knife"):
        assert never not in text, never


def test_an_off_duty_team_gets_nothing():
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[T0.weekday()]
    off = Hours(days=frozenset({weekday}), start=time(8, 0), end=time(16, 0))  # T0 is 02:05
    assert plan(INCIDENT, CRISIS, directory({"hours": (off,)}), RULES, T0, frozenset()).send == ()
    on = Hours(days=frozenset({weekday}), start=time(0, 0), end=time(23, 59, 59))
    assert recipients(plan(INCIDENT, CRISIS, directory({"hours": (on,)}), RULES, T0, frozenset())) == \
        ["org-mobile-crisis"]


def test_a_police_co_responder_gets_nothing():
    police = {"law_enforcement": True, "health_care_provider": False}
    assert plan(INCIDENT, CRISIS, directory(police), RULES, T0, frozenset()).send == ()
    assert plan(INCIDENT, CRISIS, directory({"law_enforcement": True}), RULES, T0, frozenset()).send == ()


def test_a_call_that_is_not_behavioural_health_alerts_no_one():
    overdose = CRISIS.model_copy(update={"categories": [Category.OVERDOSE, Category.SUBSTANCE_USE]})
    assert plan(INCIDENT, overdose, directory({}), RULES, T0, frozenset()).send == ()
    nothing = CRISIS.model_copy(update={"categories": []})
    assert plan(INCIDENT, nothing, directory({}), RULES, T0, frozenset()).send == ()


def test_a_closed_call_withdraws_every_alert_sent_and_sends_none():
    cleared = at_version(INCIDENT, 3, cleared_at=T0)
    done = plan(cleared, CRISIS, directory({}), RULES, T0, frozenset({"org-mobile-crisis"}))
    assert done.send == () and done.withdraw == ("org-mobile-crisis",)
    closed = at_version(INCIDENT, 3, dispositions=["15"])
    assert plan(closed, CRISIS, directory({}), RULES, T0, frozenset({"org-mobile-crisis"})).withdraw == \
        ("org-mobile-crisis",)
    assert plan(cleared, CRISIS, directory({}), RULES, T0, frozenset()).withdraw == ()
