"""Three deliberately broken gates, kept as fixtures: the property tests must catch each one.

Each has `decide`'s signature and calls the real one on a doctored view of the world."""
from __future__ import annotations

from pipeline.consent import decide
from pipeline.vocab import ConsentStatus


def ignores_expiry(request, recipient, purpose, consents, policy, now):
    """Treats every consent as never expiring (as if it stated an expiry event that never comes)."""
    if consents is not None:
        consents = [c.model_copy(update={"period_end": None, "expiry_event": "end of treatment"}) for c in consents]
    return decide(request, recipient, purpose, consents, policy, now)


def ignores_revocation(request, recipient, purpose, consents, policy, now):
    """Treats a revoked consent as still active."""
    if consents is not None:
        consents = [c.model_copy(update={"revoked_at": None, "status": ConsentStatus.ACTIVE})
                    if c.revoked_at is not None else c for c in consents]
    return decide(request, recipient, purpose, consents, policy, now)


def wrong_recipient(request, recipient, purpose, consents, policy, now):
    """Accepts a consent naming any recipient, as if it named this one."""
    if consents is not None:
        consents = [c.model_copy(update={"recipients": [*c.recipients, recipient.id]}) if c.recipients else c
                    for c in consents]
    return decide(request, recipient, purpose, consents, policy, now)


BROKEN = {"ignores-expiry": ignores_expiry, "ignores-revocation": ignores_revocation,
          "wrong-recipient": wrong_recipient}
