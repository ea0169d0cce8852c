"""The outreach worklist and consent capture over the database (SQLite; PostgreSQL where configured):
a held referral shows whom to find, due times put the overdue first, a law-enforcement team sees no
provider, attempts are kept, and only a complete form makes a consent that releases the hold."""
from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from pipeline.consent import Gate, Recipient, load_policy
from pipeline.outreach import capture, links, worklist as wl
from pipeline.vocab import ConsentKind, Match, Outcome, Purpose, SourceRole
from tests.unit.render import cases as c

HOUSING = Recipient("prov-housing", "other")
PDF = capture.Artefact(b"%PDF-1.4 signed consent form (synthetic)", "application/pdf")
HELD = {"held": "prov-housing"}  # the outreach form's one choice: the held referral's recipient
KEYS = {1: SecretStr("a linkage key for the tests only, 32+")}
TEAM = wl.Team("team-a", load_policy(), show_provider=True)
POLICE = wl.Team("team-a", load_policy(), show_provider=False)  # a team led by law enforcement
COMPLETE = {"kind": "part2", "patient_name": "Morgan Quillfeather", "disclosing_party": "Capital Area EMS",
            "info_general": "on", "info_sud": "on", "recipient": "held", "purpose_care-coordination": "on",
            "expiry_days": "365", "right_to_revoke": "on", "redisclosure_statement": "on",
            "signer": "Morgan Quillfeather", "capacity": "self"}


@pytest.fixture
def gate(migrated):
    return Gate(migrated, load_policy())


def ems_request():
    """An EMS crew's request: the agency registry names EMS a HIPAA covered entity."""
    return c.ems_request().model_copy(update={"source_role": SourceRole.COVERED_ENTITY})


def _hold(gate, programme: str = "team-a", request=None) -> str:
    request = request or ems_request()
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": programme})})
    [held] = gate.decide(request, [(HOUSING, Purpose.CARE_COORDINATION)], c.T0)
    assert held.outcome == Outcome.HOLD
    return held.referral_id


def test_the_worklist_shows_whom_to_find_overdue_first_and_hides_providers_from_police(gate):
    rid = _hold(gate)
    [e] = wl.worklist(gate.store, TEAM, c.T0 + timedelta(hours=1))
    assert (e.subject, e.kind, e.name, e.birth_date, e.phone) == (rid, "consent", "Morgan J Quillfeather",
                                                                   "1991-07-02", "217-555-0142")
    assert e.home.startswith("12 Elm") and e.recipient == "prov-housing" and e.provider_status == "held"
    assert not e.overdue and e.due_at > (c.T0 + timedelta(hours=1)).isoformat()
    [late] = wl.worklist(gate.store, POLICE, c.T0 + timedelta(days=400))
    assert late.overdue and (late.recipient, late.provider_status, late.reasons) == ("", "", "")
    other = wl.Team("another-programme", TEAM.policy, True)
    assert wl.worklist(gate.store, other, c.T0) == []  # another team's people: not shown
    assert wl.entry(gate.store, rid, other, c.T0) is None


def test_every_row_passes_the_gate_and_holds_without_a_programme_are_no_teams(gate):
    """Purpose outreach, the programme as recipient: a deny is not shown; a hold (the consent the team
    captures) is. A request with no programme belongs to no team."""
    shown = _hold(gate)
    nobody = _hold(gate, programme="", request=ems_request().model_copy(update={"request_id": "req-nobody",
                                                                                 "episode_id": "ep-nobody"}))
    dispatch = _hold(gate, request=ems_request().model_copy(update={"request_id": "req-911", "episode_id": "ep-911"}))
    with gate.store.transaction(immediate=True) as tx:  # as if a 911 centre's request: no rule lets it reach outreach
        row = tx.fetchone("SELECT request FROM consent_hold WHERE referral_id = :id", {"id": dispatch})
        from pipeline import records as r
        request = r.ReferralRequest.model_validate_json(row["request"]).model_copy(
            update={"source_role": SourceRole.DISPATCH_CENTRE})
        tx.execute("UPDATE consent_hold SET request = :q WHERE referral_id = :id",
                   {"q": request.model_dump_json(), "id": dispatch})
    assert not TEAM.admits(request, [], c.T0) and TEAM.admits(ems_request(), [], c.T0)
    assert [e.subject for e in wl.worklist(gate.store, TEAM, c.T0)] == [shown]
    assert wl.entry(gate.store, dispatch, TEAM, c.T0) is None and wl.entry(gate.store, nobody, TEAM, c.T0) is None


