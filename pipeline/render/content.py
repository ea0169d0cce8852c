"""What a recipient may see: one referral request, its source records and its decision reduced
to plain `Content`. Every format is rendered from Content, so redaction happens here, once.

Variants (the decision says which; the consent policy says what each carries):
- `full`: everything below;
- `no-sud`: no finding, category, evidence, medication, indicator, service or note that
  reveals substance use (codes classified by sensitivity.yaml);
- `outreach-only`: the minimum an outreach worker needs (45 CFR 164.502(b)): the person's
  contact details and date of birth (to confirm who they are) and the service asked for;
  nothing clinical, no urgency, no source records, no referring organisation (a deflection
  programme as requester says why), no Consent resource (its scope is stated in text).
A service whose own data category the variant does not carry is rendered as the generic
"referral to service", so the service code cannot reveal what the variant withholds; the
priority is urgent only when a category the variant carries makes it so.
A Part 2 programme's record keeps its labels, 2.32 notice and consent scope in every variant
(the decision says so): even a reduced referral says the person is the programme's patient.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import yaml

from pipeline import records as r
from pipeline import ids as message_ids
from pipeline.render import codes, ids
from pipeline.vocab import SNOMED, Action, Basis, Category, Coding, DataCategory, Purpose, Service, Variant

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SYSTEM_ALIASES = {"icd-10-cm": ICD10CM, "icd10cm": ICD10CM, "icd10": ICD10CM, "i10": ICD10CM, "i10c": ICD10CM,
                  "rxnorm": RXNORM, "snomed": SNOMED, "sct": SNOMED}
GENERIC_SERVICE = Coding(SNOMED, "306206005", "Referral to service")
COORDINATOR = ("handoff", "Handoff referral coordination")  # the outreach-only variant's referring party
URGENT = frozenset({Category.OPIOID_OVERDOSE, Category.OVERDOSE, Category.SUICIDE_RISK})
ICD_FIELDS = {"eSituation.09": "symptom", "eSituation.10": "symptom", "eSituation.11": "impression",
              "eSituation.12": "impression", "eInjury.01": "injury"}
_ICD_SHAPE = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
SENSITIVITY_FILE = Path(__file__).resolve().parent / "sensitivity.yaml"


def clean(text: str | None, limit: int = 2000) -> str:
    """A value safe in every format: no control characters, single-spaced, bounded."""
    return " ".join(_CONTROL.sub(" ", text or "").split())[:limit]


@dataclass(frozen=True)
class Sensitivity:
    """Code-level sensitivity and the code tables render needs (sensitivity.yaml)."""

    version: str
    patterns: Mapping[str, Mapping[DataCategory, tuple[re.Pattern, ...]]]
    naloxone: frozenset[str]
    routes: Mapping[str, tuple[str, str]]
    responses: Mapping[str, str]

    def of(self, system: str, code: str) -> frozenset[DataCategory]:
        found = {cat for cat, pats in self.patterns.get(system, {}).items() if any(p.fullmatch(code) for p in pats)}
        return frozenset(found or {DataCategory.GENERAL})


@lru_cache(maxsize=4)
def load_sensitivity(path: Path = SENSITIVITY_FILE) -> Sensitivity:
    data = yaml.safe_load(path.read_text())
    patterns = {system: {DataCategory(cat): tuple(re.compile(p) for p in pats) for cat, pats in cats.items()}
                for system, cats in data["codes"].items()}
    return Sensitivity(version=str(data["version"]), patterns=patterns, naloxone=frozenset(data["naloxone"]),
                       routes={k: (v[0], v[1]) for k, v in data["routes"].items()},
                       responses=dict(data["responses"]))


@dataclass(frozen=True)
class Redaction:
    """What each variant carries, and what categories and services reveal: the consent policy's
    tables (`Redaction.of(policy)`), so the policy that decided is the one that redacts."""

    variant_content: Mapping[Variant, frozenset[DataCategory]]
    category_data: Mapping[Category, DataCategory]
    service_data: Mapping[Service, DataCategory]

    @classmethod
    def of(cls, policy) -> "Redaction":
        return cls(dict(policy.variant_content), dict(policy.category_data), dict(policy.service_data))

    def category(self, c: Category) -> DataCategory:
        return self.category_data.get(c, DataCategory.SUD)  # unknown: the most sensitive reading


@dataclass(frozen=True)
class Party:
    id: str
    name: str


@dataclass(frozen=True)
class Finding:
    system: str
    code: str
    role: str  # impression, symptom, injury
    reason: bool = False  # evidence for the referral (ServiceRequest.reasonReference, DG1)
    display: str = ""  # the ICD-10-CM description


@dataclass(frozen=True)
class Naloxone:
    code: str
    route: tuple[str, str] | None
    response: str
    given_prior: bool
    administered_by: str
    given_at: datetime
    dose: float | None = None
    dose_unit: str = ""  # NEMSIS eMedications.06 code


@dataclass(frozen=True)
class Encounter:
    incident: r.IncidentKey | None
    pcr_numbers: tuple[str, ...]
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Content:
    referral_id: str
    message_id: str
    action: Action
    revision: int
    variant: Variant
    sent_at: datetime
    authored_at: datetime
    recipient: Party
    destination: str
    referring: Party
    referrer_role: str
    referrer_id: str
    patient: r.Person
    link: str
    service: Coding
    service_text: str
    categories: tuple[Category, ...] = ()
    findings: tuple[Finding, ...] = ()
    indicators: tuple[str, ...] = ()
    naloxone: tuple[Naloxone, ...] = ()
    encounter: Encounter | None = None
    note: str = ""
    priority: str = "routine"
    part2: bool = False
    no_redisclosure: bool = True  # NORDSCLCD with the Part 2 labels (not under a TPO consent to a covered entity)
    notice: str = ""
    consent_scope: str = ""
    consent_id: str = ""
    basis: Basis = Basis.NONE
    purpose: Purpose = Purpose.TREATMENT
    policy_version: str = ""
    sources: tuple[r.SourceRef, ...] = ()
    cancel_reason: str = ""
    clinical: bool = field(default=True)
    consent_signed_at: datetime | None = None
    pathway: str = ""  # how the referral was made (vocab.Pathway): RF1-10 patient preference for a self-referral


def _system(system: str) -> str:
    return SYSTEM_ALIASES.get(system.strip().lower(), system.strip())


def _given(c: r.Coded) -> bool:
    return bool(c.code.strip()) and not c.nil and not c.pn


def _named(sources: Sequence[r.Record], request: r.ReferralRequest) -> list[r.Record]:
    """The request's own source records (by topic and id), in a stable order."""
    wanted = {(s.topic, s.record_id) for s in request.source_records}
    topic = {r.EmsRun: "ems.run", r.DispatchIncident: "dispatch.incident", r.FieldReferral: "field.referral"}
    mine = [s for s in sources if (topic.get(type(s)), s.envelope.source_record_id) in wanted]
    return sorted(mine, key=lambda s: (s.envelope.occurred_at, type(s).__name__, s.envelope.source_record_id))


