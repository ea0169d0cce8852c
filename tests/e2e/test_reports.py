"""The programme lead's report page in a real browser (Debian's Chromium) against `handoff serve web`:
a generated month with known counts, small cells shown as *, charts drawn inline (SVG, nothing
fetched from another origin), the spike alert listed, no person data, views on the audit record;
another role is refused."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.report.store import raise_spike
from pipeline.storage import open_store
from tests.e2e.conftest import PASSWORD, SHOTS
from tests.e2e.test_web import DESKTOP, no_serious_violations, sign_in, views
from tests.unit.report import month

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


@pytest.fixture(scope="module")
def lead(site):
    for name, roles in (("lead-1", ["programme-lead"]), ("prov-r", ["provider", "--organisation", "org-a"])):
        done = site.handoff("users", "add", name, "--role", *roles, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    with open_store(site.url) as store:
        store.migrate()
        month.write(store)
        now = datetime.now(timezone.utc)
        raise_spike(store, "53033", now - timedelta(hours=1), 14, 10, now)
    return "lead-1"


def test_the_lead_sees_the_month_with_small_cells_suppressed_and_charts(browser, site, lead, axe_source):
    context, page = sign_in(browser, site, lead, DESKTOP)
    fetched = []
    page.on("request", lambda r: fetched.append(r.url))
    try:
        assert page.url == site.base + "/reports"
        page.fill("#month", month.MONTH)
        page.select_option("#area", "53033")
        page.click("form.filters button")
        assert page.url.startswith(site.base + f"/reports?month={month.MONTH}&area=53033")
        calls = page.locator("#calls tbody tr")
        assert calls.count() == 6  # five pathways and the total
        ems = calls.nth(0).inner_text().split("\t")
        assert ems[0] == "ems-led" and ems[2] == "*" and ems[-1] == "80"  # 3 hidden; the row total shown
        assert calls.nth(5).inner_text().split("\t")[-1] == "173"
        bars = page.locator("#calls-chart g.bar")
        assert bars.count() == 5 and bars.nth(0).get_attribute("data-value") == "80"
        assert page.locator("#calls-chart rect").count() >= 3
        funnel = {g.get_attribute("data-label"): g.get_attribute("data-value")
                  for g in page.locator("#funnel-chart g.bar").all()}
        assert funnel["made"] == "138" and funnel["completed"] == "44"
        assert "Area 53033: 14 overdoses" in page.inner_text("#spikes")
        html = page.content()
        for secret in ("Testperson", "1990-05-01", "tok"):
            assert f">{secret}<" not in html
        assert all(u.startswith(site.base) for u in fetched), fetched  # no CDN, no other origin
        page.screenshot(path=str(SHOTS / "reports-1366.png"), full_page=True)
        no_serious_violations(page, axe_source)
        download = page.request.get(site.base + f"/reports.csv?month={month.MONTH}&area=53033")
        rows = list(csv.DictReader(io.StringIO(download.text())))
        assert {r["count"] for r in rows if r["table"] == "calls" and r["row"] == "ems-led"
                and r["column"] == "overdose"} == {"suppressed"}
    finally:
        context.close()
    assert any("report" in (v.detail or {}).get("what", "") for v in views(site, lead))


def test_a_provider_may_not_see_reports(browser, site, lead):
    context, page = sign_in(browser, site, "prov-r")
    try:
        assert page.goto(site.base + "/reports").status == 403
    finally:
        context.close()