def test_attempts_are_recorded_and_bad_ones_refused(gate):
    rid = _hold(gate)
    wl.record_attempt(gate.store, rid, c.PERSON, "phone", "no-answer", "rang twice", "ana", c.T0)
    wl.record_attempt(gate.store, rid, c.PERSON, "visit", "reached", "", "ana", c.T0 + timedelta(hours=2))
    e = wl.entry(gate.store, rid, TEAM, c.T0)
    assert [(a.method, a.outcome) for a in e.attempts] == [("visit", "reached"), ("phone", "no-answer")]
    with pytest.raises(wl.AttemptRefused, match="outcome must be one of"):
        wl.record_attempt(gate.store, rid, c.PERSON, "phone", "maybe", "", "ana", c.T0)
    assert wl.entry(gate.store, "ref-none", TEAM, c.T0) is None


@pytest.mark.parametrize("drop, named", [("right_to_revoke", "right-to-revoke"), ("expiry_days", "expiry"),
                                         ("recipient", "recipients"),
                                         ("signer", "signature"), ("info_general", None),
                                         ("purpose_care-coordination", "purpose"), ("disclosing_party", "disclosing-party")])
def test_an_incomplete_form_names_what_is_missing(drop, named):
    fields = {k: v for k, v in COMPLETE.items() if k != drop}
    _, missing = capture.from_form(fields, "ref-1", HELD, PDF, c.T0)
    if named is None:  # SUD alone still names information
        assert missing == []
    else:
        assert named in missing


def test_the_artefact_and_hipaa_statements_are_elements():
    assert "signature" in capture.from_form(COMPLETE, "ref-1", HELD, None, c.T0)[1]
    forged = {**COMPLETE, "recipient": "prov-elsewhere"}  # not a choice the form offered
    assert "recipients" in capture.from_form(forged, "ref-1", HELD, PDF, c.T0)[1]
    fake_png = capture.Artefact(b"%PDF-1.4 not a picture", "image/png")
    assert "the signed form is not a image/png file" in capture.from_form(COMPLETE, "ref-1", HELD, fake_png, c.T0)[1]
    word = capture.Artefact(b"x", "application/msword")
    assert any("PDF, PNG or JPEG" in m for m in capture.from_form(COMPLETE, "ref-1", HELD, word, c.T0)[1])
    hipaa = {**COMPLETE, "kind": "hipaa-authorization"}
    assert capture.from_form(hipaa, "ref-1", HELD, PDF, c.T0)[1] == ["conditioning-statement"]
    record, missing = capture.from_form({**hipaa, "conditioning_statement": "on"}, "ref-1", HELD, PDF, c.T0)
    assert missing == [] and record.kind == ConsentKind.HIPAA_AUTHORIZATION


def test_a_complete_capture_releases_the_hold(gate):
    rid = _hold(gate)
    at = c.T0 + timedelta(hours=3)
    # EMS (a covered entity) to a housing partner (not a provider): a HIPAA authorisation (45 CFR 164.508)
    form = COMPLETE | {"kind": "hipaa-authorization", "conditioning_statement": "on", "info_mental-health": "on"}
    record, missing = capture.from_form(form, rid, HELD, PDF, at)
    assert missing == [] and record.artefact_ref == f"sha256:{PDF.sha256}"
    capture.store_artefact(gate.store, record.consent_id, PDF, "Morgan Quillfeather", "self", "ana", at)
    gate.registry.put(c.PERSON, record, at, "user:ana")
    released, _ = gate.on_consent_change(c.PERSON, at, "consent:0@1")
    assert [x.decision.referral_id for x in released] == [rid]
    assert wl.worklist(gate.store, TEAM, at) == []
    assert wl.entry(gate.store, rid, TEAM, at).kind == "released"  # its page still offers the revocation
    with gate.store.transaction() as tx:
        row = tx.fetchone("SELECT signer, capacity, body FROM consent_artefact WHERE consent_id = :c",
                          {"c": record.consent_id})
    assert (row["signer"], row["capacity"], bytes(row["body"])) == ("Morgan Quillfeather", "self", PDF.body)


def test_link_review_confirm_sends_an_exact_revision_that_the_gate_permits_and_split_closes(gate):
    clinic = Recipient("prov-clinic", "health-care-provider")
    uncertain = ems_request().model_copy(update={"match": Match.UNCERTAIN})
    [held] = gate.decide(uncertain, [(clinic, Purpose.TREATMENT)], c.T0)
    assert held.outcome == Outcome.HOLD and wl.worklist(gate.store, TEAM, c.T0) == []  # not outreach's
    assert [q["referral_id"] for q in links.queue(gate.store, None)] == [held.referral_id]
    revision = links.confirm(gate.store, held.referral_id, "ana", c.T0)
    assert (revision.match, revision.revision) == (Match.EXACT, uncertain.revision + 1)
    assert links.queue(gate.store, None) == []
    [again] = gate.decide(revision, [(clinic, Purpose.TREATMENT)], c.T0)  # as the refer stage does
    assert again.outcome.value.startswith("permit") and again.referral_id == held.referral_id
    with pytest.raises(links.LinkError):
        links.split(gate.store, held.referral_id, "ana", c.T0, KEYS)  # reviewed already


