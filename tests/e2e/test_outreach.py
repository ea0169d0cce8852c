"""Outreach and the field end to end: `handoff serve web` and `handoff worker` (every stage) as
subprocesses on the real broker and one SQLite database, driven in Debian's Chromium.

An officer refers a person on scene with a consent signed on the page's canvas: the worker routes,
decides (the consent names the clinic), renders and delivers it to the clinic's inbox. An outreach
worker opens a referral the gate held, an incomplete consent releases nothing, a complete one (the
signed form uploaded) is delivered. A link-review confirmation releases a held match; a split sends
the request on as another person's. A team led by law enforcement sees no provider status anywhere.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from functools import partial
import uuid

import pytest

from pipeline.storage import open_store
from tests.e2e.conftest import HANDOFF, PASSWORD
from tests.e2e.test_web import PHONE, records, sign_in, views
from tests.support.kafka import poll

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
PROGRAMME = "team-north"
CLINIC = "org-bridge-clinic"  # the sample directory's first sud-treatment provider for Sangamon county
SITE_ENV = {
    "HANDOFF_PROGRAMME_ID": PROGRAMME,
    "HANDOFF_EDGES__AGENCIES": json.dumps({"pd-north": {"kind": "law-enforcement", "may_send": ["field"]},
                                           "ems-north": {"kind": "ems", "may_send": ["field"]}}),
    "HANDOFF_AGENCIES": json.dumps({"pd-north": {"role": "law-enforcement"}, "ems-north": {"role": "covered-entity"}}),
}
PDF = b"%PDF-1.4\n% a signed consent form (synthetic test data)\n"
WAIT = 90.0  # seconds for the worker to carry a record from the web service to the inbox


_until = partial(poll, timeout=WAIT)


@pytest.fixture(scope="module")
def world(site, tmp_path_factory):
    """The accounts, the database, and `handoff worker` running every stage against the site's broker
    topics and database."""
    for name, role, org in (("off-1", "responder", "pd-north"), ("crew-1", "responder", "ems-north"),
                            ("out-1", "outreach", "outreach-north"), ("out-pd", "outreach", "pd-north"),
                            ("prov-bridge", "provider", CLINIC)):
        done = site.handoff("users", "add", name, "--role", role, "--organisation", org, "--password-stdin",
                            stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    tmp = tmp_path_factory.mktemp("worker")
    log = tmp / "worker.log"
    env = {**site.env, "HANDOFF_KAFKA__CONSUMER_GROUP": f"g-{uuid.uuid4().hex[:10]}", "HANDOFF_METRICS__PORT": "0"}
    worker = subprocess.Popen([HANDOFF, "worker"], env=env, cwd=tmp, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    store = open_store(site.url)
    try:
        _until(lambda: worker.poll() is not None or "consuming: " in log.read_text(), timeout=120,
               what="the worker to consume")
        assert worker.poll() is None, log.read_text()
        yield store
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        store.close()
        print("\n" + "\n".join(log.read_text().splitlines()[-5:]))


def _rows(store, sql: str, **params) -> list[dict]:
    with store.transaction() as tx:
        return tx.fetchall(sql, params)


def _delivered(store, family: str) -> list[dict]:
    """The inbox items whose referral is about `family` (the payload names the person)."""
    return [row for row in _rows(store, "SELECT referral_id, recipient_id, payload FROM inbox_item")
            if family.encode() in bytes(row["payload"])]


def _held(store, family: str, uncertain: bool = False) -> list[dict]:
    rows = _rows(store, "SELECT referral_id, recipient_id, reasons, request FROM consent_hold WHERE status = 'held'")
    return [row for row in rows if f'"family":"{family}"' in row["request"]
            and ("uncertain" in (row["reasons"] or "")) == uncertain]


def _person(page, given: str, family: str, birth: str = "1988-04-09") -> None:
    for field, value in (("#given", given), ("#family", family), ("#birth_date", birth), ("#phone", "217-555-0199"),
                         ("#street", "5 Oak St"), ("#city", "Springfield"), ("#county", "Sangamon"), ("#state", "IL"),
                         ("#zip", "62701")):
        if value:
            page.fill(field, value)
    page.check("input[name='service_sud-treatment']")
    page.fill("#scene_street", "400 Main St")


def _consent(page, disclosing: str, recipient: str) -> None:
    """Every element of a Part 2 consent, for treatment by `recipient` (a value of the form's "to whom")."""
    page.check("input[name='kind'][value='part2']")
    page.fill("#disclosing_party", disclosing)
    for box in ("info_general", "info_sud", "purpose_treatment", "right_to_revoke", "redisclosure_statement"):
        page.check(f"input[name='{box}']")
    page.select_option("#recipient", recipient)
    page.fill("#expiry_days", "365")
    page.fill("#signer", page.input_value("#patient_name"))
    page.select_option("#capacity", "self")


def _sign_on_canvas(page) -> None:
    """A signature drawn with the pointer (mouse events; the canvas listens to pointer events)."""
    pad = page.locator("#signature")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + w * 0.1, y + h * 0.6)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x + w * (0.1 + 0.07 * i), y + h * (0.6 - 0.3 * (i % 2)), steps=3)
    page.mouse.up()
    assert pad.get_attribute("data-drawn") == "yes"


