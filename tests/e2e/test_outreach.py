"""Outreach in a real browser: a worker opens a held referral, records an attempt, an incomplete consent
releases nothing, a complete one (with the signed form uploaded) is produced to `consent` and releases
the hold as the consent stage applies it; a team led by law enforcement sees no provider anywhere."""
from __future__ import annotations

import json

import pytest

from pipeline.consent import Gate, Recipient, load_policy
from pipeline.storage import open_store
from pipeline.vocab import ConsentStatus, Match, Outcome, Purpose, SourceRole
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_web import PHONE, records, sign_in, views
from tests.unit.render import cases as c

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
PROGRAMME = "team-north"
SITE_ENV = {"HANDOFF_PROGRAMME_ID": PROGRAMME,
            "HANDOFF_EDGES__AGENCIES": json.dumps({"pd-north": {"kind": "law-enforcement", "may_send": ["field"]}})}
PDF = b"%PDF-1.4\n% a signed consent form (synthetic test data)\n"


@pytest.fixture(scope="module")
def held(site):
    for name, org in (("out-1", "outreach-north"), ("out-pd", "pd-north")):
        done = site.handoff("users", "add", name, "--role", "outreach", "--organisation", org, "--password-stdin",
                            stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    store = open_store(site.url)
    store.migrate()
    gate = Gate(store, load_policy())
    request = c.ems_request().model_copy(update={"source_role": SourceRole.COVERED_ENTITY})  # EMS (settings.agencies)
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": PROGRAMME})})
    [decision] = gate.decide(request, [(Recipient("prov-housing", "other"), Purpose.CARE_COORDINATION)], c.T0)
    assert decision.outcome == Outcome.HOLD
    yield gate, decision.referral_id
    store.close()


def _consents(site) -> list:
    return [s for s in records(site, "consent") if s.person.person_token == c.PERSON.person_token]


def test_a_team_led_by_law_enforcement_sees_no_provider_status(browser, site, held):
    _, rid = held
    context, page = sign_in(browser, site, "out-pd")
    for path in ("/outreach", f"/outreach/{rid}"):
        assert page.goto(site.base + path).status == 200
        text = page.inner_text("main")
        assert "Morgan J Quillfeather" in text, path  # whom to find, yes
        assert "prov-housing" not in page.content() and "Provider status" not in text, path
    listed = site.handoff("outreach", "list", "--user", "out-pd")
    assert listed.returncode == 0 and "prov-housing" not in listed.stdout, listed.stderr
    context.close()


def test_outreach_opens_a_held_referral_an_incomplete_consent_releases_nothing_a_complete_one_releases(
        browser, site, held):
    gate, rid = held
    context, page = sign_in(browser, site, "out-1", PHONE)
    assert page.url.endswith("/outreach")
    row = page.locator("tbody tr").first
    assert "Morgan J Quillfeather" in row.inner_text() and "217-555-0142" in row.inner_text()
    assert "held" in row.inner_text()  # an outreach team sees the provider status
    page.click("text=Morgan J Quillfeather")
    assert "12 Elm" in page.inner_text("dl.facts") and "prov-housing" in page.inner_text("dl.facts")

    page.select_option("#method", "phone")
    page.select_option("#outcome", "no-answer")
    page.fill("#note", "rang twice")
    page.click("text=Record the attempt")
    assert "Attempt recorded" in page.inner_text("[role=status]") and "no-answer" in page.inner_text("main")

    page.fill("#disclosing_party", "Capital Area EMS")
    # EMS (a covered entity) to a housing partner (not a provider): a HIPAA authorisation (45 CFR 164.508)
    page.check("input[name='kind'][value='hipaa-authorization']")
    for box in ("info_general", "info_sud", "info_mental-health", "recipient_named", "purpose_care-coordination",
                "right_to_revoke", "conditioning_statement"):
        page.check(f"input[name='{box}']")
    page.fill("#expiry_days", "365")
    page.fill("#signer", "Morgan Quillfeather")
    page.select_option("#capacity", "self")
    page.click("text=Record the consent")  # no redisclosure statement, no signed form
    missing = page.inner_text("#missing")
    assert "redisclosure-statement" in missing and "signature" in missing
    assert gate.registry.consents(c.PERSON) == [] and _consents(site) == []
    assert gate.on_consent_change(c.PERSON, c.T0, "t") == ([], [])  # nothing to release

    page.check("input[name='redisclosure_statement']")  # the form kept what was entered
    page.set_input_files("#artefact", files=[{"name": "consent.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.click("text=Record the consent")
    assert "Consent recorded" in page.inner_text("[role=status]")
    [produced] = _consents(site)[-1:]
    [active] = [x for x in produced.consents if x.status == ConsentStatus.ACTIVE]
    assert active.recipients == ["prov-housing"] and active.artefact_ref.startswith("sha256:")
    released, _ = gate.on_consent_change(c.PERSON, active.signed_at, "consent:0@1")  # as the consent stage does
    assert [x.decision.referral_id for x in released] == [rid]
    assert [(x.decision.outcome.value[:6], x.decision.consent_id) for x in released] == \
        [("permit", active.consent_id)]  # a permit resting on the consent just captured
    seen = {a.detail["what"] for a in views(site, "out-1")}
    assert {"outreach worklist", "outreach entry"} <= seen
    context.close()


def test_an_officer_makes_a_field_referral_from_a_phone_and_gets_only_a_receipt(browser, site, held):
    done = site.handoff("users", "add", "off-1", "--role", "responder", "--organisation", "pd-north",
                        "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    context, page = sign_in(browser, site, "off-1", PHONE)
    assert page.url.endswith("/field") and page.locator("#pathway").input_value() == "officer-intervention"
    page.fill("#given", "Avery")
    page.fill("#family", "Thornbury")
    page.fill("#birth_date", "1988-04-09")
    page.fill("#phone", "217-555-0199")
    page.check("input[name='service_sud-treatment']")
    page.check("input[name='consent_status'][value='verbal']")
    page.fill("#scene_street", "400 Main St")
    page.click("text=Send the referral")
    receipt = page.inner_text("#receipt")
    assert receipt.startswith("Received. Receipt ") and "Avery" not in page.inner_text("main")
    [sent] = [f for f in records(site, "field.referral") if f.subject.family == "Thornbury"]
    assert (sent.agency_id, sent.referrer_role, sent.referrer_id, sent.consent_status) == \
        ("pd-north", "officer", "off-1", "verbal")
    assert [s.value for s in sent.services] == ["sud-treatment"] and sent.location.street == "400 Main St"
    for path in ("/outreach", "/inbox", "/privacy"):  # and nothing else to look at
        assert page.goto(site.base + path).status == 403, path
    context.close()


def test_a_link_review_confirmation_sends_the_request_back_as_an_exact_match(browser, site, held):
    gate, _ = held
    clinic = Recipient("prov-clinic", "health-care-provider")
    uncertain = c.ems_request().model_copy(update={"match": Match.UNCERTAIN, "request_id": "req-uncertain",
                                                   "source_role": SourceRole.COVERED_ENTITY})
    [decision] = gate.decide(uncertain, [(clinic, Purpose.TREATMENT)], c.T0)
    assert decision.outcome == Outcome.HOLD
    context, page = sign_in(browser, site, "out-1")
    page.goto(site.base + "/links")
    assert "Morgan Quillfeather" in page.inner_text("tbody")
    page.click("button:has-text('Confirm')")
    assert "Confirmed" in page.inner_text("[role=status]") and "No uncertain match" in page.inner_text("main")
    [revision] = [q for q in records(site, "referral.request") if q.request_id == "req-uncertain"]
    assert (revision.match, revision.revision) == (Match.EXACT, uncertain.revision + 1)
    [again] = gate.decide(revision, [(clinic, Purpose.TREATMENT)], c.T0)  # the refer stage's decision
    assert again.outcome.value.startswith("permit") and again.referral_id == decision.referral_id
    actions = {a.detail.get("action") for a in records(site, "audit") if a.actor == "user:out-1"}
    assert "link-confirm" in actions
    context.close()