def test_a_split_relinks_the_request_as_a_person_of_its_own(gate):
    clinic = Recipient("prov-clinic", "health-care-provider")
    uncertain = ems_request().model_copy(update={"match": Match.UNCERTAIN})
    [held] = gate.decide(uncertain, [(clinic, Purpose.TREATMENT)], c.T0)
    relinked = links.split(gate.store, held.referral_id, "ana", c.T0, KEYS)
    assert links.queue(gate.store, None) == []
    assert relinked.person != uncertain.person and relinked.episode_id != uncertain.episode_id
    assert relinked.request_id != uncertain.request_id and relinked.subject == uncertain.subject
    assert (relinked.match, relinked.revision) == (Match.EXACT, uncertain.revision + 1)
    [again] = gate.decide(relinked, [(clinic, Purpose.TREATMENT)], c.T0)  # a new person's request
    assert again.outcome.value.startswith("permit") and again.referral_id != held.referral_id
    with gate.store.transaction() as tx:
        row = tx.fetchone("SELECT status FROM consent_hold WHERE referral_id = :id", {"id": held.referral_id})
    assert row["status"] == "cancelled"


def test_a_part2_programmes_status_on_the_worklist_goes_through_the_legal_model(gate):
    """The page and `handoff outreach` show a provider's status as `handoff referrals` does
    (pipeline.track.visibility.Viewer): a Part 2 programme's acceptance is withheld from the outreach
    team without a Part 2 consent naming it, shown to the privacy officer, and shown to the team once
    such a consent exists; Handoff's own 'held' and 'requested' stay visible."""
    from pipeline import records as r
    from pipeline.people import Account, Role
    from pipeline.settings import Settings
    from pipeline.track import apply_status
    from pipeline.vocab import ConsentStatus, DataCategory, ReferralState, StatusSource

    harbor = Recipient("org-harbor-recovery", "health-care-provider", True)  # the sample directory's Part 2 programme
    request = ems_request().model_copy(update={"source_role": SourceRole.PART2_PROGRAMME})
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": "team-a"})})
    [held] = gate.decide(request, [(harbor, Purpose.TREATMENT)], c.T0)
    rid, at = held.referral_id, c.T0 + timedelta(hours=1)
    settings = Settings(programme_id="team-a")
    outreach = Account("out-1", "", frozenset({Role.OUTREACH}), "", False, False)
    officer = Account("po-1", "", frozenset({Role.PRIVACY_OFFICER}), "", False, False)

    def seen(account, when=at) -> str:
        return wl.entry(gate.store, rid, wl.team_of(settings, account, gate.store, when), when).provider_status

    def consent(cid: str, names: str, purpose: Purpose) -> r.ConsentRecord:
        return r.ConsentRecord(consent_id=cid, kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=[names],
                               purposes=[purpose], data_categories=list(DataCategory), signed_at=c.T0,
                               artefact_ref="doc:" + cid, period_end=c.T0 + timedelta(days=365),
                               signed_by=["patient"], expiry_event="")

    assert seen(outreach) == "held"
    gate.registry.put(c.PERSON, consent("c-harbor", harbor.id, Purpose.TREATMENT), at, "user:ana")
    released, _ = gate.on_consent_change(c.PERSON, at, "consent:0@1")
    assert [x.decision.referral_id for x in released] == [rid]
    for n, (state, source) in enumerate([(ReferralState.REQUESTED, StatusSource.DELIVERY),
                                         (ReferralState.ACCEPTED, StatusSource.PROVIDER)]):
        env = r.Envelope(event_id=f"status:{rid}:{n}", source_system="test", source_record_id=rid,
                         occurred_at=at + timedelta(minutes=n), ingested_at=at, correlation_id="c")
        apply_status(gate.store, r.ReferralStatus(envelope=env, referral_id=rid, state=state, source=source,
                                                  reported_by=harbor.id, recipient_id=harbor.id, person=c.PERSON,
                                                  request_id=request.request_id), None, at, programme="team-a")
        if n == 0:
            assert seen(outreach) == "requested"  # Handoff's own step: always visible
    assert seen(outreach) == "withheld"
    assert seen(officer) == "accepted"
    gate.registry.put(c.PERSON, consent("c-team", "team-a", Purpose.CARE_COORDINATION), at, "user:ana")
    assert seen(outreach) == "accepted"
