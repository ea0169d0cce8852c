"""A known input and three test changes for the config tests (issue 24): generated, fixed.

Input (`runs()`, `requests()`): six EMS runs coded F10.92 (alcohol use disorder) in Sangamon
County, four opioid poisonings (T40.1X1A) in Logan County, five fevers (R50.9) in Menard County;
five SUD-treatment requests from an EMS agency (a covered entity) in Sangamon aged 30, 40, 50, 19,
20, and three crisis follow-up requests there aged 30-32. With the shipped rules, routing, sample
directory and policy, their effects are known by construction:

  rules change    C-SUBSTANCE-DISORDER no longer reads F10 (alcohol): the six F10.92 runs lose
                  substance_use, and with it their sud-treatment request.
  routing change  adults are 21 and over; N-SUBSTANCE also asks for peer recovery: the two SUD
                  requests aged 19 and 20 reach nobody (both Sangamon SUD clinics take adults only);
                  the six F10.92 runs also ask for peer recovery.
  policy change   the Illinois layer (states/il.yaml): mental-health information needs a written
                  authorisation even for treatment, so the three crisis follow-ups to the Capital
                  Crisis Line (the largest crisis provider in Sangamon) go from permit to hold.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from pipeline import records as r
from pipeline.detect.ruleset import RULES_DIR
from pipeline.route import RULES_FILE
from pipeline.vocab import Category, Service, SourceRole

SHIPPED_POLICY = Path(__file__).resolve().parents[2] / "pipeline" / "consent"
ALCOHOL = [f"PCR-A{i}" for i in range(1, 7)]
SUD_AGES = {"req-sud-1": 30, "req-sud-2": 40, "req-sud-3": 50, "req-sud-4": 19, "req-sud-5": 20}
CRISIS = ["req-crisis-1", "req-crisis-2", "req-crisis-3"]


def _envelope(record_id: str, at: datetime, system: str = "nemsis:ems-012") -> r.Envelope:
    return r.Envelope(event_id=f"{system}:{record_id}:1", source_system=system, source_record_id=record_id,
                      occurred_at=at, ingested_at=at, correlation_id=f"corr-{record_id}",
                      source_role=SourceRole.COVERED_ENTITY)


def runs(at: datetime) -> list[r.EmsRun]:
    out = []
    for prefix, code, county, n in (("PCR-A", "F10.92", "Sangamon", 6), ("PCR-B", "T40.1X1A", "Logan", 4),
                                    ("PCR-C", "R50.9", "Menard", 5)):
        for i in range(1, n + 1):
            pcr = f"{prefix}{i}"
            out.append(r.EmsRun(envelope=_envelope(pcr, at), key=r.IncidentKey(dispatch_centre="psap-north",
                                                                              incident_number=f"N-{pcr}"),
                                agency_id="ems-012", pcr_number=pcr, primary_impression=r.Coded(code=code),
                                scene=r.Address(county=county, state="IL"), age=40))
    return out


def requests(at: datetime) -> list[r.ReferralRequest]:
    made = [(rid, Service.SUD_TREATMENT, [Category.SUBSTANCE_USE], age) for rid, age in SUD_AGES.items()]
    made += [(rid, Service.MH_CRISIS_FOLLOWUP, [Category.BEHAVIORAL_HEALTH], 30 + i) for i, rid in enumerate(CRISIS)]
    return [r.ReferralRequest(envelope=_envelope(rid, at, "handoff:episode"), request_id=rid,
                       person=r.PersonKey(person_token=f"tok-{rid}", key_version=1), episode_id=f"ep-{rid}",
                       service=service, categories=categories, age=age, source_role=SourceRole.COVERED_ENTITY,
                       location=r.Address(county="Sangamon", state="IL"))
            for rid, service, categories, age in made]


def rules_change(into: Path, keep_case: bool = False) -> Path:
    """The shipped ruleset with C-SUBSTANCE-DISORDER narrowed to F11-F19; its F10.92 case moved to
    not_fire (with `keep_case`, left under fire: then the rule fails its own case)."""
    target = into / "rules"
    shutil.copytree(RULES_DIR, target)
    codes = (target / "codes.yaml").read_text()
    old = "    pattern: 'F1[0-689](\\..*)?'\n    categories: [substance_use]\n    cases:\n      fire: [{impressions: [F10.92]}, "
    assert old in codes
    new = "    pattern: 'F1[1-689](\\..*)?'\n    categories: [substance_use]\n    cases:\n      fire: ["
    if keep_case:
        new += "{impressions: [F10.92]}, "
    codes = codes.replace(old, new).replace("not_fire: [{impressions: [F17.210]}, {impressions: [F32.9]}]",
                                            "not_fire: [{impressions: [F17.210]}, {impressions: [F32.9]}, "
                                            "{impressions: [F10.92]}]", 1)
    (target / "codes.yaml").write_text(codes)
    top = yaml.safe_load((target / "detect.yaml").read_text())
    (target / "detect.yaml").write_text((target / "detect.yaml").read_text().replace(
        f'version: "{top["version"]}"', 'version: "1.1.0"'))
    return target


def routing_change(into: Path) -> Path:
    data = yaml.safe_load(RULES_FILE.read_text())
    data["version"] = "routing-test-3"
    data["eligibility"]["adults"] = {"min_age": 21}
    for need in data["needs"]:
        if need["id"] == "N-SUBSTANCE":
            need["services"] = ["sud-treatment", "peer-recovery"]
    into.mkdir(parents=True, exist_ok=True)
    target = into / "rules.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def policy_change(into: Path) -> Path:
    """The shipped Illinois layer (and its base and tests), as a site would apply it."""
    shutil.copytree(SHIPPED_POLICY, into / "consent", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return into / "consent" / "states" / "il.yaml"


def expected(kind: str) -> list[tuple[str, str, str, str, str, str, str]]:
    """(what, category, area, case, person, before, after) of each change, sorted as the report sorts."""
    if kind == "rules":
        out = [("detection lost", "substance_use", "Sangamon County", f"ems-012/{p}", "", "", "") for p in ALCOHOL]
        out += [("referral not asked", "sud-treatment", "Sangamon County", f"ems-012/{p}", "", "", "")
                for p in ALCOHOL]
    elif kind == "routing":
        out = [("referral asked", "peer-recovery", "Sangamon County", f"ems-012/{p}", "", "", "") for p in ALCOHOL]
        out += [("referral no longer routed", "sud-treatment", "Sangamon County", rid, f"tok-{rid}",
                 "org-bridge-clinic", "nobody") for rid, age in SUD_AGES.items() if age < 21]
    else:
        out = [("decision changed", "mh-crisis-followup", "Sangamon County", rid, f"tok-{rid}",
                "org-capital-crisis: permit (full) on hipaa-treatment", "org-capital-crisis: hold on none")
               for rid in CRISIS]
    return sorted(out)


def at_yesterday() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
