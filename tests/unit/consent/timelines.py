"""Random timelines of consents, requests and recipients, as a Hypothesis state machine.

`machine_for(gate)` builds a machine whose gate is `decide` (or a broken stand-in), under the
shipped policy or its Illinois layer (drawn per timeline). Steps: add a consent (complete,
proposed, incomplete, expiring or with an expiry event, TPO or not, naming some recipients or a
class, signed by the person or a representative), revoke one,
let time pass, make a request (from an organisation of each role, for a person of some age) to a
recipient for a purpose (held requests are kept), make a request that one stored consent fits
(its recipient, purpose and categories, a source whose rules take its kind, an adult), jump to
just past a stored consent's end (so that fitting requests meet expired, otherwise-valid
consents: drawn freely, they almost never do), re-run
the held requests after each consent change (the release), and re-check permitted deliveries
just before "sending" (pipeline.consent.recheck). After every step: no permit without a basis
valid at that moment, no content beyond the variant, nothing released or sent after a revocation.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pipeline import records as r
from pipeline.consent import Recipient, load_policy, recheck
from pipeline.consent.policy import SAMPLE_POLICY
from pipeline.vocab import (Basis, Category, ConsentKind, ConsentStatus, DataCategory, Match, Outcome, Pathway, Purpose,
                            Service, SignerCapacity, SourceRole)
from tests.unit.consent.oracle import permit_violations

POLICIES = [load_policy(), load_policy(SAMPLE_POLICY.parent / "states" / "il.yaml")]
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
RECIPIENTS = [Recipient("prov-clinic", "health-care-provider"), Recipient("prov-moud", "health-care-provider", True),
              Recipient("prov-housing", "other"), Recipient("prov-peer", "other"),
              Recipient("team-crisis", "health-care-provider", co_responder=True),
              Recipient("ph-dept", "public-health-authority"), Recipient("pd-east", "law-enforcement")]
IDS = [x.id for x in RECIPIENTS] + ["prov-elsewhere"]
CLASSES = ["other", "health-care-provider", "co-responder", "law-enforcement"]
SOURCES = [None, *SourceRole]  # None: an organisation the agency registry does not list
PERSON = r.PersonKey(person_token="tok-timeline", key_version=1)

days = st.integers(min_value=-40, max_value=400).map(lambda d: timedelta(days=d))
past = st.integers(min_value=-40, max_value=0).map(lambda d: timedelta(days=d))
future = st.integers(min_value=1, max_value=400).map(lambda d: timedelta(days=d))


@st.composite
def consents(draw, n: int):
    """A consent spec. Half are complete by construction (every 2.31 / 164.508(c) element the legal
    model asks for: information, recipients, purpose, an expiry, a signature by a capacity that can
    sign, the form), so that permits, revocations and expiries happen often; the rest are drawn freely."""
    complete = draw(st.booleans())
    kind = draw(st.sampled_from(list(ConsentKind)))
    signed = draw(st.one_of(st.none(), days))
    if complete:
        tpo = draw(st.booleans())
        signed_by = draw(st.lists(st.sampled_from(list(SignerCapacity)), min_size=1, max_size=2, unique=True))
        return dict(
            consent_id=f"c-{n}", kind=kind, status=ConsentStatus.ACTIVE,
            recipients=draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=3, unique=True)),
            general_designation=draw(st.booleans()),
            purposes=draw(st.lists(st.sampled_from(list(Purpose)), min_size=1, unique=True)),
            data_categories=draw(st.lists(st.sampled_from(list(DataCategory)), min_size=1, unique=True)),
            start=draw(st.one_of(st.none(), past)), end=draw(st.one_of(st.none(), future)),
            signed=signed or timedelta(0), artefact=f"doc:{n}", missing=[],
            event=draw(st.sampled_from(["end of treatment", *(["none"] if tpo and kind == ConsentKind.PART2 else [])])),
            tpo=tpo, classes=draw(st.lists(st.sampled_from(CLASSES), max_size=2, unique=True)),
            signed_by=signed_by, signer="form:signer-1")
    return dict(
        consent_id=f"c-{n}", kind=kind, status=draw(st.sampled_from(list(ConsentStatus))),
        recipients=draw(st.lists(st.sampled_from(IDS), max_size=3, unique=True)),
        general_designation=draw(st.booleans()),
        purposes=draw(st.lists(st.sampled_from(list(Purpose)), unique=True)),
        data_categories=draw(st.lists(st.sampled_from(list(DataCategory)), unique=True)),
        start=draw(st.one_of(st.none(), days)), end=draw(st.one_of(st.none(), days)),
        signed=signed, artefact=draw(st.sampled_from(["", f"doc:{n}"])),
        missing=draw(st.lists(st.sampled_from(["right-to-revoke", "disclosing-party"]), unique=True)),
        event=draw(st.sampled_from(["", "", "none", "end of treatment"])), tpo=draw(st.booleans()),
        classes=draw(st.lists(st.sampled_from(CLASSES), max_size=2, unique=True)),
        signed_by=draw(st.lists(st.sampled_from(list(SignerCapacity)), max_size=2, unique=True)),
        signer=draw(st.sampled_from(["", "form:signer-1"])))


def record_of(spec: dict, now: datetime, consent_id: str = "c-0") -> r.ConsentRecord:
    """The consent a spec describes, as added at `now` (days relative to it)."""
    at = lambda d: None if d is None else now + d  # noqa: E731
    return r.ConsentRecord(
        consent_id=consent_id, kind=spec["kind"], status=spec["status"], recipients=spec["recipients"],
        general_designation=spec["general_designation"], purposes=spec["purposes"],
        data_categories=spec["data_categories"], period_start=at(spec["start"]), period_end=at(spec["end"]),
        signed_at=None if spec["signed"] is None else now - abs(spec["signed"]),
        artefact_ref=spec["artefact"], missing_elements=spec["missing"], expiry_event=spec["event"],
        tpo=spec["tpo"], recipient_classes=spec["classes"], signed_by=spec["signed_by"], signer=spec["signer"])


requests = st.fixed_dictionaries(dict(
    service=st.sampled_from(list(Service)), categories=st.lists(st.sampled_from(list(Category)), unique=True),
    match=st.sampled_from([Match.EXACT, Match.EXACT, Match.UNCERTAIN]), source=st.sampled_from(SOURCES),
    age=st.one_of(st.none(), st.integers(min_value=10, max_value=40))))


def fitting(policy, consent: r.ConsentRecord):
    """A strategy of (request spec, recipient, purpose) that this consent could carry: the aim of
    the hunt for broken gates, since a consent that fits nothing cannot show a gate misreading it."""
    kinds = {ConsentKind.PART2: Basis.PART2_CONSENT, ConsentKind.HIPAA_AUTHORIZATION: Basis.HIPAA_AUTHORIZATION}
    named = [x for x in RECIPIENTS if x.id in consent.recipients] or RECIPIENTS
    purposes = sorted(consent.purposes) or list(Purpose)
    allowed = set(consent.data_categories) | {DataCategory.GENERAL}
    services = [s for s in Service if policy.service_category(s) in allowed]
    categories = [c for c in Category if policy.category_data.get(c, DataCategory.GENERAL) in allowed]

    @st.composite
    def draw(draw):
        recipient = draw(st.sampled_from(named))
        purpose = draw(st.sampled_from(purposes))
        takes = [s for s in SOURCES if any(grant.basis == kinds[consent.kind]
                                           for rule in policy.rules_for(s or policy.default_source, recipient.types,
                                                                        purpose) for grant in rule.grants)]
        spec = dict(service=draw(st.sampled_from(services or list(Service))),
                    categories=draw(st.lists(st.sampled_from(categories), unique=True)) if categories else [],
                    match=Match.EXACT, source=draw(st.sampled_from(takes or SOURCES)),
                    age=draw(st.one_of(st.none(), st.integers(min_value=18, max_value=40))))
        return spec, recipient, purpose
    return draw()


def machine_for(gate):
    class Timeline(RuleBasedStateMachine):
        @initialize(policy=st.sampled_from(POLICIES))
        def start(self, policy):
            self.policy = policy
            self.now = T0
            self.consents: dict[str, r.ConsentRecord] = {}
            self.held: list[tuple[r.ReferralRequest, Recipient, Purpose]] = []
            self.permitted: list[tuple[r.Decision, r.ReferralRequest, Recipient]] = []
            self.n = 0
            self.events = 0

        def _check(self, decision, request, recipient, purpose, consents):
            bad = permit_violations(decision, request, recipient, purpose, consents, self.policy, self.now)
            assert not bad, f"{bad}: {decision.reasons}"

        def _gate(self, request, recipient, purpose):
            consents = list(self.consents.values())
            decision = gate(request, recipient, purpose, consents, self.policy, self.now)
            self._check(decision, request, recipient, purpose, consents)
            return decision

        def _release(self):
            still = []
            for request, recipient, purpose in self.held:
                decision = self._gate(request, recipient, purpose)
                if decision.outcome in (Outcome.PERMIT, Outcome.PERMIT_REDACTED):
                    self.permitted.append((decision, request, recipient))
                elif decision.outcome == Outcome.HOLD:
                    still.append((request, recipient, purpose))
            self.held = still

        @rule(spec=consents(0))
        def add_consent(self, spec):
            self.n += 1
            record = record_of(spec, self.now, f"c-{self.n}")
            self.consents[record.consent_id] = record
            self._release()

        @precondition(lambda self: self.consents)
        @rule(data=st.data())
        def revoke(self, data):
            cid = data.draw(st.sampled_from(sorted(self.consents)))
            old = self.consents[cid]
            if old.revoked_at is None:
                self.consents[cid] = old.model_copy(update={"status": ConsentStatus.INACTIVE, "revoked_at": self.now})
            self._release()

        @rule(step=st.sampled_from([timedelta(hours=1), timedelta(days=1), timedelta(days=30), timedelta(days=200)]))
        def time_passes(self, step):
            self.now += step

        @rule(spec=requests, recipient=st.sampled_from(RECIPIENTS), purpose=st.sampled_from(list(Purpose)))
        def request(self, spec, recipient, purpose):
            self._request(spec, recipient, purpose)

        @precondition(lambda self: self.consents)
        @rule(data=st.data())
        def request_a_consent_fits(self, data):
            consent = self.consents[data.draw(st.sampled_from(sorted(self.consents)))]
            self._request(*data.draw(fitting(self.policy, consent)))

        @precondition(lambda self: any(c.period_end and c.period_end > self.now for c in self.consents.values()))
        @rule(data=st.data(), after=st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(days=3)]))
        def expire(self, data, after):
            """Time runs to just past (or exactly to) the end of a consent still in its period."""
            ends = sorted({c.period_end for c in self.consents.values() if c.period_end and c.period_end > self.now})
            self.now = data.draw(st.sampled_from(ends)) + after

        def _request(self, spec, recipient, purpose):
            self.events += 1
            envelope = r.Envelope(event_id=f"e{self.events}", source_system="handoff:episode",
                                  source_record_id=f"s{self.events}", occurred_at=self.now, ingested_at=self.now,
                                  correlation_id="c")
            request = r.ReferralRequest(envelope=envelope, request_id=f"q{self.events}", person=PERSON, match=spec["match"],
                                 episode_id=f"ep{self.events}", service=spec["service"],
                                 categories=spec["categories"], pathway=Pathway.FIRST_RESPONDER,
                                 source_role=spec["source"], age=spec["age"])
            decision = self._gate(request, recipient, purpose)
            if decision.outcome == Outcome.HOLD:
                self.held.append((request, recipient, purpose))
            elif decision.outcome != Outcome.DENY:
                self.permitted.append((decision, request, recipient))

        @precondition(lambda self: self.permitted)
        @rule()
        def send(self):
            """Delivery re-reads the registry just before sending; what it lets through must hold now."""
            consents = list(self.consents.values())
            kept = []
            for decision, request, recipient in self.permitted:
                if not recheck(decision, consents, self.policy, self.now):
                    self._check(decision.model_copy(update={"decided_at": self.now}), request, recipient,
                                decision.purpose, consents)
                    kept.append((decision, request, recipient))
            self.permitted = kept

        @invariant()
        def uncertain_never_permitted(self):
            assert all(q.match == Match.EXACT for _, q, _ in getattr(self, "permitted", []))

    return Timeline
