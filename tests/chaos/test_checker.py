"""The checker passes a consistent dump and fails each doctored one (through its command line too)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.chaos.checker import check, read
from tests.chaos.doctor import DOCTORS, _write
from tests.conftest import ROOT


@pytest.fixture
def dump(tmp_path):
    """A small consistent dump: three referrals to two recipients, one updated, a dead letter, a fault,
    three requests each decided (one held), made for the two of the generator's four inputs that must refer
    (a field referral by its id, a CAD row by its incident number) and for an EMS run."""
    d = tmp_path / "clean"
    d.mkdir()
    held = [("ref-1", "org-a", "m-1", "create", 100.0), ("ref-2", "org-a", "m-2", "create", 101.0),
            ("ref-3", "org-b", "m-3", "create", 102.0), ("ref-3", "org-b", "m-4", "update", 103.0)]
    _write(d, "expected", [{"referral_id": r, "recipient_id": p} for r, p in (("ref-1", "org-a"), ("ref-2", "org-a"),
                                                                              ("ref-3", "org-b"))])
    _write(d, "delivered", [{"referral_id": r, "recipient_id": p, "message_id": m, "action": a, "at": t}
                            for r, p, m, a, t in held])
    _write(d, "decisions", [{"referral_id": r, "recipient_id": p, "message_id": m, "outcome": "permit"}
                            for r, p, m, _, _ in held])
    _write(d, "audit", [{"audit_id": f"a-{m}", "kind": "delivery-result", "outcome": "delivered", "referral_id": r,
                         "recipient_id": p, "message_id": m} for r, p, m, _, _ in held]
           + [{"audit_id": "v-1", "kind": "view", "outcome": "success", "referral_id": "ref-1", "recipient_id": "",
               "message_id": ""}]
           + [{"audit_id": f"d-{q}", "kind": "decision", "outcome": o, "referral_id": "", "recipient_id": "",
               "message_id": "", "sources": [q]} for q, o in (("req-1", "permit"), ("req-2", "permit"),
                                                               ("req-3", "hold"))])
    _write(d, "requests", [{"request_id": q, "revision": 1, "sources": [s], "incident": i} for q, s, i in (
        ("req-1", "FR-1", ""), ("req-2", "cad-24-1", "24-1"), ("req-3", "pcr-1", "C1"))])
    _write(d, "must_refer", [{"input": k, "id": i, "refer": refer, "why": ""} for k, i, refer in (
        ("field", "FR-1", True), ("cad", "24-1", True), ("cad", "24-2", False), ("call", "23-9", False))])
    _write(d, "views", [{"view_id": "v-1", "user": "prov", "referral_id": "ref-1"}])
    _write(d, "deadletters", [{"topic": "ems.run.dlq", "stage": "ingest", "reason": "document is empty"}])
    _write(d, "faults", [{"kind": "sigkill", "target": "worker-a", "at": 90.0, "until": 95.0}])
    return d


def run_cli(directory) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.chaos.checker", str(directory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_a_consistent_dump_passes(dump):
    report = check(dump)
    assert report.violations == 0 and report.expected == 3 and report.held == 4
    assert report.drain_seconds == 8.0 and report.dead_letters == {"ems.run.dlq: document is empty": 1}
    done = run_cli(dump)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "referrals lost: 0" in done.stdout and "drain time after the last fault: 8.0 s" in done.stdout
    assert "inputs that must refer without a request: 0 (of 2: cad 1, field 1)" in done.stdout
    assert "inputs that must not refer with a request: 0 (of 2: cad 1, call 1)" in done.stdout


@pytest.mark.parametrize("what", sorted(DOCTORS))
def test_each_doctored_dump_fails(dump, tmp_path, what):
    doctored = DOCTORS[what](dump, tmp_path / "doctored")
    report = check(doctored)
    assert report.violations == 1
    line = {"one audit record deleted": "disclosures without an audit record: 1",
            "a delivery duplicated": "duplicated at a recipient: 1",
            "a delivery without a permit": "delivered without a permitting decision: 1",
            "a request dropped": "referral requests without a decision: 1 (of 3)",
            "an input unreferred": "inputs that must refer without a request: 1 (of 2: cad 1, field 1)",
            "a request without cause": "inputs that must not refer with a request: 1 (of 2: cad 1, call 1)"}[what]
    done = run_cli(doctored)
    assert done.returncode == 1 and line in done.stdout, done.stdout


def test_lost_referral_and_unaudited_view_and_a_recheck_deny_fail(dump, tmp_path):
    rows = (dump / "expected.jsonl").read_text()
    (dump / "expected.jsonl").write_text(rows + '{"referral_id": "ref-9", "recipient_id": "org-a"}\n')
    (dump / "views.jsonl").write_text('{"view_id": "v-2", "user": "prov", "referral_id": "ref-2"}\n')
    with open(dump / "decisions.jsonl", "a") as fh:
        fh.write('{"referral_id": "ref-2", "recipient_id": "org-a", "message_id": "m-2", "outcome": "deny"}\n')
    report = check(dump)
    assert report.lost == [("ref-9", "org-a")] and report.unaudited_views == ["v-2"] and report.unpermitted == ["m-2"]
    assert run_cli(dump).returncode == 1


def test_usage_error_is_exit_2(tmp_path):
    assert run_cli(tmp_path / "absent").returncode == 2


def test_a_delivery_after_its_consent_was_revoked_fails_and_one_before_passes(dump):
    decisions = [{"referral_id": r, "recipient_id": "org-a", "message_id": m, "outcome": "permit", "basis": "consent",
                  "consent_id": c} for r, m, c in (("ref-1", "m-1", "c-1"), ("ref-2", "m-2", "c-2"))]
    rows = [x for x in map(json.loads, (dump / "decisions.jsonl").read_text().splitlines())
            if x["referral_id"] not in ("ref-1", "ref-2")]
    _write(dump, "decisions", rows + decisions)
    # m-1 held at 100.0, m-2 at 101.0: c-1 revoked at 99.5 (inside the grace: a send already past its
    # re-check), c-2 at 95.0 (6 s before m-2 was held: the re-check should have stopped it)
    _write(dump, "revocations", [{"consent_id": "c-1", "at": 99.5}, {"consent_id": "c-2", "at": 95.0}])
    report = check(dump)
    assert report.unpermitted == ["m-2 (after consent c-2 was revoked)"] and report.violations == 1
    done = run_cli(dump)
    assert done.returncode == 1 and "delivered without a permitting decision: 1" in done.stdout, done.stdout


def test_views_join_by_user_referral_and_path_one_record_each(dump):
    with open(dump / "audit.jsonl", "a") as fh:
        fh.write(json.dumps({"audit_id": "v-9", "kind": "view", "outcome": "success", "referral_id": "ref-2",
                             "recipient_id": "", "message_id": "", "actor": "user:prov", "query": "/api/v1/referrals/ref-2"})
                 + "\n")
    view = {"user": "prov", "referral_id": "ref-2", "query": "/api/v1/referrals/ref-2"}
    _write(dump, "views", [{"view_id": "x-1", **view}])
    assert check(dump).unaudited_views == [] and check(dump).views == 1
    _write(dump, "views", [{"view_id": "x-1", **view}, {"view_id": "x-2", **view}])  # two views, one record
    assert check(dump).unaudited_views == ["x-2"]
    _write(dump, "views", [{"view_id": "x-3", **view, "user": "someone-else"}])
    assert check(dump).unaudited_views == ["x-3"]


def test_an_answer_the_referral_does_not_show_fails(dump):
    _write(dump, "replies", [{"referral_id": "ref-1", "recipient_id": "org-a", "action": "accept", "state": "accepted",
                              "channel": "inbox", "at": 1.0},
                             {"referral_id": "ref-3", "recipient_id": "org-b", "action": "accept", "state": "accepted",
                              "channel": "mllp", "at": 2.0},
                             {"referral_id": "ref-1", "recipient_id": "org-a", "action": "complete",
                              "state": "completed", "channel": "inbox", "at": 3.0}])
    _write(dump, "states", [{"referral_id": "ref-1", "state": "completed"}, {"referral_id": "ref-3", "state": "accepted"}])
    assert check(dump).violations == 0
    _write(dump, "states", [{"referral_id": "ref-1", "state": "accepted"}, {"referral_id": "ref-3", "state": "requested"}])
    report = check(dump)
    assert len(report.unanswered) == 2 and report.violations == 2
    done = run_cli(dump)
    assert done.returncode == 1 and "provider answers not in the final state: 2" in done.stdout, done.stdout


def test_alerts_each_raised_once_withdrawn_when_closed_and_none_where_none_is_due(dump):
    _write(dump, "expected_alerts", [{"incident_number": "24-1", "alert": True, "closed": True},
                                     {"incident_number": "24-2", "alert": False, "closed": False}])
    alert = {"team": "org-t", "incident_number": "24-1", "version": 1, "at": 1.0, "body": {}}
    good = [{**alert, "action": "alert", "message_id": "a1:v1:alert"},
            {**alert, "action": "alert", "message_id": "a1:v1:alert"},  # a resend of the same message: one alert
            {**alert, "action": "withdraw", "message_id": "a1:v3:withdraw", "version": 3}]
    _write(dump, "alerts", good)
    assert check(dump).violations == 0
    _write(dump, "alerts", good[:1] + [{**alert, "action": "alert", "message_id": "a1:v2:alert", "version": 2}])
    assert sorted(check(dump).alerts_wrong) == ["24-1: 2 alerts raised, want 1", "24-1: closed, its alert not withdrawn"]
    _write(dump, "alerts", good + [{**alert, "incident_number": "24-2", "action": "alert", "message_id": "a2:v1:alert"}])
    report = check(dump)
    assert report.alerts_wrong == ["24-2: 1 alert messages for a call that must raise none"] and report.violations == 1


def test_an_input_with_fewer_requests_than_its_services_is_unreferred(dump):
    rows = [x | {"requests": 2} if x["id"] == "FR-1" else x for x in read(dump, "must_refer")]
    _write(dump, "must_refer", rows)  # FR-1 asked for two services; one request names it
    report = check(dump)
    assert report.violations == 1 and report.unreferred == ["field FR-1 ()"]
