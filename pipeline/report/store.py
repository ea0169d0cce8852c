"""The report's facts in storage (migration 0011): written by the report stages, read by the
reports, the feed export and the spike check. Only de-identified facts are kept here."""
from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from pipeline import records as r
from pipeline.report import tables
from pipeline.report.facts import Call
from pipeline.storage import Store


def save_call(store: Store, call: Call) -> None:
    """One row per incident: a later record of it adds categories, a pathway better than
    dispatch-only, a death."""
    with store.transaction(immediate=True) as tx:
        row = tx.fetchone("SELECT pathway, categories, fatal FROM report_call WHERE call_id = :id", {"id": call.call_id})
        categories = set(call.categories)
        pathway, fatal = call.pathway, call.fatal
        if row is not None:
            categories |= set(filter(None, row["categories"].split(",")))
            pathway = row["pathway"] if call.pathway == "dispatch-only" else call.pathway
            fatal = fatal or bool(row["fatal"])
            tx.execute("UPDATE report_call SET pathway = :p, categories = :c, fatal = :f WHERE call_id = :id",
                       {"p": pathway, "c": ",".join(sorted(categories)), "f": int(fatal), "id": call.call_id})
        else:
            tx.execute("INSERT INTO report_call (call_id, occurred_at, month, area, pathway, categories, fatal)"
                       " VALUES (:id, :at, :month, :area, :p, :c, :f)",
                       {"id": call.call_id, "at": call.occurred_at.isoformat(), "month": call.month,
                        "area": call.area, "p": pathway, "c": ",".join(sorted(categories)), "f": int(fatal)})


def save_request(store: Store, request_id: str, month: str, area: str, pathway: str) -> None:
    with store.transaction(immediate=True) as tx:
        tx.execute("INSERT INTO report_request (request_id, month, area, pathway) VALUES (:id, :m, :a, :p)"
                   " ON CONFLICT (request_id) DO NOTHING",
                   {"id": request_id, "m": month, "a": area, "p": pathway})


def save_overdose(store: Store, report: r.OverdoseReport) -> bool:
    """Keep the feed's record (a later record of the same incident replaces it); True when new."""
    body = orjson.dumps(report.model_dump(mode="json")).decode()
    values = {"id": report.report_id, "at": report.occurred_at.isoformat(), "area": report.area,
              "cell": report.grid_cell, "lat": report.latitude, "lon": report.longitude, "fatal": int(report.fatal),
              "given": int(report.naloxone_given), "doses": report.naloxone_doses, "opioid": int(report.opioid),
              "body": body}
    with store.transaction(immediate=True) as tx:
        new = tx.fetchone("SELECT 1 AS one FROM surveillance_overdose WHERE report_id = :id", values) is None
        tx.execute("INSERT INTO surveillance_overdose (report_id, occurred_at, area, grid_cell, latitude, longitude,"
                   " fatal, naloxone_given, naloxone_doses, opioid, body) VALUES (:id, :at, :area, :cell, :lat,"
                   " :lon, :fatal, :given, :doses, :opioid, :body) ON CONFLICT (report_id) DO UPDATE SET"
                   " fatal = excluded.fatal, naloxone_given = excluded.naloxone_given,"
                   " naloxone_doses = excluded.naloxone_doses, opioid = excluded.opioid, body = excluded.body",
                   values)
    return new


def overdoses(store: Store, since: datetime | None = None, until: datetime | None = None,
              area: str | None = None) -> list[dict]:
    """The feed's records (as JSON objects), oldest first."""
    clauses, params = [], {}
    if since is not None:
        clauses.append("occurred_at >= :since")
        params["since"] = since.isoformat()
    if until is not None:
        clauses.append("occurred_at < :until")
        params["until"] = until.isoformat()
    if area is not None:
        clauses.append("area = :area")
        params["area"] = area
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    with store.transaction() as tx:
        rows = tx.fetchall(f"SELECT body FROM surveillance_overdose{where} ORDER BY occurred_at, report_id", params)
    return [orjson.loads(row["body"]) for row in rows]


def count_since(store: Store, area: str, since: datetime, until: datetime) -> int:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT COUNT(*) AS n FROM surveillance_overdose WHERE area = :a AND occurred_at > :s"
                          " AND occurred_at <= :u", {"a": area, "s": since.isoformat(), "u": until.isoformat()})
    return int(row["n"])


