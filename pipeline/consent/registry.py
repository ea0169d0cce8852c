"""The consent registry of record (database), and its producer to the compacted `consent` topic.

    registry = Registry(store)
    registry.put(person, consent, actor="user:ana")      # add or replace a Consent
    registry.revoke("c-1", at, actor="user:ana")         # honoured from `at` on
    registry.propose_from_field(person, "field:le-07:R-19", at)   # a field flag: a *proposed* consent
    registry.consents(person)                            # the current set (a list of ConsentRecord)
    await publish_pending(registry, writer, at)          # produce every changed set, after commit

A change takes effect when its transaction commits: every write bumps the person's set
version in the same transaction, and `publish_pending` produces each set whose version was
not produced yet (with an audit record first) and marks it produced. A crash in between
produces it again on the next call: the topic is compacted and the set is the whole state,
so a repeat changes nothing. Nothing else produces to `consent`.
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from pipeline import records as r
from pipeline.ids import digest
from pipeline.storage import Store, Transaction
from pipeline.vocab import ConsentKind, ConsentStatus


class ConsentError(ValueError):
    """A change the registry refuses (unknown consent, another person's consent id, ...)."""


def _token(person: r.PersonKey) -> dict:
    return {"token": person.person_token, "kv": person.key_version}


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------ reads

    def consents(self, person: r.PersonKey, tx: Transaction | None = None) -> list[r.ConsentRecord]:
        if tx is None:
            with self.store.transaction() as tx:
                return self.consents(person, tx)
        rows = tx.fetchall("SELECT body FROM consent_record WHERE person_token = :token AND key_version = :kv"
                           " ORDER BY consent_id", _token(person))
        return [r.ConsentRecord.model_validate_json(row["body"]) for row in rows]

    def current(self, person: r.PersonKey, tx: Transaction | None = None) -> r.ConsentSet:
        if tx is None:
            with self.store.transaction() as tx:
                return self.current(person, tx)
        row = tx.fetchone("SELECT version, updated_at FROM consent_person WHERE person_token = :token"
                          " AND key_version = :kv", _token(person))
        version, at = (row["version"], row["updated_at"]) if row else (0, "1970-01-01T00:00:00+00:00")
        return r.ConsentSet(person=person, consents=self.consents(person, tx), registry_version=version,
                            updated_at=datetime.fromisoformat(at))

    def find(self, consent_id: str) -> tuple[r.PersonKey, r.ConsentRecord] | None:
        with self.store.transaction() as tx:
            row = tx.fetchone("SELECT person_token, key_version, body FROM consent_record WHERE consent_id = :id",
                              {"id": consent_id})
        if row is None:
            return None
        return (r.PersonKey(person_token=row["person_token"], key_version=row["key_version"]),
                r.ConsentRecord.model_validate_json(row["body"]))

    # ------------------------------------------------------------ writes (each its own transaction)

    def put(self, person: r.PersonKey, consent: r.ConsentRecord, at: datetime, actor: str,
            resource: str = "") -> r.ConsentSet:
        """Add a consent, or replace one of this person's (a capture completing a proposed one)."""
        with self.store.transaction(immediate=True) as tx:
            owner = tx.fetchone("SELECT person_token, key_version FROM consent_record WHERE consent_id = :id",
                                {"id": consent.consent_id})
            if owner and (owner["person_token"], owner["key_version"]) != (person.person_token, person.key_version):
                raise ConsentError(f"consent {consent.consent_id} belongs to another person")
            self._write(tx, person, consent, at, resource)
            return self._bump(tx, person, at, actor)

    def revoke(self, consent_id: str, at: datetime, actor: str) -> r.ConsentSet:
        """Revocation is honoured from `at`: status inactive, revoked_at set, nothing else lost."""
        with self.store.transaction(immediate=True) as tx:
            row = tx.fetchone("SELECT person_token, key_version, body, resource FROM consent_record"
                              " WHERE consent_id = :id", {"id": consent_id})
            if row is None:
                raise ConsentError(f"no consent {consent_id}")
            person = r.PersonKey(person_token=row["person_token"], key_version=row["key_version"])
            consent = r.ConsentRecord.model_validate_json(row["body"])
            if consent.revoked_at is None:
                consent = consent.model_copy(update={"status": ConsentStatus.INACTIVE, "revoked_at": at})
                self._write(tx, person, consent, at, row["resource"] or "")
            return self._bump(tx, person, at, actor)

    def propose_from_field(self, person: r.PersonKey, source: str, at: datetime, actor: str = "",
                           kind: ConsentKind = ConsentKind.PART2) -> r.ConsentSet:
        """A consent flag from the field (ePCR custom element, CAD disposition, field referral):
        a *proposed* consent with every 2.31 element still to capture. It never permits; it puts
        the person on the capture worklist. The same flag twice is one proposal."""
        consent_id = "proposed-" + digest(person.person_token, source, length=20)
        with self.store.transaction(immediate=True) as tx:
            if tx.fetchone("SELECT 1 AS x FROM consent_record WHERE consent_id = :id", {"id": consent_id}):
                return self.current(person, tx)
            from pipeline.consent.decide import PART2_ELEMENTS
            consent = r.ConsentRecord(consent_id=consent_id, kind=kind, status=ConsentStatus.PROPOSED,
                                      missing_elements=list(PART2_ELEMENTS))
            self._write(tx, person, consent, at, "")
            return self._bump(tx, person, at, actor or f"field:{source}")

    def _write(self, tx: Transaction, person: r.PersonKey, consent: r.ConsentRecord, at: datetime,
               resource: str) -> None:
        params = {**_token(person), "id": consent.consent_id, "status": consent.status.value,
                  "body": consent.model_dump_json(), "resource": resource or None, "at": at.isoformat()}
        tx.execute("INSERT INTO consent_record (consent_id, person_token, key_version, status, body, resource,"
                   " updated_at) VALUES (:id, :token, :kv, :status, :body, :resource, :at)"
                   " ON CONFLICT (consent_id) DO UPDATE SET status = excluded.status, body = excluded.body,"
                   " resource = COALESCE(excluded.resource, consent_record.resource),"
                   " updated_at = excluded.updated_at", params)

    def _bump(self, tx: Transaction, person: r.PersonKey, at: datetime, actor: str) -> r.ConsentSet:
        params = {**_token(person), "at": at.isoformat(), "actor": actor}
        if not tx.execute("UPDATE consent_person SET version = version + 1, updated_at = :at, changed_by = :actor"
                          " WHERE person_token = :token AND key_version = :kv", params):
            tx.execute("INSERT INTO consent_person (person_token, key_version, version, updated_at, changed_by)"
                       " VALUES (:token, :kv, 1, :at, :actor)", params)
        return self.current(person, tx)

    # ------------------------------------------------------------ the topic's producer side

    def unpublished(self, limit: int = 500) -> list[tuple[r.ConsentSet, str]]:
        """Sets changed since they were last produced, with who changed them, oldest first."""
        with self.store.transaction() as tx:
            rows = tx.fetchall("SELECT person_token, key_version, changed_by FROM consent_person"
                               " WHERE published_version < version ORDER BY updated_at LIMIT :n", {"n": limit})
            return [(self.current(r.PersonKey(person_token=row["person_token"], key_version=row["key_version"]),
                                  tx), row["changed_by"] or "") for row in rows]

    def mark_published(self, consent_set: r.ConsentSet) -> None:
        with self.store.transaction(immediate=True) as tx:
            tx.execute("UPDATE consent_person SET published_version = :v WHERE person_token = :token"
                       " AND key_version = :kv AND published_version < :v",
                       {**_token(consent_set.person), "v": consent_set.registry_version})


async def publish_pending(registry: Registry, writer, at: datetime) -> int:
    """Produce each changed consent set to `consent` (its audit record first); returns how many.

    `writer` is a pipeline.stage.Writer; on a broker error it retries, and what is not marked
    produced is produced by the next call."""
    from pipeline.audit.emit import admin_audit
    from pipeline.stage import Output

    done = 0
    for consent_set, actor in await asyncio.to_thread(registry.unpublished):
        token = consent_set.person.person_token
        audit = admin_audit(actor.removeprefix("user:") or "registry", at, "consent-set",
                            f"person:{token}:v{consent_set.registry_version}",
                            {"consents": str(len(consent_set.consents)),
                             "registry_version": str(consent_set.registry_version)})
        await writer.write([audit], [Output("consent", consent_set.person, consent_set)], [])
        await asyncio.to_thread(registry.mark_published, consent_set)
        done += 1
    return done


YES = frozenset({"yes", "y", "true", "1", "9923003"})  # 9923003: NEMSIS "Yes"


def flagged_in_run(run: r.EmsRun, elements: frozenset[str]) -> bool:
    """Does an ePCR carry the agency's consent-to-referral flag (a custom result)? Pure."""
    return any(c.element_id in elements and c.value.strip().lower() in YES for c in run.custom_results)


def flagged_in_field(referral: r.FieldReferral) -> bool:
    """A field referral says the person agreed (verbally, on a form): a proposal to capture."""
    return referral.consent_status in ("verbal", "proposed", "signed")
