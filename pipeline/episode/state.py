"""The episode stage's state in the database (migration 0003_episode): source records by
incident, persons' episodes, merged requests. Each function is one transaction (the batch
form `save_runs`: one per batch; route-decide-render merges inside `Store.batch()`); the merge reads and writes under the
write lock, so two workers cannot both open revision 2.

Every row carries `stored_at`, when Handoff last wrote it (the stage's clock, `now`): retention is
counted from there, not from the record's own times, which are event times (a backfilled or
replayed record from last year is still kept its full retention once stored).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline import records as r
from pipeline.avro import Codec
from pipeline.episode import PersonEpisode, assign_episode, content_digest, merge
from pipeline.errors import Permanent
from pipeline.storage import Store

CODECS: dict[str, Codec] = {"ems.run": Codec(r.EmsRun), "dispatch.incident": Codec(r.DispatchIncident),
                            "field.referral": Codec(r.FieldReferral)}
REFERRAL = Codec(r.ReferralRequest)


def incident_key(key: r.IncidentKey) -> str:
    return f"{key.dispatch_centre}|{key.incident_number}"


def save_record(store: Store, topic: str, record: r.Record, key: r.IncidentKey | None, now: datetime) -> None:
    """Keep the latest version of a source record (an older version arriving late changes nothing)."""
    with store.transaction(immediate=True) as tx:
        _save(tx, topic, record, key, now)


def incident_records(store: Store, key: r.IncidentKey) -> tuple[list[r.EmsRun], r.DispatchIncident | None]:
    """Every EMS run of an incident (latest versions) and its CAD incident, if it has come."""
    with store.transaction() as tx:
        return _incident(tx, key)


def save_runs(store: Store, runs: list[r.EmsRun],
              now: datetime) -> list[tuple[list[r.EmsRun], r.DispatchIncident | None]]:
    """A batch of EMS runs in one transaction: each saved, then its incident's records read (so a
    run sees the runs before it in the batch, as one at a time would)."""
    out = []
    with store.transaction(immediate=True) as tx:
        for run in runs:
            _save(tx, "ems.run", run, run.key, now)
            out.append(_incident(tx, run.key))
    return out


def _save(tx, topic: str, record: r.Record, key: r.IncidentKey | None, now: datetime) -> None:
    envelope = record.envelope
    tx.execute(
        "INSERT INTO episode_record (topic, record_id, version, event_id, incident_key, body, received_at, stored_at)"
        " VALUES (:topic, :id, :version, :event, :incident, :body, :at, :now)"
        " ON CONFLICT (topic, record_id) DO UPDATE SET version = excluded.version, event_id = excluded.event_id,"
        " incident_key = excluded.incident_key, body = excluded.body, received_at = excluded.received_at,"
        " stored_at = excluded.stored_at WHERE excluded.version >= episode_record.version",
        {"topic": topic, "id": envelope.source_record_id, "version": envelope.source_record_version,
         "event": envelope.event_id, "incident": incident_key(key) if key else None,
         "body": CODECS[topic].encode(record), "at": envelope.ingested_at.isoformat(), "now": now.isoformat()})


def _incident(tx, key: r.IncidentKey) -> tuple[list[r.EmsRun], r.DispatchIncident | None]:
    rows = tx.fetchall("SELECT topic, body FROM episode_record WHERE incident_key = :k ORDER BY record_id",
                       {"k": incident_key(key)})
    runs = [CODECS["ems.run"].decode(bytes(row["body"])) for row in rows if row["topic"] == "ems.run"]
    incidents = [CODECS["dispatch.incident"].decode(bytes(row["body"])) for row in rows
                 if row["topic"] == "dispatch.incident"]
    return runs, (max(incidents, key=lambda i: i.envelope.source_record_version) if incidents else None)


class MissingSource(Permanent):
    """A record names a source record the episode store does not hold (purged, or never saved):
    rendering without it would send different content than before, so nothing is rendered."""


def load_sources(store: Store, refs: list[r.SourceRef]) -> list[r.Record]:
    """The source records a request names (latest versions kept), for rendering; every one of
    them, or `MissingSource`."""
    out, missing = [], []
    with store.transaction() as tx:
        for ref in refs:
            row = tx.fetchone("SELECT body FROM episode_record WHERE topic = :t AND record_id = :id",
                              {"t": ref.topic, "id": ref.record_id})
            if row is None or ref.topic not in CODECS:
                missing.append(f"{ref.topic}/{ref.record_id}")
            else:
                out.append(CODECS[ref.topic].decode(bytes(row["body"])))
    if missing:
        raise MissingSource(f"source record {', '.join(missing)} not in the episode store (purged, or never saved)")
    return out


def load_request(store: Store, request_id: str) -> r.ReferralRequest | None:
    """A merged request by id (None when it is gone)."""
    with store.transaction() as tx:
        row = tx.fetchone("SELECT body FROM episode_request WHERE request_id = :id", {"id": request_id})
    return REFERRAL.decode(bytes(row["body"])) if row is not None else None


def merge_request(store: Store, incoming: r.ReferralRequest, window: timedelta, now: datetime) -> r.ReferralRequest:
    """Place a request in the person's episode and fold it into what is there; returns the merged request."""
    with store.transaction(immediate=True) as tx:
        return _merge(tx, incoming, window, now)