def _patient(person: r.Person | None, variant: Variant) -> r.Person:
    p = person or r.Person()
    address = p.address
    if address is not None:
        address = r.Address(**{k: clean(getattr(address, k), 200) for k in ("street", "city", "county", "state", "zip")})
    contact = dict(family=clean(p.family, 100), given=clean(p.given, 100), middle=clean(p.middle, 100),
                   phone=clean(p.phone, 40), address=address, language=clean(p.language, 20))
    if variant == Variant.OUTREACH_ONLY:
        return r.Person(birth_date=p.birth_date, **contact)
    return r.Person(birth_date=p.birth_date, sex=p.sex if p.sex in ("F", "M", "U") else "", **contact)


def extract(request: r.ReferralRequest, sources: Sequence[r.Record], decision: r.Decision, recipient,
            action: Action, redaction: Redaction, sensitivity: Sensitivity | None = None) -> Content:
    """The Content a recipient receives for this decision's variant. Pure."""
    sens = sensitivity or load_sensitivity()
    variant = decision.variant or Variant.OUTREACH_ONLY  # no variant named: the least
    carries = frozenset(redaction.variant_content.get(variant, frozenset({DataCategory.GENERAL})))
    clinical = variant != Variant.OUTREACH_ONLY

    def allowed(found: Iterable[DataCategory]) -> bool:
        return clinical and set(found) <= carries

    mine = _named(sources, request)
    runs = [s for s in mine if isinstance(s, r.EmsRun)]
    incidents = [s for s in mine if isinstance(s, r.DispatchIncident)]
    fields = [s for s in mine if isinstance(s, r.FieldReferral)]
    categories = tuple(c for c in request.categories if allowed({redaction.category(c)}))
    evidence = {(ICD10CM, e.code.strip()) for e in request.reasons
                if e.field in ICD_FIELDS and e.code.strip() and e.category in categories}
    findings: dict[tuple[str, str], Finding] = {}
    for run in runs:
        coded = [(run.primary_impression, "impression"), *((c, "impression") for c in run.secondary_impressions),
                 (run.primary_symptom, "symptom"), *((c, "symptom") for c in run.other_symptoms),
                 *((c, "injury") for c in run.injury_causes)]
        for c, role in coded:
            system, code = _system(c.system) or ICD10CM, c.code.strip()
            if _given(c) and system == ICD10CM and _ICD_SHAPE.fullmatch(code) and allowed(sens.of(system, code)) \
                    and codes.icd10cm(code):
                findings.setdefault((system, code), Finding(system, code, role, (system, code) in evidence,
                                                            codes.icd10cm(code)))
    for e in request.reasons:  # evidence whose record was not passed in still explains the referral
        key = (ICD10CM, e.code.strip())
        if key in evidence and key not in findings and _ICD_SHAPE.fullmatch(key[1]) and allowed(sens.of(*key)) \
                and codes.icd10cm(key[1]):
            findings[key] = Finding(ICD10CM, key[1], ICD_FIELDS[e.field], True, codes.icd10cm(key[1]))
    naloxone = tuple(
        Naloxone(m.drug.code.strip(), sens.routes.get(m.route), sens.responses.get(m.response, ""), m.given_prior,
                 clean(m.administered_by, 20), m.given_at or run.times.at_patient or run.times.on_scene
                 or run.envelope.occurred_at, m.dose, clean(m.dose_unit, 20))
        for run in runs for m in run.medications
        if _given(m.drug) and _system(m.drug.system) in (RXNORM, "") and m.drug.code.strip() in sens.naloxone
        and allowed(sens.of(RXNORM, m.drug.code.strip())))
    indicators = tuple(dict.fromkeys(c.code.strip() for run in runs for c in run.alcohol_drug_indicators
                                     if _given(c) and re.fullmatch(r"[0-9]{7}", c.code.strip())))
    if not allowed({DataCategory.SUD}):
        indicators = ()
    service_data = redaction.service_data.get(request.service, DataCategory.GENERAL)
    shown = service_data in carries
    referral = decision.referral_id
    first_field = fields[0] if fields else None
    times = [t for run in runs for t in (run.times.psap_call, run.times.unit_notified, run.times.in_service,
                                         run.times.at_destination, run.times.left_scene) if t is not None]
    times += [t for i in incidents for t in (i.received_at, i.cleared_at) if t is not None]
    encounter = None
    if clinical and (runs or incidents or request.incident):
        encounter = Encounter(request.incident, tuple(dict.fromkeys(clean(run.pcr_number, 60) for run in runs)),
                              min(times) if times else None, max(times) if times else None)
    labelled = bool(decision.labels) or bool(decision.notice)  # decisions before labels: the notice said it
    content = Content(
        referral_id=referral, message_id="", action=action,
        revision=request.revision, variant=variant, sent_at=event_time(request, mine),
        authored_at=request.envelope.occurred_at,
        recipient=Party(recipient.id, clean(recipient.name, 200) or recipient.id),
        destination=clean(recipient.endpoint.address, 500) or recipient.id,
        referring=referring_party(request, sources) if clinical else Party(*COORDINATOR),
        referrer_role=clean(first_field.referrer_role, 40) if first_field and clinical else "",
        referrer_id=clean(first_field.referrer_id, 60) if first_field and clinical else "",
        patient=_patient(request.subject, variant), link=ids.patient_link(request.person.person_token, recipient.id),
        service=request.service.coding if shown else GENERIC_SERVICE,
        service_text=request.service.value if shown else "follow-up contact",
        categories=categories, findings=tuple(findings.values()), indicators=indicators, naloxone=naloxone,
        encounter=encounter,
        note=clean(first_field.note) if first_field and allowed({DataCategory.SUD, DataCategory.MENTAL_HEALTH}) else "",
        priority="urgent" if URGENT & set(categories) else "routine",
        part2=labelled, no_redisclosure="NORDSCLCD" in decision.labels or (labelled and not decision.labels),
        notice=clean(decision.notice, 4000), consent_scope=clean(decision.consent_scope),
        consent_id=clean(decision.consent_id, 64) if clinical else "", basis=decision.basis, purpose=decision.purpose,
        policy_version=decision.policy_version, sources=tuple(request.source_records) if clinical else (),
        clinical=clinical, consent_signed_at=decision.consent_signed_at if decision.consent_id and clinical else None,
        pathway=request.pathway.value)
    return identified(content)


