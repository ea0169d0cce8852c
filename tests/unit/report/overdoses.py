"""A generated set of EMS runs with made-up people (names, dates of birth, exact addresses), most
of them overdoses, for the surveillance feed's tests (fixed seed; nothing here is real)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from pydantic import SecretStr

from pipeline import records as r
from pipeline.clock import FixedClock
from pipeline.consent import load_policy
from pipeline.settings import ReportSettings
from pipeline.stage import Context
from pipeline.vocab import SourceRole
from tests.support.factory import ems_run

FAMILY = ["Quillfeather", "Marchbanks", "Oyelaran", "Vasquez-Trent", "Lindqvist", "Abernathy", "Okonkwo", "Pemberly"]
GIVEN = ["Rowan", "Imogen", "Tobias", "Saoirse", "Dashiell", "Marisol", "Ezekiel", "Philippa"]
STREETS = ["Larkspur Lane", "Cobblestone Way", "Wintergreen Court", "Alder Ridge Road"]
START = datetime(2026, 3, 10, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Case:
    run: r.EmsRun
    overdose: bool
    died: bool
    doses: int


def cases(n: int = 30, seed: int = 26) -> list[Case]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        overdose = k % 5 != 4  # every fifth a fall, no overdose
        died = overdose and k % 7 == 0
        doses = rng.randint(0, 3) if overdose else 0
        at = START + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
        street = f"{rng.randint(100, 9899)} {rng.choice(STREETS)}"
        scene = r.Address(street=street, city="Harborview", state="WA", zip="98101", county_code="53033",
                          latitude=round(47.6 + rng.uniform(-0.05, 0.05), 6),
                          longitude=round(-122.33 + rng.uniform(-0.05, 0.05), 6))
        person = r.Person(family=rng.choice(FAMILY), given=rng.choice(GIVEN),
                          birth_date=date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)), sex="F",
                          phone=f"206-555-{rng.randint(1000, 9999)}", address=scene)
        naloxone = [r.Medication(drug=r.Coded(code="7242", system="RxNorm"), route="9927017",
                                 response="9916001")] * doses
        run = ems_run(f"PCR-{k}", narrative=(f"{person.given} {person.family} found at {street}, "
                                             + ("narcan given" if doses else "no naloxone")),
                      impression="T40.1X1A" if overdose else "W19.XXXA", patient=person, scene=scene,
                      medications=naloxone, times=r.EmsTimes(psap_call=at),
                      situation_acuity=r.Coded(code="2813007" if died else ""))
        run = run.model_copy(update={"envelope": run.envelope.model_copy(update={"source_role": SourceRole.COVERED_ENTITY})})
        out.append(Case(run, overdose, died, doses))
    return out


def deps(store, connectors=None, **report) -> SimpleNamespace:
    return SimpleNamespace(store=store, linkage_keys={1: SecretStr("a-test-linkage-key-0123456789")},
                           report=ReportSettings(**report), gate=SimpleNamespace(policy=load_policy()),
                           connectors=connectors or {})


def context(at: datetime = START) -> Context:
    return Context(stage="report-detection", source=r.SourceRef(topic="detection", record_id="x"),
                   clock=FixedClock(at), trace_id="t")