def _merge(tx, incoming: r.ReferralRequest, window: timedelta, now: datetime) -> r.ReferralRequest:
    token = incoming.person.person_token
    at = incoming.envelope.occurred_at
    episodes = [PersonEpisode(row["episode_id"], datetime.fromisoformat(row["first_seen"]),
                              datetime.fromisoformat(row["last_seen"]))
                for row in tx.fetchall("SELECT episode_id, first_seen, last_seen FROM person_episode"
                                       " WHERE person_token = :t", {"t": token})]
    episode = assign_episode(incoming, episodes, window)
    known = next((e for e in episodes if e.episode_id == episode), None)
    stored = now.isoformat()
    if known is None:
        tx.execute("INSERT INTO person_episode (person_token, episode_id, first_seen, last_seen, stored_at)"
                   " VALUES (:t, :e, :at, :at, :now)", {"t": token, "e": episode, "at": at.isoformat(), "now": stored})
    else:
        tx.execute("UPDATE person_episode SET first_seen = :first, last_seen = :last, stored_at = :now"
                   " WHERE person_token = :t AND episode_id = :e",
                   {"t": token, "e": episode, "first": min(at, known.first_seen).isoformat(),
                    "last": max(at, known.last_seen).isoformat(), "now": stored})
    placed_id = merge(incoming, episode, None).request_id
    row = tx.fetchone("SELECT body FROM episode_request WHERE request_id = :id", {"id": placed_id})
    existing = REFERRAL.decode(bytes(row["body"])) if row else None
    merged = merge(incoming, episode, existing)
    if merged is not existing:
        params = {"id": merged.request_id, "t": token, "e": episode, "s": merged.service.value,
                  "rev": merged.revision, "digest": content_digest(merged), "body": REFERRAL.encode(merged),
                  "at": at.isoformat(), "now": stored}
        if existing is None:
            tx.execute("INSERT INTO episode_request (request_id, person_token, episode_id, service, revision,"
                       " digest, body, updated_at, stored_at) VALUES (:id, :t, :e, :s, :rev, :digest, :body, :at,"
                       " :now)", params)
        else:
            tx.execute("UPDATE episode_request SET revision = :rev, digest = :digest, body = :body,"
                       " updated_at = :at, stored_at = :now WHERE request_id = :id", params)
    return merged


def purge(store: Store, before: datetime, keep_persons: frozenset[str] = frozenset()) -> dict[str, int]:
    """Minimum PHI at rest: drop source records, episodes and merged requests that Handoff last
    wrote before `before` (`stored_at`; settings: routing.episode_retention_days). Returns the counts.

    Never what is still needed: the requests (and episodes) of `keep_persons` (a delivery not yet
    settled, a hold still open) and every source record that a kept request, or a request written
    since `before`, names; rendering reads them."""
    cut = before.isoformat()
    with store.transaction(immediate=True) as tx:
        named = set()
        for row in tx.fetchall("SELECT person_token FROM episode_request WHERE stored_at >= :cut", {"cut": cut}):
            named.add(row["person_token"])
        needed: set[tuple[str, str]] = set()
        for token in named | set(keep_persons):
            for row in tx.fetchall("SELECT body FROM episode_request WHERE person_token = :t", {"t": token}):
                needed |= {(s.topic, s.record_id) for s in REFERRAL.decode(bytes(row["body"])).source_records}
        old = tx.fetchall("SELECT topic, record_id FROM episode_record WHERE stored_at < :cut", {"cut": cut})
        records = sum(tx.execute("DELETE FROM episode_record WHERE topic = :t AND record_id = :id",
                                 {"t": row["topic"], "id": row["record_id"]})
                      for row in old if (row["topic"], row["record_id"]) not in needed)
        kept = sorted(keep_persons)
        spared = f" AND person_token NOT IN ({', '.join(f':k{i}' for i in range(len(kept)))})" if kept else ""
        params = {"cut": cut, **{f"k{i}": k for i, k in enumerate(kept)}}
        return {
            "episode_record": records,
            "person_episode": tx.execute(f"DELETE FROM person_episode WHERE stored_at < :cut{spared}", params),
            "episode_request": tx.execute(f"DELETE FROM episode_request WHERE stored_at < :cut{spared}", params),
        }