def identified(content: Content) -> Content:
    """The content with its message id: the referral, the action and a digest of what the
    recipient receives, leaving out the message's own id and timestamp (STYLE.md §5)."""
    return replace(content, message_id=message_ids.message_id(content.referral_id, content.action,
                                                                   digest_of(content)))


def digest_of(content: Content) -> str:
    """The digest of what the recipient receives: everything but the message id and timestamp."""
    return message_ids.content_digest(replace(content, message_id="", sent_at=None, revision=0))


def event_time(request: r.ReferralRequest, sources: Sequence[r.Record]) -> datetime:
    """A payload's timestamp: the latest event it reports (the request or one of its named source
    records), never the wall clock, so the same content renders the same bytes."""
    return max([request.envelope.occurred_at, *(s.envelope.occurred_at for s in sources)])


def referring_party(request: r.ReferralRequest, sources: Sequence[r.Record]) -> Party:
    """Who refers: the agency of the request, named as its PCRs name it. A cancellation names the same."""
    runs = [s for s in _named(sources, request) if isinstance(s, r.EmsRun)]
    agency_name = next((clean(run.agency_name, 200) for run in runs if run.agency_name.strip()), "")
    agency = clean(request.referring_agency, 100) or request.envelope.source_system
    return Party(agency, agency_name or agency)


def cancellation(referral: str, person: r.PersonKey, recipient, reason: str, at: datetime,
                 referring: Party) -> Content:
    """A cancellation carries the referral's ids, the linkage identifier and the reason: nothing else.
    `referring` is the party the cancelled referral named (`referring_party`)."""
    return identified(Content(
        referral_id=referral, message_id="", action=Action.CANCEL,
        revision=0, variant=Variant.OUTREACH_ONLY, sent_at=at, authored_at=at,
        recipient=Party(recipient.id, clean(recipient.name, 200) or recipient.id),
        destination=clean(recipient.endpoint.address, 500) or recipient.id,
        referring=Party(clean(referring.id, 100), clean(referring.name, 200) or clean(referring.id, 100)),
        referrer_role="", referrer_id="", patient=r.Person(), link=ids.patient_link(person.person_token, recipient.id),
        service=GENERIC_SERVICE, service_text="", cancel_reason=clean(reason, 500) or "cancelled by the requester",
        clinical=False))