def test_an_officer_refers_on_scene_with_a_consent_signed_on_the_page_and_it_is_delivered(browser, site, world):
    store = world
    context, page = sign_in(browser, site, "off-1", PHONE, bypass_csp=False)  # the script runs under the real CSP
    assert page.url.endswith("/field") and page.locator("#pathway").input_value() == "officer-intervention"
    _person(page, "Avery", "Thornbury")
    page.check("input[name='consent_status'][value='signed']")
    page.click("summary")
    assert page.locator("#signature-clear").is_visible()  # signature.js ran (script-src 'self')
    page.fill("#patient_name", "Avery Thornbury")
    _consent(page, "North Police Department", CLINIC)
    page.click("text=Send the referral")  # not signed yet: nothing is sent
    assert "signature" in page.inner_text("#missing") and page.locator("#receipt").count() == 0
    assert [f for f in records(site, "field.referral") if f.subject.family == "Thornbury"] == []
    assert page.input_value("#given") == "Avery" and page.input_value("#recipient") == CLINIC  # the form kept it

    _sign_on_canvas(page)
    page.click("text=Send the referral")
    assert page.inner_text("#receipt").startswith("Received. Receipt ")
    assert "Avery" not in page.inner_text("main") and CLINIC not in page.content()  # a receipt, nothing more
    [sent] = [f for f in records(site, "field.referral") if f.subject.family == "Thornbury"]
    assert (sent.agency_id, sent.referrer_role, sent.consent_status) == ("pd-north", "officer", "signed")
    [artefact] = _rows(store, "SELECT sha256, content_type, body, consent_id FROM consent_artefact")
    body = bytes(artefact["body"])
    assert artefact["content_type"] == "image/png" and body.startswith(b"\x89PNG\r\n\x1a\n") and len(body) > 500
    assert artefact["sha256"] == hashlib.sha256(body).hexdigest()

    [item] = _until(lambda: _delivered(store, "Thornbury"), what="the officer's referral in the clinic's inbox")
    assert item["recipient_id"] == CLINIC
    [delivery] = [d for d in records(site, "delivery") if d.referral_id == item["referral_id"]]
    assert (delivery.decision.basis.value, delivery.decision.consent_id) == ("part2-consent", artefact["consent_id"])
    for path in ("/outreach", "/inbox", "/privacy"):
        assert page.goto(site.base + path).status == 403, path
    context.close()

    clinic, page = sign_in(browser, site, "prov-bridge")
    page.click("text=Avery Thornbury")
    page.click("button:text('Accept')")  # a provider status the police must never see
    assert "Recorded: accept" in page.inner_text("[role=status]")
    clinic.close()
    _until(lambda: _rows(store, "SELECT 1 AS x FROM referral_state WHERE referral_id = :r AND state = 'accepted'",
                         r=item["referral_id"]), what="the accepted state")


