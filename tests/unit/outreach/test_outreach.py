"""The outreach worklist and consent capture over the database (SQLite; PostgreSQL where configured):
a held referral shows whom to find, due times put the overdue first, a law-enforcement team sees no
provider, attempts are kept, and only a complete form makes a consent that releases the hold."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.consent import Gate, Recipient, load_policy
from pipeline.outreach import capture, links, worklist as wl
from pipeline.vocab import ConsentKind, Match, Outcome, Purpose
from tests.unit.render import cases as c

HOUSING = Recipient("prov-housing", "other")
PDF = capture.Artefact(b"%PDF-1.4 signed consent form (synthetic)", "application/pdf")
COMPLETE = {"kind": "part2", "patient_name": "Morgan Quillfeather", "disclosing_party": "Capital Area EMS",
            "info_general": "on", "info_sud": "on", "recipient_named": "on", "purpose_care-coordination": "on",
            "expiry_days": "365", "right_to_revoke": "on", "redisclosure_statement": "on",
            "signer": "Morgan Quillfeather", "capacity": "self"}


@pytest.fixture
def gate(migrated):
    return Gate(migrated, load_policy())


def _hold(gate) -> str:
    request = c.ems_request()
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": "team-a"})})
    [held] = gate.decide(request, [(HOUSING, Purpose.CARE_COORDINATION)], c.T0)
    assert held.outcome == Outcome.HOLD
    return held.referral_id


def test_the_worklist_shows_whom_to_find_overdue_first_and_hides_providers_from_police(gate):
    rid = _hold(gate)
    [e] = wl.worklist(gate.store, None, c.T0 + timedelta(hours=1), show_provider=True)
    assert (e.subject, e.kind, e.name, e.birth_date, e.phone) == (rid, "consent", "Morgan J Quillfeather",
                                                                   "1991-07-02", "217-555-0142")
    assert e.home.startswith("12 Elm") and e.recipient == "prov-housing" and e.provider_status == "held"
    assert not e.overdue and e.due_at > (c.T0 + timedelta(hours=1)).isoformat()
    [late] = wl.worklist(gate.store, None, c.T0 + timedelta(days=400), show_provider=False)
    assert late.overdue and (late.recipient, late.provider_status, late.reasons) == ("", "", "")
    assert wl.worklist(gate.store, "another-programme", c.T0, True) == []  # another team's people: not shown
    assert len(wl.worklist(gate.store, "team-a", c.T0, True)) == 1


def test_attempts_are_recorded_and_bad_ones_refused(gate):
    rid = _hold(gate)
    wl.record_attempt(gate.store, rid, c.PERSON, "phone", "no-answer", "rang twice", "ana", c.T0)
    wl.record_attempt(gate.store, rid, c.PERSON, "visit", "reached", "", "ana", c.T0 + timedelta(hours=2))
    e = wl.entry(gate.store, rid, None, c.T0, True)
    assert [(a.method, a.outcome) for a in e.attempts] == [("visit", "reached"), ("phone", "no-answer")]
    with pytest.raises(wl.AttemptRefused, match="outcome must be one of"):
        wl.record_attempt(gate.store, rid, c.PERSON, "phone", "maybe", "", "ana", c.T0)
    assert wl.entry(gate.store, "ref-none", None, c.T0, True) is None


@pytest.mark.parametrize("drop, named", [("right_to_revoke", "right-to-revoke"), ("expiry_days", "expiry"),
                                         ("signer", "signature"), ("info_general", None),
                                         ("purpose_care-coordination", "purpose"), ("disclosing_party", "disclosing-party")])
def test_an_incomplete_form_names_what_is_missing(drop, named):
    fields = {k: v for k, v in COMPLETE.items() if k != drop}
    _, missing = capture.from_form(fields, "ref-1", "prov-housing", PDF, c.T0)
    if named is None:  # SUD alone still names information
        assert missing == []
    else:
        assert named in missing


def test_the_artefact_and_hipaa_statements_are_elements():
    assert "signature" in capture.from_form(COMPLETE, "ref-1", "prov-housing", None, c.T0)[1]
    word = capture.Artefact(b"x", "application/msword")
    assert any("PDF, PNG or JPEG" in m for m in capture.from_form(COMPLETE, "ref-1", "p", word, c.T0)[1])
    hipaa = {**COMPLETE, "kind": "hipaa-authorization"}
    assert capture.from_form(hipaa, "ref-1", "p", PDF, c.T0)[1] == ["conditioning-statement"]
    record, missing = capture.from_form({**hipaa, "conditioning_statement": "on"}, "ref-1", "p", PDF, c.T0)
    assert missing == [] and record.kind == ConsentKind.HIPAA_AUTHORIZATION


def test_a_complete_capture_releases_the_hold(gate):
    rid = _hold(gate)
    at = c.T0 + timedelta(hours=3)
    record, missing = capture.from_form(COMPLETE, rid, "prov-housing", PDF, at)
    assert missing == [] and record.artefact_ref == f"sha256:{PDF.sha256}"
    capture.store_artefact(gate.store, record.consent_id, PDF, "Morgan Quillfeather", "self", "ana", at)
    gate.registry.put(c.PERSON, record, at, "user:ana")
    released, _ = gate.on_consent_change(c.PERSON, at, "consent:0@1")
    assert [x.decision.referral_id for x in released] == [rid]
    assert wl.worklist(gate.store, None, at, True) == []
    with gate.store.transaction() as tx:
        row = tx.fetchone("SELECT signer, capacity, body FROM consent_artefact WHERE consent_id = :c",
                          {"c": record.consent_id})
    assert (row["signer"], row["capacity"], bytes(row["body"])) == ("Morgan Quillfeather", "self", PDF.body)


def test_link_review_confirm_sends_an_exact_revision_that_the_gate_permits_and_split_closes(gate):
    clinic = Recipient("prov-clinic", "health-care-provider")
    uncertain = c.ems_request().model_copy(update={"match": Match.UNCERTAIN})
    [held] = gate.decide(uncertain, [(clinic, Purpose.TREATMENT)], c.T0)
    assert held.outcome == Outcome.HOLD and wl.worklist(gate.store, None, c.T0, True) == []  # not outreach's
    assert [q["referral_id"] for q in links.queue(gate.store, None)] == [held.referral_id]
    revision = links.confirm(gate.store, held.referral_id, "ana", c.T0)
    assert (revision.match, revision.revision) == (Match.EXACT, uncertain.revision + 1)
    assert links.queue(gate.store, None) == []
    [again] = gate.decide(revision, [(clinic, Purpose.TREATMENT)], c.T0)  # as the refer stage does
    assert again.outcome.value.startswith("permit") and again.referral_id == held.referral_id
    with pytest.raises(links.LinkError):
        links.split(gate.store, held.referral_id, "ana", c.T0)  # reviewed already