def raise_spike(store: Store, area: str, window_end: datetime, count: int, threshold: int, now: datetime) -> bool:
    """Record a spike unless one was raised for the area in the 24 hours before; True when raised."""
    with store.transaction(immediate=True) as tx:
        recent = tx.fetchone("SELECT 1 AS one FROM surveillance_spike WHERE area = :a AND window_end > :s",
                             {"a": area, "s": (window_end - timedelta(hours=24)).isoformat()})
        if recent is not None:
            return False
        tx.execute("INSERT INTO surveillance_spike (area, window_end, count, threshold, raised_at)"
                   " VALUES (:a, :w, :c, :t, :now)", {"a": area, "w": window_end.isoformat(), "c": count,
                                                       "t": threshold, "now": now.isoformat()})
    return True


def unnotified_spikes(store: Store) -> list[dict]:
    with store.transaction() as tx:
        return [dict(row) for row in tx.fetchall(
            "SELECT area, window_end, count, threshold, raised_at FROM surveillance_spike"
            " WHERE notified_at IS NULL ORDER BY raised_at")]


def spikes(store: Store, since: datetime) -> list[dict]:
    with store.transaction() as tx:
        return [dict(row) for row in tx.fetchall(
            "SELECT area, window_end, count, threshold, raised_at, notified_at FROM surveillance_spike"
            " WHERE window_end > :s ORDER BY window_end DESC", {"s": since.isoformat()})]


def mark_notified(store: Store, area: str, window_end: str, now: datetime) -> None:
    with store.transaction(immediate=True) as tx:
        tx.execute("UPDATE surveillance_spike SET notified_at = :now WHERE area = :a AND window_end = :w",
                   {"now": now.isoformat(), "a": area, "w": window_end})


def month_rows(store: Store, month: str, area: str | None = None) -> dict[str, list[dict]]:
    """Everything a month's report is computed from (pipeline/report/tables.py)."""
    params = {"m": month, "area": area}
    where = (lambda prefix: f"AND {prefix}area = :area") if area else (lambda prefix: "")
    with store.transaction() as tx:
        calls = tx.fetchall(f"SELECT pathway, categories, fatal FROM report_call WHERE month = :m {where('')}", params)
        referrals = tx.fetchall(
            f"SELECT q.pathway, s.referral_id, s.created_at FROM report_request q JOIN referral_state s"
            f" ON s.request_id = q.request_id WHERE q.month = :m {where('q.')}", params)
        history = tx.fetchall(
            f"SELECT h.referral_id, h.to_state, h.occurred_at FROM referral_status_history h"
            f" JOIN referral_state s ON s.referral_id = h.referral_id JOIN report_request q"
            f" ON q.request_id = s.request_id WHERE h.outcome = 'applied' AND q.month = :m"
            f" {where('q.')}", params)
        holds = tx.fetchall(
            f"SELECT q.pathway, c.status, c.close_reason FROM consent_hold c JOIN report_request q"
            f" ON q.request_id = c.request_id WHERE q.month = :m {where('q.')}", params)
    return {"calls": [dict(x) for x in calls], "referrals": [dict(x) for x in referrals],
            "history": [dict(x) for x in history], "holds": [dict(x) for x in holds]}


def report_areas(store: Store) -> list[str]:
    with store.transaction() as tx:
        return [row["area"] for row in tx.fetchall("SELECT DISTINCT area FROM report_call ORDER BY area")]


def month_areas(store: Store, month: str) -> list[str]:
    """The areas with a call or a referral request in the month."""
    with store.transaction() as tx:
        rows = tx.fetchall("SELECT area FROM report_call WHERE month = :m UNION SELECT area FROM report_request"
                           " WHERE month = :m", {"m": month})
    return sorted({row["area"] for row in rows})


def month_report(store: Store, month: str, area: str | None = None) -> tables.Report:
    """One area's report, or the all-areas report derived from every area's (pipeline/report/tables.py)."""
    if area is not None:
        return tables.build(month, area, month_rows(store, month, area))
    return tables.build_all(month, {a: month_rows(store, month, a) for a in month_areas(store, month)})
