"""The programme lead's page (permission `reports`): a month's de-identified report with charts,
and the overdose spike alerts. Counts under 11 are suppressed exactly as `handoff report` does
(pipeline/report); a chart draws only what the tables publish.

    GET /reports?month=YYYY-MM&area=A     the tables, the charts (inline SVG), recent spikes
    GET /reports.csv?month=...&area=...   the same report as CSV

Every view is on the audit record (who, which month and area).
"""
from __future__ import annotations

import json
import re
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.web.auth import Web, needs
from pipeline.audit.emit import view_audit
from pipeline.people import Permission
from pipeline.report import tables
from pipeline.report.store import month_report, report_areas, spikes
from pipeline.report.suppress import THRESHOLD

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
BAR = 320  # the longest bar, in SVG user units


def bars(labels: list[str], values: list[int | None]) -> list[dict]:
    """A horizontal bar chart's bars: a suppressed value gets no bar, only its label."""
    top = max([v for v in values if v] or [1])
    return [{"label": label, "value": v, "width": 0 if not v else max(2, round(BAR * v / top)), "y": 28 * i}
            for i, (label, v) in enumerate(zip(labels, values))]


def funnel(t) -> list[tuple[str, int | None]]:
    """Referrals made, accepted, engaged, completed: each the sum of the stage columns from it on,
    shown only when every column it adds up is published."""
    out = [("made", t.total)]
    for k, name in enumerate(("accepted", "engaged", "completed"), start=1):
        parts = t.column_totals[k:]
        out.append((name, None if any(p is None for p in parts) else sum(parts)))
    return out


def routes(web: Web) -> list[Route]:
    async def build(request: Request):
        now = web.clock.now()
        month = request.query_params.get("month") or (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        area = request.query_params.get("area") or None
        if not MONTH.match(month):
            return None, month, area
        await web.writer.write([view_audit(request.state.session.account.username, now, "dashboard", "report",
                                           query=json.dumps({"month": month, "area": area}))], [], [])
        return await run_in_threadpool(month_report, web.store, month, area), month, area

    @needs(Permission.REPORTS, web)
    async def page(request: Request) -> Response:
        report, month, area = await build(request)
        areas = await run_in_threadpool(report_areas, web.store)
        recent = await run_in_threadpool(spikes, web.store, web.clock.now() - timedelta(days=7))
        if report is None:
            return web.page(request, "reports.html", status=400, error=f"month {month!r}: expected YYYY-MM",
                            month=month, area=area, areas=areas, report=None, spikes=recent, threshold=THRESHOLD)
        calls, referrals = report.tables["calls"], report.tables["referrals"]
        charts = {"calls": bars(calls.rows, calls.row_totals),
                  "funnel": bars(*map(list, zip(*funnel(referrals))))}
        if "areas" in report.tables:
            charts["areas"] = bars(report.tables["areas"].rows, report.tables["areas"].row_totals)
        return web.page(request, "reports.html", error="", month=month, area=area, areas=areas, report=report,
                        charts=charts, spikes=recent, threshold=THRESHOLD, bar=BAR)

    @needs(Permission.REPORTS, web)
    async def as_csv(request: Request) -> Response:
        report, month, _ = await build(request)
        if report is None:
            return Response(f"month {month!r}: expected YYYY-MM\n", status_code=400, media_type="text/plain")
        return Response(tables.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="handoff-report-{month}.csv"'})

    return [Route("/reports", page), Route("/reports.csv", as_csv)]
