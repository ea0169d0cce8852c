"""The web service in a real browser: a provider answers a referral, sees only its own organisation's,
a privacy officer reads a person's disclosures; lockout, CSRF, a refused role; every view on record;
axe-core finds no serious or critical violation. One browser for the session, one server per module."""
from __future__ import annotations

import asyncio
import csv
import io

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.storage import open_store
from pipeline.track import apply_status
from tests.e2e.conftest import PASSWORD, SHOTS
from tests.e2e.seed import seed

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 768}


async def _read_all(bootstrap: str, topic) -> list:
    """Every record on `topic` up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic.full_name, p) for p in range(topic.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        got = []
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                got += [topic.value.decode(m.value) for m in messages]
        return got
    finally:
        await consumer.stop()


def records(site, name: str) -> list:
    return asyncio.run(_read_all(site.bootstrap, site.catalogue[name]))


def views(site, actor: str) -> list:
    return [a for a in records(site, "audit") if a.kind.value == "view" and a.actor == f"user:{actor}"]


@pytest.fixture(scope="module")
def people(site):
    """Accounts made the way an admin makes them, through the installed command."""
    for name, roles in (("prov-a", ["provider", "--organisation", "org-a"]), ("po-1", ["privacy-officer"]),
                        ("ops-1", ["it-operator"]), ("prov-lock", ["provider", "--organisation", "org-a"])):
        done = site.handoff("users", "add", name, "--role", *roles, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    refused = site.handoff("users", "add", "x", "--role", "provider", "--password-stdin", stdin=PASSWORD + "\n")
    assert refused.returncode == 2 and refused.stderr.startswith("handoff: a provider account is bound")
    store = open_store(site.url)
    seeded = seed(store)
    yield seeded, store
    store.close()


def sign_in(browser, site, user: str, viewport=DESKTOP, bypass_csp: bool = True):
    context = browser.new_context(ignore_https_errors=True, viewport=viewport, bypass_csp=bypass_csp)
    page = context.new_page()
    page.goto(site.base + "/")
    assert page.url.startswith(site.base + "/signin")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    return context, page


def no_serious_violations(page, axe_source: str) -> None:
    page.evaluate(axe_source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == [], serious


def test_provider_signs_in_accepts_a_referral_and_the_state_changes(browser, site, people, axe_source):
    seeded, store = people
    context, page = sign_in(browser, site, "prov-a")
    assert page.url == site.base + "/inbox"
    [cookie] = [k for k in context.cookies() if k["name"].startswith("__Host-")]
    assert (cookie["name"], cookie["httpOnly"], cookie["secure"], cookie["sameSite"], cookie["path"]) == \
        ("__Host-handoff", True, True, "Strict", "/")
    headers = page.request.get(site.base + "/inbox").headers
    assert headers["content-security-policy"].startswith("default-src 'none'") and headers["cache-control"] == "no-store"
    assert headers["strict-transport-security"] == "max-age=31536000"  # served over TLS
    assert page.locator("table caption").inner_text() == "1 referral, newest first"
    no_serious_violations(page, axe_source)
    page.screenshot(path=str(SHOTS / "inbox-1366.png"), full_page=True)
    page.click("text=Morgan J Quillfeather")
    assert page.url == f"{site.base}/inbox/{seeded.own}"
    assert page.inner_text("#state") == "requested"
    assert "(42 CFR part 2)" in page.inner_text("section.notice")  # the 2.32 notice, as delivered
    assert "do not disclose it further" in page.inner_text("section.redisclosure")
    assert "217-555-0142" in page.inner_text("main")
    no_serious_violations(page, axe_source)
    page.screenshot(path=str(SHOTS / "referral-1366.png"), full_page=True)
    page.click("button:text('Accept')")
    assert "Recorded: accept" in page.inner_text("[role=status]")
    [status] = records(site, "referral.status")
    assert (status.referral_id, status.state.value, status.reported_by, status.envelope.sender, status.source.value) \
        == (seeded.own, "accepted", "org-a", "user:prov-a", "provider")
    assert apply_status(store, status, None, status.envelope.occurred_at).verdict.applied  # what track does
    page.reload()
    assert page.inner_text("#state") == "accepted"
    assert [b.inner_text() for b in page.locator("section[aria-labelledby=answer-h] button").all()] == \
        ["Contact made", "Completed"]
    answers = [a for a in records(site, "audit") if a.kind.value == "status-change"]
    assert [(a.actor, a.referral_id, a.outcome, a.detail["action"]) for a in answers] == \
        [("user:prov-a", seeded.own, "accepted", "accept")]
    context.close()
    phone, page = sign_in(browser, site, "prov-a", PHONE)
    page.goto(f"{site.base}/inbox/{seeded.own}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.screenshot(path=str(SHOTS / "referral-phone.png"), full_page=True)
    phone.close()


def test_a_provider_cannot_see_another_organisations_referral_page_or_api(browser, site, people):
    seeded, _ = people
    context, page = sign_in(browser, site, "prov-a")
    response = page.goto(f"{site.base}/inbox/{seeded.other}")
    assert response.status == 404 and "Morgan" not in page.inner_text("main")
    assert page.goto(f"{site.base}/inbox/{seeded.other}/delivered/{seeded.other}:x").status == 404
    context.close()
    with site.http() as http:
        token = http.post("/api/v1/session", json={"username": "prov-a", "password": PASSWORD}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        listed = http.get("/api/v1/referrals", headers=auth).json()
        assert [x["referral_id"] for x in listed["referrals"]] == [seeded.own] and listed["organisation"] == "org-a"
        assert http.get(f"/api/v1/referrals/{seeded.other}", headers=auth).status_code == 404
        answer = http.post(f"/api/v1/referrals/{seeded.other}/answer", json={"action": "accept"}, headers=auth)
        assert answer.status_code == 404
        mine = http.get(f"/api/v1/referrals/{seeded.own}", headers=auth).json()
        assert mine["messages"][0]["payload"]["resourceType"] == "Bundle" and mine["summary"]["part2"] is True
        assert http.get("/api/v1/referrals").status_code == 401  # no credential
    refused = [v for v in views(site, "prov-a") if v.outcome == "refused"]
    assert {v.referral_id for v in refused} == {seeded.other} and len(refused) == 4  # page, bytes, API read, answer
    assert all(a.referral_id != seeded.other for a in records(site, "referral.status"))


def test_privacy_officer_sees_a_persons_disclosures_and_the_chain(browser, site, people, axe_source):
    seeded, _ = people
    context, page = sign_in(browser, site, "po-1")
    assert page.url == site.base + "/privacy"
    no_serious_violations(page, axe_source)
    page.click("button:text('Verify the log now')")
    assert page.inner_text("#verify").startswith("Intact: ")
    page.goto(site.base + "/privacy/disclosures")
    page.fill("#token", seeded.person)
    page.click("button:text('Show disclosures')")
    rows = page.locator("#disclosures tbody tr").all()
    assert [row.locator("td").nth(1).inner_text() for row in rows] == ["org-a", "org-b"]
    assert [row.locator("td").nth(4).inner_text() for row in rows] == ["part2-consent", "hipaa-treatment"]
    no_serious_violations(page, axe_source)
    page.screenshot(path=str(SHOTS / "disclosures-1366.png"), full_page=True)
    exported = page.request.get(page.locator("a:text('CSV')").get_attribute("href").join([site.base, ""])
                                if False else site.base + page.locator("a:text('CSV')").get_attribute("href"))
    table = list(csv.DictReader(io.StringIO(exported.text())))
    assert [(t["recipient_id"], t["basis"], t["consent_id"]) for t in table] == \
        [("org-a", "part2-consent", "consent-31"), ("org-b", "hipaa-treatment", "")]
    context.close()
    seen = views(site, "po-1")
    about = [v for v in seen if v.detail["what"].startswith("disclosures")]
    assert [(v.stage, v.person.person_token, v.detail["what"]) for v in about] == \
        [("dashboard", seeded.person, "disclosures"), ("dashboard", seeded.person, "disclosures (export csv)")]


def test_lockout_csrf_and_a_refused_role(browser, site, people):
    seeded, _ = people
    with site.http() as http:
        for _ in range(3):
            assert http.post("/api/v1/session", json={"username": "prov-lock", "password": "wrong " * 3}
                             ).status_code == 401
        locked = http.post("/api/v1/session", json={"username": "prov-lock", "password": PASSWORD})
        assert locked.status_code == 401 and "locked" in locked.json()["error"]
    assert any(a.kind.value == "admin" and a.detail.get("action") == "account-locked"
               for a in records(site, "audit"))
    with site.http() as http:  # the sign-in form's own CSRF check: no double-submit cookie, no session
        forged = http.post("/signin", data={"username": "prov-a", "password": PASSWORD, "csrf": "made-up"})
        assert forged.status_code == 403 and "__Host-handoff" not in forged.cookies
    before = len(records(site, "referral.status"))
    context, page = sign_in(browser, site, "prov-a")
    forged = page.request.post(f"{site.base}/inbox/{seeded.own}/answer", form={"action": "contact"})
    assert forged.status == 403 and "CSRF" in forged.text()
    wrong = page.request.post(f"{site.base}/inbox/{seeded.own}/answer", form={"action": "contact", "csrf": "x" * 43})
    assert wrong.status == 403
    assert page.goto(site.base + "/privacy").status == 403  # a provider is no privacy officer
    context.close()
    assert len(records(site, "referral.status")) == before  # nothing was answered
    context, page = sign_in(browser, site, "ops-1")
    assert "Operations" in page.inner_text("main")  # an it-operator lands on the operations page (no person data)
    for path in ("/inbox", "/privacy", "/privacy/disclosures?token=" + seeded.person):
        response = page.goto(site.base + path)
        assert response.status == 403 and "roles do not include" in page.inner_text("main"), path
    context.close()
    refused = [v for v in views(site, "ops-1") if v.outcome == "refused"]
    assert len(refused) == 3


def test_every_view_of_person_level_data_is_on_record(site, people):
    """Each person-level page and API read above left a view record with its user, and the CLI
    needs a checked account: ops-1 may not print disclosures, po-1 may (and is recorded)."""
    seeded, _ = people
    prov = views(site, "prov-a")
    whats = {v.detail["what"] for v in prov if v.outcome == "success"}
    assert {"inbox list", "referral", "inbox list (api)", "referral (api)"} <= whats
    assert [v.detail["what"] for v in prov if v.stage != "inbox"] == ["audit-state (refused)"]  # /privacy
    refused = site.handoff("audit", "disclosures", "--patient", seeded.person, "--user", "ops-1")
    assert refused.returncode == 2 and "needs the privacy-officer role" in refused.stderr
    shown = site.handoff("audit", "disclosures", "--patient", seeded.person, "--user", "po-1")
    assert shown.returncode == 0 and shown.stdout.startswith("2 disclosures")
