"""The admin's configuration page in a real browser (Debian's Chromium) against `handoff serve web` on a
real broker: a dry run made with the command line shows its report (by change, category and area, with
its case ids) and the version in force; the Install button installs exactly that version (audited,
the proposal closed); a form without the CSRF token and other roles are refused."""
from __future__ import annotations

import asyncio

import pytest

from pipeline.audit.sink import audit_codec
from pipeline.config import versions
from pipeline.kafka.producer import ProducerSink
from pipeline.stage import Output, Writer
from pipeline.storage import open_store
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_web import no_serious_violations, sign_in
from tests.support import config_changes as known


async def _produce(site, topic: str, records, key) -> None:
    async with ProducerSink(site.bootstrap) as sink:
        await Writer(site.catalogue, sink, "test").write([], [Output(topic, key(x), x) for x in records], [])


@pytest.fixture(scope="module")
def dry_run(site, tmp_path_factory):
    for name, role in (("admin-cfg", "admin"), ("ops-cfg", "it-operator")):
        done = site.handoff("users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    at = known.at_yesterday()
    asyncio.run(_produce(site, "ems.run", known.runs(at), lambda x: x.key))
    asyncio.run(_produce(site, "referral.request", known.requests(at), lambda x: x.person))
    path = known.routing_change(tmp_path_factory.mktemp("routing"))
    done = site.handoff("config", "apply", "routing", str(path), "--user", "admin-cfg", "--dry-run", "--days", "2")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_admin_reviews_a_dry_run_and_installs_it(browser, site, dry_run, axe_source):
    context, page = sign_in(browser, site, "admin-cfg")
    try:
        assert page.url == site.base + "/admin/config"
        assert "routing-2" in page.inner_text("#in-force") and "Nothing installed yet" in page.inner_text("#history")
        [article] = page.locator("article.proposal").all()
        assert article.locator(".changes").inner_text() == "8 changes"
        rows = [r.inner_text().split("\t")[:4] for r in article.locator("table.report tbody tr").all()]
        assert [row[:4] for row in rows] == [["referral asked", "peer-recovery", "Sangamon County", "6"],
                                             ["referral no longer routed", "sud-treatment", "Sangamon County", "2"]]
        cases = article.locator("table.report").inner_text()
        assert "req-sud-4" in cases and "req-sud-5" in cases and "ems-012/PCR-A1" in cases
        link = article.locator('a[href="/privacy/disclosures?token=tok-req-sud-4"]')
        assert link.count() == 1  # a privacy officer opens the person's accounting from here
        no_serious_violations(page, axe_source)
        page.screenshot(path="tests/e2e/screenshots/admin-config.png", full_page=True)

        refused = page.request.post(site.base + "/admin/config/apply", form={"proposal": "x"})
        assert refused.status == 403  # no CSRF token

        page.click("article.proposal button[type=submit]")
        assert page.url.startswith(site.base + "/admin/config?applied=routing")
        assert "Installed routing routing-test-3 #1" in page.inner_text("#applied")
        assert "routing-test-3" in page.inner_text("#in-force") and "admin-cfg" in page.inner_text("#history")
        assert page.locator("article.proposal").count() == 0
    finally:
        context.close()
    with open_store(site.url) as store:
        assert versions.heads(store) == {"routing": 1}
        assert versions.active(store, "routing").version == "routing-test-3"
        with store.transaction() as tx:
            events = [audit_codec().decode(r["body"]) for r in tx.fetchall("SELECT body FROM audit_record")]
    applied = [e for e in events if e.detail.get("action") == "config-apply"]
    assert [(e.actor, e.detail["channel"], e.detail["version"], e.outcome) for e in applied] == [
        ("user:admin-cfg", "web", "routing-test-3", "success")]


def test_other_roles_may_not_see_the_configuration_page(browser, site, dry_run):
    context, page = sign_in(browser, site, "ops-cfg")
    try:
        assert page.goto(site.base + "/admin/config").status == 403
    finally:
        context.close()
