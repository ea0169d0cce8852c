"""`decide`: the legal basis, if any, for one (request, recipient, purpose). Pure.

    decision = decide(request, recipient, purpose, consents, policy, now)
    decision = may_receive_status(referral, reporter, audience, consents, policy, now)

`consents` is the person's current consent set read from the registry just before, or None
when the registry could not be read (then the answer is `hold`: fail closed). The policy
(policy.py) says which bases may permit which content; this module only applies it:

1. an uncertain person match is held for review, never permitted;
2. the source role is the sending organisation's (the agency registry, carried on the request);
   an unknown organisation is a Part 2 programme, the most protective reading;
3. the request's data categories (always `general`, plus SUD / mental health from its
   categories and service) must each be covered, for the widest variant that can be
   covered, by a rule for (source role, recipient type, purpose) with a basis that holds and
   that no restriction (a state layer) forbids: a policy basis (HIPAA treatment, Part 2
   emergency, dispatch, state rule) holds by itself; a consent basis holds only with ONE
   consent of its kind that is complete (every 42 CFR 2.31 or 45 CFR 164.508(c) element,
   an expiry, a signed artefact, signers the age rules accept), active, unrevoked, in its
   period, naming this recipient (or, for a Part 2 TPO consent, a general designation; for a
   HIPAA authorisation, a class of recipients), this purpose and each category it must cover;
4. a basis that does not cover the service's own category cannot be met by redaction: the
   service and the recipient reveal it (42 CFR 2.31(a)(3)), so a variant without it is not used;
5. nothing covers: `hold` when a consent could permit (outreach captures it), else `deny`.

Part 2 applies to a Part 2 programme's records only: they carry the security labels, the 2.32
notice and the consent's scope in every variant (the reduced ones still say the person is the
programme's patient, 42 CFR 2.11/2.12(a)); NORDSCLCD is left off when a TPO consent discloses
to a covered health-care provider, who may redisclose as HIPAA permits (2.31(a)(4)(iii), 2.33(b)).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from pipeline import records as r
from pipeline.consent.policy import CONSENT_BASES, VARIANT_ORDER, AgeRules, Grant, Policy, Rule
from pipeline.ids import referral_id
from pipeline.vocab import (Basis, ConsentKind, ConsentStatus, DataCategory, Match, Outcome, Purpose, SignerCapacity,
                            SourceRole, Variant)

# 42 CFR 2.31(a) (2024): what a consent must name. The record's own fields evidence some;
# the capture form reports the rest in `missing_elements` until they are captured.
PART2_ELEMENTS = ("patient", "disclosing-party", "information", "recipients", "purpose", "right-to-revoke",
                  "expiry", "signature", "date", "redisclosure-statement")
# 45 CFR 164.508(c)(1) core elements and (c)(2) required statements of a HIPAA authorisation.
HIPAA_ELEMENTS = ("information", "disclosing-party", "recipients", "purpose", "expiry", "signature", "date",
                  "representative-authority", "right-to-revoke", "conditioning-statement", "redisclosure-statement")
ELEMENTS = {ConsentKind.PART2: PART2_ELEMENTS, ConsentKind.HIPAA_AUTHORIZATION: HIPAA_ELEMENTS}
KIND_BASIS = {ConsentKind.PART2: Basis.PART2_CONSENT, ConsentKind.HIPAA_AUTHORIZATION: Basis.HIPAA_AUTHORIZATION}
SENSITIVITY = (DataCategory.SUD, DataCategory.MENTAL_HEALTH, DataCategory.GENERAL)  # most sensitive first
TPO_PURPOSES = frozenset({Purpose.TREATMENT, Purpose.CARE_COORDINATION})  # treatment, payment, operations
PROVIDER = "health-care-provider"  # taken to be a covered entity (a TPO consent's redisclosure rule)
REPRESENTATIVES = frozenset({SignerCapacity.GUARDIAN, SignerCapacity.PERSONAL_REPRESENTATIVE})
PART2_LABELS = ["R", "42CFRPart2"]
NO_REDISCLOSURE = "NORDSCLCD"


@dataclass(frozen=True)
class Recipient:
    """What decide needs to know about a recipient (a view, independent of routing)."""

    id: str
    kind: str  # health-care-provider | other | law-enforcement | public-health-authority (policy.RECIPIENT_TYPES)
    part2_programme: bool = False
    co_responder: bool = False

    @classmethod
    def of(cls, provider) -> "Recipient":
        """From a directory Provider."""
        kind = ("law-enforcement" if provider.law_enforcement
                else PROVIDER if provider.health_care_provider else "other")
        return cls(provider.id, kind, provider.part2_programme, getattr(provider, "co_responder", False))

    @property
    def types(self) -> frozenset[str]:
        """The recipient types the policy's rules and a consent's recipient classes may name."""
        return frozenset({self.kind} | ({"co-responder"} if self.co_responder else set()))


@dataclass(frozen=True)
class Subject:
    """What a consent must fit besides the recipient: the person's age and the service's category."""

    age: int | None = None
    service: DataCategory = DataCategory.GENERAL


def missing_elements(consent: r.ConsentRecord) -> list[str]:
    """The 2.31 (Part 2) or 164.508(c) (authorisation) elements this consent lacks (empty: complete)."""
    missing = set(consent.missing_elements)
    if not consent.data_categories:
        missing.add("information")
    if not consent.recipients and not consent.general_designation and not consent.recipient_classes:
        missing.add("recipients")
    if not consent.purposes:
        missing.add("purpose")
    if consent.signed_at is None:
        missing |= {"signature", "date"}
    if not consent.artefact_ref:
        missing.add("signature")
    event = consent.expiry_event.strip().lower()
    if consent.period_end is None and (not event or (event == "none" and not _part2_tpo(consent))):
        missing.add("expiry")  # 2.31(a)(7), 164.508(c)(1)(v); "none" only for a Part 2 TPO consent
    if not consent.signed_by:
        missing.add("signature")
    elif set(consent.signed_by) & REPRESENTATIVES and not consent.signer.strip():
        missing.add("representative-authority")  # 164.508(c)(1)(vi); 2.31(a)(8) who signed for the patient
    order = ELEMENTS[consent.kind]
    return [e for e in order if e in missing] + sorted(missing - set(order))


def _part2_tpo(consent: r.ConsentRecord) -> bool:
    return consent.kind == ConsentKind.PART2 and consent.tpo


def names(consent: r.ConsentRecord, recipient: Recipient, purpose: Purpose) -> str:
    """'' when the consent designates this recipient for this purpose, else why not."""
    if recipient.id in consent.recipients:
        return ""
    if consent.general_designation:
        if not _part2_tpo(consent) or purpose not in TPO_PURPOSES or recipient.kind != PROVIDER:
            return ("a general designation covers only a Part 2 TPO consent's treatment, payment and operations"
                    " by health-care providers (42 CFR 2.31(a)(4)(i))")
        return ""
    if consent.recipient_classes and consent.kind == ConsentKind.HIPAA_AUTHORIZATION:
        return "" if recipient.types & set(consent.recipient_classes) else "does not name this recipient's class"
    return "does not name this recipient"


def signer_problems(consent: r.ConsentRecord, subject: Subject, ages: AgeRules) -> list[str]:
    """Whether those who signed could consent for this person at this age (policy age rules)."""
    caps = set(consent.signed_by)
    age = subject.age
    if age is None or age >= ages.adult_at:
        return []
    minor = f"the person is {age}, a minor"
    if consent.kind == ConsentKind.PART2:
        alone_from = ages.part2_minor_consents_from
        if alone_from is not None and age >= alone_from:
            return [] if SignerCapacity.PATIENT in caps else [
                f"{minor} who may consent to SUD treatment alone: the minor must sign (42 CFR 2.14(b))"]
        return [] if SignerCapacity.PATIENT in caps and caps & REPRESENTATIVES else [
            f"{minor}: the minor and a parent or guardian must both sign (42 CFR 2.14(c))"]
    alone_from = ages.hipaa_minor_consents_from.get(subject.service)
    if alone_from is not None and age >= alone_from:
        return [] if SignerCapacity.PATIENT in caps else [
            f"{minor} who may consent to this care: the minor signs (45 CFR 164.502(g)(3))"]
    return [] if caps & REPRESENTATIVES else [
        f"{minor}: a parent, guardian or personal representative must sign (45 CFR 164.502(g))"]


def consent_problems(consent: r.ConsentRecord, recipient: Recipient, purpose: Purpose,
                     categories: frozenset[DataCategory], now: datetime, subject: Subject = Subject(),
                     ages: AgeRules = AgeRules()) -> list[str]:
    """Why this consent cannot permit this disclosure now (empty: it can)."""
    problems = []
    if consent.status != ConsentStatus.ACTIVE:
        problems.append(f"status is {consent.status.value}")
    if consent.revoked_at is not None and consent.revoked_at <= now:
        problems.append("revoked")
    missing = missing_elements(consent)
    if missing:
        problems.append(f"incomplete: {', '.join(missing)}")
    if consent.signed_at is not None and consent.signed_at > now:
        problems.append("signed after the decision time")
    if consent.period_start is not None and now < consent.period_start:
        problems.append("not yet in effect")
    if consent.period_end is not None and now >= consent.period_end:
        problems.append("expired")
    named = names(consent, recipient, purpose)
    if named:
        problems.append(named)
    if purpose not in consent.purposes:
        problems.append(f"does not cover the purpose {purpose.value}")
    uncovered = categories - set(consent.data_categories)
    if uncovered:
        problems.append(f"does not cover {', '.join(sorted(c.value for c in uncovered))} information")
    return problems + signer_problems(consent, subject, ages)


def decide(request: r.ReferralRequest, recipient: Recipient, purpose: Purpose,
           consents: Sequence[r.ConsentRecord] | None, policy: Policy, now: datetime) -> r.Decision:
    categories = policy.data_categories(request)
    source = policy.source_type(request)
    base = dict(referral_id=referral_id(request, recipient.id), request_id=request.request_id,
                recipient_id=recipient.id, purpose=purpose, policy_version=policy.version, decided_at=now,
                data_categories=sorted(categories, key=SENSITIVITY.index), source_role=SourceRole(source),
                recipient_types=sorted(recipient.types), subject_age=request.age,
                service_category=policy.service_category(request.service))
    if request.match != Match.EXACT:
        return r.Decision(outcome=Outcome.HOLD, reasons=["person match is uncertain: review, never permit"], **base)
    if consents is None:
        return r.Decision(outcome=Outcome.HOLD, reasons=["consent registry unavailable: hold (fail closed)"], **base)
    rules = policy.rules_for(source, recipient.types, purpose)
    where = f"{source} to {recipient.kind} for {purpose.value}"
    if not rules:
        return r.Decision(outcome=Outcome.DENY, reasons=[f"no policy rule permits {where}"], **base)
    ordered = sorted(consents, key=lambda c: c.consent_id)
    subject = Subject(request.age, policy.service_category(request.service))
    ask = _Ask(source, recipient, purpose, subject, now, policy)
    revealed = []
    for variant in VARIANT_ORDER:
        needed = categories & policy.variant_content[variant]
        cover = _cover(needed, variant, rules, ordered, ask)
        if cover is None:
            continue
        basis, consent, rule_ids = cover
        if subject.service not in policy.variant_content[variant]:
            said = (f"a referral for {request.service.value} reveals {subject.service.value} information by its"
                    f" service and recipient, whatever is redacted: its basis must cover it; hold, not redact")
            revealed += [said] if said not in revealed else []
            continue
        carried = ", ".join(c.value for c in sorted(needed, key=SENSITIVITY.index))
        reasons = [f"{where}: {basis.value} under rule {', '.join(rule_ids)} permits {carried}"]
        if consent is not None:
            reasons.append(f"consent {consent.consent_id} is complete and valid")
        withheld = categories - needed
        if withheld:
            reasons.append(f"withheld: {', '.join(sorted(c.value for c in withheld))} (no basis covers it)")
        labels, notice, scope = _part2(source, recipient, purpose, basis, consent, policy)
        return r.Decision(outcome=Outcome.PERMIT_REDACTED if withheld else Outcome.PERMIT, variant=variant,
                          basis=basis, consent_id=consent.consent_id if consent else "", reasons=reasons,
                          notice=notice, consent_scope=scope, labels=labels,
                          consent_signed_at=consent.signed_at if consent else None, **base)
    consent_bases = {g.basis for rule in rules for g in rule.grants if categories & rule.data} & CONSENT_BASES
    problems = [f"consent {c.consent_id}: {'; '.join(p)}" for c in ordered if KIND_BASIS[c.kind] in consent_bases
                for p in [consent_problems(c, recipient, purpose, categories, now, subject, policy.ages)] if p]
    if consent_bases:
        wanted = " or ".join(sorted(b.value for b in consent_bases))
        return r.Decision(outcome=Outcome.HOLD, reasons=[f"{where} needs a valid {wanted}", *revealed, *problems],
                          **base)
    return r.Decision(outcome=Outcome.DENY, reasons=[f"no basis in policy covers this content for {where}", *revealed],
                      **base)


def may_receive_status(referral: r.ReferralRequest, reporter: Recipient, audience: Recipient,
                       consents: Sequence[r.ConsentRecord] | None, policy: Policy, now: datetime) -> r.Decision:
    """May `audience` (the referring organisation, an outreach team) be told the status that
    `reporter` (the referral's recipient) reported? Pure.

    A status report (accepted, engaged, declined) is the reporter's own disclosure about the
    person: from a Part 2 programme it is a Part 2 record (42 CFR 2.11), needing the person's
    Part 2 consent naming the audience; from a health-care provider a HIPAA disclosure
    (treatment, care coordination); never to law enforcement (no rule names it). It is decided
    by `decide`, with the reporter's role (policy `status.reporter_roles`) as the source and
    the policy's status purpose."""
    kind = "part2-programme" if reporter.part2_programme else reporter.kind
    role = policy.status.reporter_roles.get(kind)  # not listed: unknown, the most protective reading
    question = referral.model_copy(update={"source_role": role})
    return decide(question, audience, policy.status.purpose, consents, policy, now)


@dataclass(frozen=True)
class _Ask:
    source: str
    recipient: Recipient
    purpose: Purpose
    subject: Subject
    now: datetime
    policy: Policy

    def allowed(self, category: DataCategory, basis: Basis) -> bool:
        return self.policy.restricted(self.source, self.recipient.types, self.purpose, category, basis) is None


def _wide_enough(grant: Grant, variant: Variant) -> bool:
    return VARIANT_ORDER.index(grant.variant) <= VARIANT_ORDER.index(variant)


def _cover(needed: frozenset[DataCategory], variant: Variant, rules: list[Rule],
           consents: Sequence[r.ConsentRecord], ask: _Ask):
    """(basis, consent or None, rule ids) covering every needed category at `variant`, or None."""
    grants = [(rule, g) for rule in rules for g in rule.grants if _wide_enough(g, variant)]
    by_policy = {c: next(((rule, g) for rule, g in grants if c in rule.data and g.basis not in CONSENT_BASES
                          and ask.allowed(c, g.basis)), None) for c in needed}
    rest = frozenset(c for c, found in by_policy.items() if found is None)
    if not rest:
        top = next(c for c in SENSITIVITY if c in needed)
        rule, grant = by_policy[top]
        return grant.basis, None, sorted({rule.id for rule, _ in filter(None, by_policy.values())})
    for consent in consents:
        basis = KIND_BASIS[consent.kind]
        used = {c: next((rule for rule, g in grants if c in rule.data and g.basis == basis and ask.allowed(c, basis)),
                        None) for c in rest}
        if all(used.values()) and not consent_problems(consent, ask.recipient, ask.purpose, rest, ask.now,
                                                       ask.subject, ask.policy.ages):
            ids = {rule.id for rule in used.values()} | {rule.id for rule, _ in filter(None, by_policy.values())}
            return basis, consent, sorted(ids)
    return None


def _part2(source: str, recipient: Recipient, purpose: Purpose, basis: Basis, consent: r.ConsentRecord | None,
           policy: Policy) -> tuple[list[str], str, str]:
    """The labels, 2.32 notice and scope statement of a Part 2 programme's record (none otherwise)."""
    if source != SourceRole.PART2_PROGRAMME:
        return [], "", ""
    to_covered = consent is not None and consent.tpo and recipient.kind == PROVIDER and purpose in TPO_PURPOSES
    labels = PART2_LABELS + ([] if to_covered else [NO_REDISCLOSURE])
    if consent is None:
        return labels, policy.notice_text, f"disclosed without consent under {basis.value} (policy {policy.version})"
    return labels, policy.notice_text, consent_scope(consent, to_covered)


def consent_scope(consent: r.ConsentRecord, to_covered_entity: bool = False) -> str:
    """A plain statement of what a consent allows: the 'clear explanation of its scope' of 2.32."""
    recipients = "my treating providers, health plans, third-party payers and people helping to operate this" \
        " programme (general designation)" if consent.general_designation else \
        ", ".join([*consent.recipients, *(f"any {c}" for c in consent.recipient_classes)])
    until = (consent.period_end.date().isoformat() if consent.period_end
             else consent.expiry_event.strip() or "the stated expiry event")
    period = (f"from {consent.period_start.date().isoformat() if consent.period_start else 'signature'}"
              f" until {until}")
    signed = ", ".join(c.value for c in consent.signed_by) or "-"
    text = (f"Consent {consent.consent_id} ({consent.kind.value}{', TPO' if consent.tpo else ''}) signed "
            f"{consent.signed_at.date().isoformat() if consent.signed_at else '-'} by {signed}: information "
            f"{', '.join(c.value for c in consent.data_categories)}; to {recipients}; for "
            f"{', '.join(p.value for p in consent.purposes)}; {period}; revocable at any time.")
    if to_covered_entity:
        text += (" The recipient, a covered entity receiving it for treatment, payment or health-care operations,"
                 " may redisclose it as the HIPAA regulations permit, except for use in civil, criminal,"
                 " administrative or legislative proceedings against the patient (42 CFR 2.31(a)(4)(iii), 2.33(b)).")
    return text


def recheck(decision: r.Decision, consents: Sequence[r.ConsentRecord], policy: Policy, now: datetime) -> list[str]:
    """Just before sending: why the permitting decision no longer holds (empty: send).

    A consent basis is re-checked against the registry's current set (revoked, expired,
    changed, gone); a policy basis does not depend on the person's consents."""
    if decision.outcome not in (Outcome.PERMIT, Outcome.PERMIT_REDACTED) or decision.variant is None:
        return [f"decision is {decision.outcome.value}, not a permit"]
    problems = []
    if decision.basis in CONSENT_BASES:
        carried = frozenset(decision.data_categories) & policy.variant_content[decision.variant]
        consent = next((c for c in consents if c.consent_id == decision.consent_id), None)
        if consent is None:
            problems.append(f"consent {decision.consent_id} is no longer in the registry")
        elif KIND_BASIS[consent.kind] != decision.basis:
            problems.append(f"consent {consent.consent_id} is no longer a {decision.basis.value}")
        else:
            kinds = sorted(set(decision.recipient_types) - {"co-responder"})
            recipient = Recipient(decision.recipient_id, kinds[0] if kinds else "other",
                                  co_responder="co-responder" in decision.recipient_types)
            subject = Subject(decision.subject_age, decision.service_category or DataCategory.GENERAL)
            problems += [f"consent {consent.consent_id}: {p}" for p in
                         consent_problems(consent, recipient, decision.purpose, carried, now, subject, policy.ages)]
    return problems
