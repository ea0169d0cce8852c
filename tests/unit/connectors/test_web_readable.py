"""The inbox page's reading of a delivered Bundle, and which answers fit which state (pure)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.web.actions import AnswerRefused, available, check, provider_status
from connectors.web.readable import ReadError, read_bundle
from pipeline.render import default_redaction, render
from pipeline.vocab import Basis, ReferralState, Variant
from tests.unit.render import cases as c


def _payload(part2: bool, variant: Variant = Variant.FULL) -> bytes:
    request, provider = c.ems_request(), c.provider("inbox", "org-a")
    decision = c.decision(request, provider, variant=variant,
                          basis=Basis.PART2_CONSENT if part2 else Basis.HIPAA_TREATMENT, part2=part2)
    return render(request, [c.ems_run(), c.incident()], decision, provider, redaction=default_redaction()).body


def test_part2_referral_shows_its_notice_apart_and_the_consent_once() -> None:
    s = read_bundle(_payload(part2=True))
    assert s.part2 and s.notice == c.NOTICE and s.event == "new referral" and s.purpose == "treatment"
    assert ("Name", "Morgan J Quillfeather") in s.person and ("Phone", "217-555-0142") in s.person
    assert s.consent.startswith("Consent consent-31 (part2)") and not any("Consent scope" in n for n in s.notes)
    assert "Poisoning by heroin, accidental (unintentional), initial encounter (EMS impression)" in s.findings
    assert s.incident[0] == "2026-000417 (psap-north)"


def test_a_referral_without_part2_labels_has_no_notice() -> None:
    s = read_bundle(_payload(part2=False))
    assert not s.part2 and s.notice == "" and s.consent == ""


def test_bytes_that_are_not_a_message_bundle_are_refused() -> None:
    for body in (b"MSH|^~\\&|", b'{"resourceType": "Patient"}', b"[]"):
        with pytest.raises(ReadError):
            read_bundle(body)


def test_answers_are_what_the_state_machine_allows_a_provider_and_decline_needs_a_reason() -> None:
    assert [name for name, _ in available(None)] == ["accept", "decline", "contact", "complete"]  # requested
    assert [name for name, _ in available("accepted")] == ["contact", "complete"]
    assert available("completed") == [] and available("cancelled") == []
    assert check("accept", "", "requested").state == ReferralState.ACCEPTED
    for action, reason, state, says in (("decline", " ", "requested", "needs a reason"),
                                        ("accept", "", "completed", "cannot accept a referral that is completed"),
                                        ("delete", "", "requested", "unknown action")):
        with pytest.raises(AnswerRefused, match=says):
            check(action, reason, state)
    at = datetime(2026, 3, 14, 9, tzinfo=timezone.utc)
    status = provider_status("ref-1", "decline", "  no capacity ", "org-a", "prov-a", at)
    assert (status.state, status.reason, status.reported_by, status.envelope.sender, status.source.value,
            status.recipient_id) == (ReferralState.REJECTED, "no capacity", "org-a", "user:prov-a", "provider", "org-a")
