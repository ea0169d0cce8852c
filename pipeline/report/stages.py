"""The report's stages (thin): keep each detection's de-identified facts, put each recognised
overdose on the surveillance feed where the policy permits, watch the areas' 24-hour counts;
keep each referral request's pathway and area. Declared in pipeline/app.py's STAGES table."""
from __future__ import annotations

import asyncio
import logging

import orjson

from pipeline import records as r
from pipeline.episode import state as episodes
from pipeline.errors import HandoffError
from pipeline.report import facts, feed
from pipeline.report import store as facts_store
from pipeline.stage import Context, Output, Result
from pipeline.vocab import AuditKind

log = logging.getLogger(__name__)


def _secret(deps) -> str:
    """The newest linkage key: report ids are keyed digests only the site can recompute."""
    return deps.linkage_keys[max(deps.linkage_keys)].get_secret_value()


async def report_detection(deps, detection: r.Detection, ctx: Context) -> Result:
    return (await report_detections(deps, [(detection, ctx)]))[0]


async def report_detections(deps, batch) -> list[Result]:
    """report-detection's batch form: the batch's facts kept in one thread hand-off and one
    transaction (`store.batch`), then a spike raised meanwhile told to the webhook."""
    def run() -> list[r.OverdoseReport | None]:
        with deps.store.batch():
            return [_kept(deps, detection, ctx) for detection, ctx in batch]
    reports = await asyncio.to_thread(run)
    if any(reports):
        await notify_spikes(deps, batch[0][1].clock.now())
    return [Result(outputs=[Output("surveillance.overdose", r.SurveillanceKey(area=report.area), report,
                                   AuditKind.DECISION)]) if report is not None else Result() for report in reports]


def _kept(deps, detection: r.Detection, ctx: Context) -> r.OverdoseReport | None:
    """Keep a detection's call facts; its overdose report when the policy lets it go to the feed
    (blocking: database work)."""
    [source] = episodes.load_sources(deps.store, [detection.subject])  # else MissingSource
    settings = deps.report
    fire = frozenset(settings.fire_agencies)
    call = facts.call(detection, source, _secret(deps), fire)
    if call is not None:
        facts_store.save_call(deps.store, call)
    policy = deps.gate.policy
    report = facts.overdose(detection, source, _secret(deps), settings.grid_degrees, fire, policy.version)
    if report is None:
        return None
    role = detection.envelope.source_role.value if detection.envelope.source_role else None
    rules = feed.permitted(policy, role)
    if not rules:
        log.info("surveillance: %s withheld: no policy rule lets %s disclose to public health",
                 report.report_id, role or f"an unknown source ({policy.default_source})")
        return None
    facts_store.save_overdose(deps.store, report)
    _watch(deps, report.area, report.occurred_at, ctx)
    return report


def _watch(deps, area: str, at, ctx: Context) -> None:
    """An area over its threshold raises a spike (once a day per area; the webhook is told after)."""
    settings = deps.report
    count = facts_store.count_since(deps.store, area, at - feed.WINDOW, at)
    found = feed.spike(area, count, at, settings.spike_threshold, settings.spike_thresholds)
    if found is not None:
        facts_store.raise_spike(deps.store, area, at, count, found.threshold, ctx.clock.now())


async def notify_spikes(deps, now) -> int:
    """POST every spike not yet sent to the configured webhook; a failure waits for the next try."""
    settings = deps.report
    connector = deps.connectors.get("webhook")
    if not settings.spike_webhook or connector is None:
        return 0
    sent = 0
    for row in await asyncio.to_thread(facts_store.unnotified_spikes, deps.store):
        found = feed.Spike(row["area"], _at(row["window_end"]), row["count"], row["threshold"])
        body = orjson.dumps(feed.alert_body(found), option=orjson.OPT_SORT_KEYS)
        try:
            await connector.post(settings.spike_recipient, settings.spike_webhook,
                                 f"spike:{row['area']}:{row['window_end']}", body)
        except HandoffError as e:
            log.warning("spike alert for %s not sent: %s", row["area"], e)
            continue
        await asyncio.to_thread(facts_store.mark_notified, deps.store, row["area"], row["window_end"], now)
        sent += 1
    return sent


def _at(text: str):
    from datetime import datetime
    return datetime.fromisoformat(text)


async def report_request(deps, request: r.ReferralRequest, ctx: Context) -> Result:
    return (await report_requests(deps, [(request, ctx)]))[0]


async def report_requests(deps, batch) -> list[Result]:
    """report-request's batch form: each request's pathway and area kept, in one transaction."""
    fire = frozenset(deps.report.fire_agencies)

    def run() -> None:
        with deps.store.batch():
            for request, _ in batch:
                facts_store.save_request(deps.store, request.request_id, request.envelope.occurred_at.strftime("%Y-%m"),
                                         facts.area_of(request.location), facts.request_pathway(request, fire))
    await asyncio.to_thread(run)
    return [Result() for _ in batch]
