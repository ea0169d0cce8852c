"""`handoff tail TOPIC` through the installed console script on the real broker: decoded records with
person data masked; --show-phi only for an account holding `records`, audited before anything is shown;
refusals are one line and an exit code."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import records as r
from pipeline.storage import open_store
from tests.support.factory import ems_run
from tests.support.kafka import produce

pytestmark = pytest.mark.kafka
HANDOFF = shutil.which("handoff", path=str(Path(sys.executable).parent))
PW = "a-long-enough-password\n"
SECRETS = ("Testperson", "Alex", "1990-05-01", "narcan 4mg")


@pytest.fixture
def env(kafka, catalogue, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env |= {"HANDOFF_ENVIRONMENT": "test", "HANDOFF_STORAGE__URL": f"sqlite:///{tmp_path / 'h.db'}",
            "HANDOFF_KAFKA__BOOTSTRAP": kafka.bootstrap, "HANDOFF_KAFKA__TOPIC_PREFIX": catalogue.prefix}
    with open_store(env["HANDOFF_STORAGE__URL"]) as store:
        store.migrate()
    for account, role in (("po", "privacy-officer"), ("ops", "it-operator")):
        made = subprocess.run([HANDOFF, "users", "add", account, "--role", role, "--password-stdin"], input=PW,
                              capture_output=True, text=True, timeout=60, env=env)
        assert made.returncode == 0, made.stderr
    return env


def tail(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([HANDOFF, "tail", *args], capture_output=True, text=True, env=env, timeout=90)


def views(env: dict) -> list[r.AuditEvent]:
    from pipeline.audit.sink import audit_codec

    with open_store(env["HANDOFF_STORAGE__URL"]) as store, store.transaction() as tx:
        return [audit_codec().decode(bytes(x["body"])) for x in
                tx.fetchall("SELECT body FROM audit_record WHERE kind = 'view'")]


async def test_tail_masks_person_data_and_shows_it_only_to_an_account_allowed_and_audited(kafka, catalogue, env):
    ems = catalogue["ems.run"]
    key = r.IncidentKey(dispatch_centre="psap-north", incident_number="INC-1")
    await produce(kafka.bootstrap, ems, [(key, ems_run(f"PCR-{i}")) for i in range(4)])
    await produce(kafka.bootstrap, ems, [(ems.key.encode(key), b"Testperson, Alex 1990-05-01")])

    shown = tail(env, "ems.run", "--last", "3")
    assert shown.returncode == 0, shown.stderr
    lines = [json.loads(x) for x in shown.stdout.splitlines()]
    assert len(lines) == 3 and all(x["topic"] == "ems.run" for x in lines)
    assert lines[-1]["value"] == {"undecodable": "CodecError", "bytes": 27}  # the newest: not a record
    run = lines[0]["value"]
    assert run["pcr_number"].startswith("PCR-") and run["envelope"]["event_id"]  # ids stay: IT follows them
    assert run["patient"]["family"] == run["patient"]["birth_date"] == run["narrative"] == "[masked]"
    assert run["patient"]["sex"] == "M" and lines[0]["key"]["incident_number"] == "INC-1"
    assert not [s for s in SECRETS if s in shown.stdout] and views(env) == []

    for args, why in ((["--show-phi"], "no account named"), (["--show-phi", "--user", "ops"], "ops"),
                      (["--show-phi", "--user", "nobody"], "nobody")):
        refused = tail(env, "ems.run", *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert refused.stdout == "" and views(env) == []

    phi = tail(env, "ems.run", "--last", "2", "--show-phi", "--user", "po")
    assert phi.returncode == 0, phi.stderr
    first = json.loads(phi.stdout.splitlines()[0])["value"]
    assert first["patient"]["family"] == "Testperson" and first["patient"]["birth_date"] == "1990-05-01"
    [view] = views(env)
    assert view.actor == "user:po" and ems.full_name in view.detail["query"] and view.detail["what"] == "topic records"

    missing = tail(env, "no.such.topic")
    assert missing.returncode == 2 and missing.stderr.strip() == \
        "handoff: no topic 'no.such.topic' in the catalogue (handoff topics list)"


def test_tail_with_no_broker_is_one_line_and_exit_3(env):
    away = tail(env | {"HANDOFF_KAFKA__BOOTSTRAP": "127.0.0.1:9"}, "ems.run")
    assert away.returncode == 3 and len(away.stderr.strip().splitlines()) == 1, away.stderr
    assert "Traceback" not in away.stderr