def test_outreach_captures_the_consent_of_a_held_referral_an_incomplete_one_releases_nothing(browser, site, world):
    store = world
    officer, page = sign_in(browser, site, "off-1", PHONE)
    _person(page, "Jordan", "Vale", "1979-11-23")  # the consent is not yet given: the gate holds the referral
    page.click("text=Send the referral")
    assert page.inner_text("#receipt").startswith("Received.")
    officer.close()
    [hold] = _until(lambda: _held(store, "Vale"), what="the hold")
    assert hold["recipient_id"] == CLINIC

    context, page = sign_in(browser, site, "out-1", PHONE)
    assert page.url.endswith("/outreach")
    page.click("text=Jordan Vale")
    assert page.url.endswith(f"/outreach/{hold['referral_id']}") and CLINIC in page.inner_text("dl.facts")
    _consent(page, "North Police Department", "held")
    page.uncheck("input[name='redisclosure_statement']")
    page.click("text=Record the consent")  # no redisclosure statement, nothing signed
    missing = page.inner_text("#missing")
    assert "redisclosure-statement" in missing and "signature" in missing
    time.sleep(3)  # the worker had time to act on anything produced
    assert _rows(store, "SELECT consent_id FROM consent_artefact WHERE consent_id LIKE 'captured-%'"
                 " AND consent_id IN (SELECT consent_id FROM consent_record WHERE body LIKE '%Vale%')") == []
    assert _delivered(store, "Vale") == [] and _held(store, "Vale") == [hold]  # nothing released

    page.check("input[name='redisclosure_statement']")  # the form kept everything else
    page.set_input_files("#artefact", files=[{"name": "consent.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.click("text=Record the consent")
    assert "Consent recorded" in page.inner_text("[role=status]")
    [item] = _until(lambda: _delivered(store, "Vale"), what="the released referral in the clinic's inbox")
    assert (item["referral_id"], item["recipient_id"]) == (hold["referral_id"], CLINIC)
    assert _held(store, "Vale") == []
    seen = {a.detail["what"] for a in views(site, "out-1")}
    assert {"outreach worklist", "outreach entry", "consent capture (incomplete, not stored)"} <= seen

    page.goto(f"{site.base}/outreach/{hold['referral_id']}")  # revocation from the same place
    assert "released" in page.inner_text("dl.facts") and page.locator("form.consent").count() == 0
    page.click("button:text('Revoke')")
    assert "Consent revoked" in page.inner_text("[role=status]")
    _until(lambda: _rows(store, "SELECT 1 AS x FROM referral_state WHERE referral_id = :r AND state = 'cancelled'",
                         r=hold["referral_id"]), what="the sent referral cancelled by the revocation")
    _until(lambda: len(_rows(store, "SELECT delivery_id FROM inbox_item WHERE referral_id = :r",
                             r=hold["referral_id"])) == 2, what="the clinic told of the cancellation")
    context.close()


def test_link_review_a_confirmation_releases_a_held_match_and_a_split_relinks(browser, site, world):
    store = world
    crew, page = sign_in(browser, site, "crew-1", PHONE)  # an EMS crew: a covered entity, treatment needs no consent
    for family in ("Okafor", "Lindqvist"):
        page.goto(site.base + "/field")
        _person(page, "", family, "1990-02-14")  # no given name: linked on family name and birth date only
        page.click("text=Send the referral")
        assert page.inner_text("#receipt").startswith("Received.")
    crew.close()
    [confirm] = _until(lambda: _held(store, "Okafor", uncertain=True), what="the uncertain match held")
    [split] = _until(lambda: _held(store, "Lindqvist", uncertain=True), what="the second uncertain match")

    context, page = sign_in(browser, site, "out-1")
    page.goto(site.base + "/links")
    assert "Okafor" in page.inner_text("tbody") and "Lindqvist" in page.inner_text("tbody")
    page.locator("tr", has_text="Okafor").locator("button:has-text('Confirm')").click()
    assert "Confirmed" in page.inner_text("[role=status]")
    [item] = _until(lambda: _delivered(store, "Okafor"), what="the confirmed match in the clinic's inbox")
    assert item["referral_id"] == confirm["referral_id"]  # the same person, the same referral, now exact

    page.locator("tr", has_text="Lindqvist").locator("button:has-text('Split')").click()
    assert "another person" in page.inner_text("[role=status]") and "No uncertain match" in page.inner_text("main")
    [other] = _until(lambda: _delivered(store, "Lindqvist"), what="the split request delivered as its own person")
    assert other["referral_id"] != split["referral_id"]  # a new person key: a new referral
    [relinked] = [q for q in records(site, "referral.request") if q.subject and q.subject.family == "Lindqvist"
                  and q.envelope.sender == "user:out-1"]
    [first] = [q for q in records(site, "referral.request") if q.subject and q.subject.family == "Lindqvist"
               and q.envelope.sender != "user:out-1"][:1]
    assert relinked.person != first.person and relinked.episode_id != first.episode_id
    actions = {a.detail.get("action") for a in records(site, "audit") if a.actor == "user:out-1"}
    assert {"link-confirm", "link-split"} <= actions
    context.close()


def test_a_law_enforcement_account_sees_no_provider_status_anywhere(browser, site, world):
    store = world
    officer, page = sign_in(browser, site, "off-1", PHONE)
    _person(page, "Casey", "Marsh", "1985-06-30")
    page.click("text=Send the referral")
    officer.close()
    [hold] = _until(lambda: _held(store, "Marsh"), what="Marsh's hold")
    accepted = _rows(store, "SELECT referral_id FROM referral_state WHERE state = 'accepted'")
    assert accepted, "the officer's own referral was accepted by the clinic (first test)"

    context, page = sign_in(browser, site, "out-pd")  # an outreach account of the police department
    for path in ("/outreach", f"/outreach/{hold['referral_id']}", "/links", "/field"):
        assert page.goto(site.base + path).status == 200, path
        html = page.content()
        if path != "/field":  # the field form lists the directory's providers to name in a consent
            assert CLINIC not in html and "Bridge Clinic" not in html, path
        assert "Provider status" not in html and "accepted" not in html and "Referred to" not in html, path
    page.goto(site.base + "/outreach")
    assert "Casey Marsh" in page.inner_text("main")  # whom to find, yes
    for row in accepted:
        assert page.goto(f"{site.base}/inbox/{row['referral_id']}").status == 403
    listed = site.handoff("outreach", "list", "--user", "out-pd")
    assert listed.returncode == 0 and "Marsh" in listed.stdout and CLINIC not in listed.stdout, listed.stderr
    context.close()
