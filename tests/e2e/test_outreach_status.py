"""A provider's status on the outreach pages goes through the legal model (pipeline.track.visibility),
over HTTP against `handoff serve web` as a subprocess (the real broker for its view audits, SQLite):
a Part 2 programme's acceptance reads "withheld" to an outreach worker whose programme no consent
lets be told it, and the acceptance once a Part 2 consent names the programme. No browser needed:
the page is plain HTML."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from pipeline import records as r
from pipeline.consent import Gate, Recipient, load_policy
from pipeline.storage import open_store
from pipeline.track import apply_status
from pipeline.vocab import (ConsentKind, ConsentStatus, DataCategory, Outcome, Purpose, ReferralState, SourceRole,
                            StatusSource)
from tests.e2e.conftest import PASSWORD
from tests.unit.render import cases as c

pytestmark = [pytest.mark.kafka]
PROGRAMME = "team-status"
SITE_ENV = {"HANDOFF_PROGRAMME_ID": PROGRAMME}
HARBOR = Recipient("org-harbor-recovery", "health-care-provider", True)  # the sample directory's Part 2 programme


def _consent(cid: str, names: str, purpose: Purpose, now: datetime) -> r.ConsentRecord:
    return r.ConsentRecord(consent_id=cid, kind=ConsentKind.PART2, status=ConsentStatus.ACTIVE, recipients=[names],
                           purposes=[purpose], data_categories=list(DataCategory), signed_at=now - timedelta(days=1),
                           artefact_ref="doc:" + cid, period_end=now + timedelta(days=365), signed_by=["patient"])


@pytest.fixture(scope="module")
def accepted(site):
    """A Part 2 programme's referral, released by a consent naming the programme's clinic only, then
    accepted by it: the referral id."""
    done = site.handoff("users", "add", "out-s", "--role", "outreach", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    now = datetime.now(timezone.utc)
    request = c.ems_request().model_copy(update={"source_role": SourceRole.PART2_PROGRAMME})
    request = request.model_copy(update={"envelope": request.envelope.model_copy(update={"programme_id": PROGRAMME})})
    with open_store(site.url) as store:
        gate = Gate(store, load_policy())
        [held] = gate.decide(request, [(HARBOR, Purpose.TREATMENT)], now)
        assert held.outcome == Outcome.HOLD
        gate.registry.put(c.PERSON, _consent("c-harbor", HARBOR.id, Purpose.TREATMENT, now), now, "user:out-s")
        assert [x.decision.referral_id for x in gate.on_consent_change(c.PERSON, now, "consent:0@1")[0]] \
            == [held.referral_id]
        for n, (state, source) in enumerate([(ReferralState.REQUESTED, StatusSource.DELIVERY),
                                             (ReferralState.ACCEPTED, StatusSource.PROVIDER)]):
            env = r.Envelope(event_id=f"status:{held.referral_id}:{n}", source_system="test",
                             source_record_id=held.referral_id, occurred_at=now, ingested_at=now, correlation_id="c")
            apply_status(store, r.ReferralStatus(envelope=env, referral_id=held.referral_id, state=state,
                                                 source=source, reported_by=HARBOR.id, recipient_id=HARBOR.id,
                                                 person=c.PERSON, request_id=request.request_id),
                         None, now, programme=PROGRAMME)
    return held.referral_id


def _signed_in(site, user: str):
    h = site.http(follow_redirects=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', h.get("/signin").text).group(1)
    done = h.post("/signin", data={"username": user, "password": PASSWORD, "csrf": csrf, "next": "/"})
    assert done.status_code == 303, done.text
    return h


def _status(page: str) -> str:
    return re.search(r'<dd id="provider-status">([^<]*)</dd>', page).group(1)


def test_a_part2_programmes_status_is_withheld_from_outreach_until_a_consent_names_the_programme(site, accepted):
    h = _signed_in(site, "out-s")
    try:
        page = h.get(f"/outreach/{accepted}")
        assert page.status_code == 200, page.text
        assert _status(page.text) == "withheld" and "accepted" not in page.text
        assert HARBOR.id in page.text  # to whom it was sent is Handoff's own step: shown
        with open_store(site.url) as store:
            now = datetime.now(timezone.utc)
            Gate(store, load_policy()).registry.put(
                c.PERSON, _consent("c-team", PROGRAMME, Purpose.CARE_COORDINATION, now), now, "user:out-s")
        assert _status(h.get(f"/outreach/{accepted}").text) == "accepted"
    finally:
        h.close()
