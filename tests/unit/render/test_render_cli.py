"""`handoff refer`: files in, what each recipient would receive out (no broker, no database)."""
from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff.cli import app
from pipeline.route import SAMPLE_DIRECTORY
from tests.unit.connectors.hl7_gen import oru
from tests.unit.render.support import valid_bundle, valid_ref

SHARED = Path(__file__).resolve().parents[4] / "shared" / "nemsis" / "v3.5.1" / "compliance" / "full"
KINDS = {"org-bridge-clinic": ("hl7v2-mllp", "mllp://10.0.0.7:2575"),
         "org-harbor-recovery": ("hl7v2-mllp", "mllp://10.0.0.8:2575"),
         "org-peer-recovery": ("direct-project", "referrals@direct.peers.example")}


@pytest.fixture
def directory(tmp_path) -> Path:
    """The sample directory, serving any area at any hour, with one MLLP and one Direct recipient."""
    bundle = json.loads(SAMPLE_DIRECTORY.read_text())
    demo = ("org-logan-behavioral", "org-capital-crisis", "org-menard-recovery")  # the demo's local peers' providers
    bundle["entry"] = [e for e in bundle["entry"] if not e["resource"]["id"].startswith(demo)]
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "HealthcareService":
            res.pop("coverageArea", None)
            res.pop("availableTime", None)
        if res["resourceType"] == "Endpoint":
            owner = res["id"].removesuffix("-endpoint")
            if owner in KINDS:
                res["connectionType"]["code"], res["address"] = KINDS[owner]
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(bundle))
    return path


def concussion() -> bytes:
    """A run with no sign of overdose, self-harm or substance use: no naloxone, no narrative."""
    keep = [seg for seg in oru(5).split(b"\r") if b"eMedications" not in seg and not seg.startswith(b"NTE")]
    return b"\r".join(keep)


def refer(*args: str):
    result = CliRunner().invoke(app, ["refer", *args])
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_each_recipient_gets_its_format_and_non_qualifying_records_nothing(tmp_path, directory):
    overdose, head = tmp_path / "od.hl7", tmp_path / "head.hl7"
    overdose.write_bytes(oru(1))
    head.write_bytes(concussion())
    assert b"S06.0X0A" in head.read_bytes()
    out = tmp_path / "out"
    result, rows = refer(str(overdose), str(head), "--out", str(out), "--directory", str(directory))
    assert result.exit_code == 0, result.output
    assert sorted((row["service"], row["format"]) for row in rows) == [("peer-recovery", "direct"),
                                                                      ("sud-treatment", "hl7v2")]
    for row in rows:
        body = Path(row["file"]).read_bytes()
        if row["format"] == "hl7v2":
            valid_ref(body)
            assert row["referral"].encode() in body
        else:
            mail = email.message_from_bytes(body, policy=policy.default)
            valid_bundle(list(mail.iter_parts())[1].get_content())
        assert b"PCR-000005" not in body  # the concussion run qualifies for nothing
    again, rows2 = refer(str(overdose), str(head), "--out", str(tmp_path / "again"), "--directory",
                         str(directory))
    assert [Path(r["file"]).read_bytes() for r in rows2] == [Path(r["file"]).read_bytes() for r in rows]


def test_nothing_qualifies_says_so_and_printing_shows_the_payload(tmp_path, directory):
    head, od = tmp_path / "head.hl7", tmp_path / "od.hl7"
    head.write_bytes(concussion())
    result = CliRunner().invoke(app, ["refer", str(head), "--directory", str(directory)])
    assert result.exit_code == 0 and result.stdout == "" and "record PCR-000005: not recognised" in result.stderr
    od.write_bytes(oru(1))
    shown = CliRunner().invoke(app, ["refer", str(od), "--directory", str(directory)]).stdout
    assert shown.startswith("# ref-") and "\nMSH|^~\\&|HANDOFF|" in shown and "\r" not in shown


@pytest.mark.skipif(not SHARED.exists(), reason="../shared NEMSIS compliance cases are absent")
def test_compliance_cases(directory, tmp_path):
    result, rows = refer(*(str(SHARED / f"2025-EMS-{n}_v351.xml") for n in ("1-Overdose", "2-Suicide", "3-MVC")),
                         "--out", str(tmp_path), "--directory", str(directory))
    assert result.exit_code == 0, result.output
    # the overdose (F19, F10.92) only: the others died in the field (suicide) or have no category (MVC);
    # its patient is recorded homeless (ePatient.22 2522001), so housing and social services are asked too
    assert [row["service"] for row in rows] == ["sud-treatment", "housing-social"]
    housing = next(row for row in rows if row["service"] == "housing-social")
    assert housing["recipient"] == "org-housing-first"
