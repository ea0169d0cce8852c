"""The campaign's consent phase: Part 2 consents and their revocations through the HTTP intake,
with a revocation landing while a delivery that relies on the consent is still waiting to be sent.

1. EMS runs come in (NEMSIS over HTTP) from a deflection programme that is not in the agency
   registry: the policy reads it as a Part 2 programme (policy.yaml `default_source`), so each
   referral waits for a Part 2 consent (a hold).
2. The MLLP recipient goes away (its listener closed: connection refused, a transient failure,
   nothing held), and a complete Part 2 consent naming it is posted for each person held for it:
   the holds are released and the sends fail into the retry tiers.
3. As soon as one of those sends has failed, every one of these consents is revoked (`POST /v1/consents/{id}/$revoke`),
   and REVOKE_LEAD seconds later the recipient comes back. The re-check just before the next send
   must see the revocation and cancel; the checker flags any message the recipient holds more
   than its GRACE after the revocation (revocations.jsonl: the edge's answer time).
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta, timezone

from pipeline import detect
from pipeline import records as r
from pipeline.consent.fhir import to_fhir
from pipeline.storage import open_store
from pipeline.vocab import ConsentKind, ConsentStatus, DataCategory, Purpose

ALSO_OVER_MLLP = "org-harbor-recovery"  # a provider a Part 2 programme's runs are routed to, moved behind the MLLP peer
DEFLECTION = "deflect-9"  # a deflection programme's agency id, deliberately not in the agency registry
REVOKE_LEAD = 3.0  # seconds between the revocation and the recipient's return


def deflection_runs(runs: list[r.EmsRun], count: int) -> list[r.EmsRun]:
    """`count` detected runs (they lead to referrals), sent again as the deflection programme's own, each
    for a new person (a copy of a known person would be an uncertain match: held for review, not consent)."""
    rules = detect.load_rules()
    picked = [run for run in runs if detect.classify_run(run, rules).categories][:count]
    out = []
    for i, run in enumerate(picked):
        tag = f"p2-{i}"
        patient = run.patient.model_copy(update={"family": f"Deflect{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}ova",
                                                 "phone": f"555-02{i % 100:02d}"})
        out.append(run.model_copy(update={
            "agency_id": DEFLECTION, "patient": patient, "pcr_number": f"{run.pcr_number}-{tag}", "pcr_uuid": f"{run.pcr_uuid or i}-{tag}",
            "key": run.key.model_copy(update={"incident_number": f"{run.key.incident_number}-{tag}"}),
            "envelope": run.envelope.model_copy(update={"source_record_id": f"{run.envelope.source_record_id}-{tag}",
                                                        "event_id": str(uuid.uuid4())})}))
    return out


def _rows(db_url: str, sql: str, params: dict | None = None) -> list[dict]:
    store = open_store(db_url)
    try:
        with store.transaction() as tx:
            return tx.fetchall(sql, params or {})
    except Exception:  # a table not there yet, the database briefly busy: asked again
        return []
    finally:
        store.close()


async def _until(what: str, probe, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(probe)
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"consent phase: {what} not seen within {timeout:.0f} s")


def part2_consent(consent_id: str, recipient: str, now: datetime) -> r.ConsentRecord:
    return r.ConsentRecord(consent_id=consent_id, kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE,
                           recipients=[recipient], purposes=[Purpose.TREATMENT, Purpose.CARE_COORDINATION],
                           data_categories=[DataCategory.GENERAL, DataCategory.MENTAL_HEALTH, DataCategory.SUD],
                           signed_at=now, period_start=now, period_end=now + timedelta(days=365),
                           artefact_ref="doc:chaos-consent-form", expiry_event="one year from signing",
                           signer="form:patient")


async def revoke_while_pending(campaign, runs: list[r.EmsRun], count: int, timeout: float = 240.0) -> list[dict]:
    """Run the phase; the revocations (consent id, referral id, epoch s of the edge's answer)."""
    edges, db, recipient, peer = campaign.edges, campaign.disk.url, campaign.mllp_recipient, campaign.peers.mllp
    sent = deflection_runs(runs, count)
    await edges.nemsis(sent)
    seen: list[int] = []

    def settled_holds() -> list[dict]:  # the holds for the MLLP recipient, once their number stops growing
        rows = _rows(db, "SELECT referral_id, person_token, key_version, recipient_id FROM consent_hold WHERE status = 'held'"
                         " AND recipient_id IN (:r, :also) AND reasons LIKE '%needs a valid part2-consent%'",
                     {"r": recipient, "also": ALSO_OVER_MLLP})
        seen.append(len(rows))
        return rows if len(seen) >= 6 and rows and len(set(seen[-6:])) == 1 else []
    holds = await _until("holds for the MLLP recipient", settled_holds, timeout)
    port = peer.port
    await peer.stop()  # connection refused from now: a transient failure, nothing held
    now = datetime.now(timezone.utc).replace(microsecond=0)
    consents = {}
    recipients = {row["referral_id"]: row["recipient_id"] for row in holds}
    for i, hold in enumerate(holds):
        consent_id = f"chaos-p2-{campaign.seed}-{i}"
        person = r.PersonKey(person_token=hold["person_token"], key_version=hold["key_version"])
        answer = await edges.consent(to_fhir(person, part2_consent(consent_id, recipients[hold["referral_id"]], now)))
        if answer.get("complete"):  # a minor's Part 2 consent, say, needs more than this form: it releases nothing
            consents[hold["referral_id"]] = consent_id
    assert consents, "consent phase: no consent was complete"
    ids = ", ".join(f"'{x}'" for x in consents)  # ids Handoff made (hex): no quoting issue
    failed = await _until("a released send failing", lambda: _rows(
        db, f"SELECT referral_id FROM delivery_ledger WHERE referral_id IN ({ids}) AND state = 'retry'"), timeout)
    revoked = []  # at once: the retry tiers give a waiting send about 14 s before it is dead-lettered
    for referral_id, consent_id in consents.items():
        await edges.revoke(consent_id)
        revoked.append({"consent_id": consent_id, "referral_id": referral_id, "at": time.time(),
                        "waiting": referral_id in {row["referral_id"] for row in failed}})
    await asyncio.sleep(REVOKE_LEAD)
    await peer.start(port)
    return revoked


def write(dump, revoked: list[dict]) -> None:
    (dump / "revocations.jsonl").write_text("".join(json.dumps(x) + "\n" for x in revoked))
