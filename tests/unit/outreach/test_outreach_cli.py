"""`handoff outreach list|show|attempt` as a person runs it (the installed console script, SQLite, no broker):
the worklist's line shows whom to find, a police-led team's shows no provider, attempts are kept, every
list and show is on record, bad input is one line with exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.consent import Gate, Recipient, load_policy
from pipeline.storage import open_store
from pipeline.vocab import Purpose
from tests.unit.render import cases as c

PASSWORD = "a long test password 42"


def test_outreach_commands(tmp_path):
    url = f"sqlite:///{tmp_path}/handoff.db"
    env = {**os.environ, "HANDOFF_ENVIRONMENT": "test", "HANDOFF_STORAGE__URL": url, "HANDOFF_KAFKA__BOOTSTRAP": "",
           "HANDOFF_USER": "", "HANDOFF_EDGES__AGENCIES": '{"pd-north": {"kind": "law-enforcement"}}'}

    def handoff(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / "handoff"), *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120)

    request = c.ems_request()
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": "team-a"})})
    with open_store(url) as store:
        store.migrate()
        [held] = Gate(store, load_policy()).decide(request, [(Recipient("prov-housing", "other"),
                                                              Purpose.CARE_COORDINATION)], c.T0)
    for name, org in (("ana", "outreach-north"), ("pd", "pd-north")):
        made = handoff("users", "add", name, "--role", "outreach", "--organisation", org, "--password-stdin",
                       stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    env["HANDOFF_PROGRAMME_ID"] = "team-a"  # the team's programme: the held request's

    listed = handoff("outreach", "list", "--user", "ana")
    assert listed.returncode == 0, listed.stderr
    assert held.referral_id in listed.stdout and "Morgan J Quillfeather" in listed.stdout
    assert "born 1991-07-02" in listed.stdout and "prov-housing: held" in listed.stdout
    police = handoff("outreach", "list", "--user", "pd")
    assert police.returncode == 0 and "Morgan J Quillfeather" in police.stdout and "prov-housing" not in police.stdout

    bad = handoff("outreach", "attempt", held.referral_id, "--method", "phone", "--outcome", "maybe", "--user", "ana")
    assert bad.returncode == 2 and bad.stderr.startswith("handoff: outcome must be one of") and "Traceback" not in bad.stderr
    ok = handoff("outreach", "attempt", held.referral_id, "--method", "visit", "--outcome", "not-found", "--user", "ana")
    assert ok.returncode == 0, ok.stderr
    shown = handoff("outreach", "show", held.referral_id, "--user", "ana")
    assert shown.returncode == 0 and "visit  not-found  by ana" in shown.stdout
    nobody = handoff("outreach", "list")
    assert nobody.returncode == 2 and "--user" in nobody.stderr
    with open_store(url) as store, store.transaction() as tx:
        views = tx.fetchall("SELECT person_token FROM audit_record WHERE kind = 'view'", {})
    # list, the police list, show: each a view in the direct chain; show names the person
    assert len(views) == 3 and [v["person_token"] for v in views].count(c.PERSON.person_token) == 1
