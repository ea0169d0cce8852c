"""Providers' answers on the FHIR server a referral went to: the Task's status, read back.

Handoff wrote each referral's Task under a deterministic id (`pipeline.render.ids.resource_uuid(
referral, "task")`); the provider's system updates its status (accepted, rejected, in-progress,
completed, on-hold) and businessStatus. `task_status` turns a Task that says something new into a
`referral.status` report from source `provider`, reported by the recipient, whose event id names
the Task's version: reading the same version again is a repeat that track drops.
"""
from __future__ import annotations

from datetime import datetime

from pipeline import records as r
from pipeline.vocab import ReferralState, StatusSource

TASK_STATES = {"accepted": ReferralState.ACCEPTED, "rejected": ReferralState.REJECTED,
               "in-progress": ReferralState.IN_PROGRESS, "completed": ReferralState.COMPLETED,
               "on-hold": ReferralState.ON_HOLD}


def task_status(task: dict, referral_id: str, recipient_id: str, now: datetime) -> r.ReferralStatus | None:
    """The report a provider's Task makes, or None when it says nothing a provider may say."""
    state = TASK_STATES.get(task.get("status", ""))
    if state is None:
        return None
    meta = task.get("meta", {})
    version = meta.get("versionId") or meta.get("lastUpdated") or task.get("lastModified", "")
    business = next((c.get("code", "") for c in task.get("businessStatus", {}).get("coding", [])), "")
    reason = task.get("statusReason", {}).get("text", "")
    envelope = r.Envelope(event_id=f"task:{recipient_id}:{task.get('id', '')}:{version}:{state.value}",
                          source_system=f"fhir:{recipient_id}", source_record_id=referral_id, occurred_at=now,
                          ingested_at=now, correlation_id=referral_id, sender=recipient_id)
    return r.ReferralStatus(envelope=envelope, referral_id=referral_id, state=state, business_status=business,
                            reason=reason[:500], reported_by=recipient_id, source=StatusSource.PROVIDER,
                            recipient_id=recipient_id)
