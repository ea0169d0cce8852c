"""The shared vocabularies: the words every stage, topic and issue agrees on.

They travel on topics as Avro strings (Avro enum symbols cannot hold a hyphen, and a
string evolves without breaking old readers); the Python enums below are the single
authority, and a value outside them is refused when a record is decoded.
"""
from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Category(StrEnum):
    """What a detection recognised (pipeline/detect draws the boundaries)."""

    OVERDOSE = "overdose"
    OPIOID_OVERDOSE = "opioid_overdose"
    SUBSTANCE_USE = "substance_use"
    BEHAVIORAL_HEALTH = "behavioral_health"
    SUICIDE_RISK = "suicide_risk"


class Outcome(StrEnum):
    """A consent decision for one (request, recipient, purpose)."""

    PERMIT = "permit"
    PERMIT_REDACTED = "permit-redacted"
    HOLD = "hold"
    DENY = "deny"


class Variant(StrEnum):
    """How much of a referral a recipient may receive."""

    FULL = "full"
    NO_SUD = "no-sud"
    OUTREACH_ONLY = "outreach-only"


class Basis(StrEnum):
    """The legal basis a disclosure rests on (DOMAIN.md §4)."""

    PART2_CONSENT = "part2-consent"
    HIPAA_AUTHORIZATION = "hipaa-authorization"
    HIPAA_TREATMENT = "hipaa-treatment"
    PART2_MEDICAL_EMERGENCY = "part2-medical-emergency"
    PUBLIC_HEALTH = "public-health"
    STATE_RULE = "state-rule"
    NONE = "none"


class Purpose(StrEnum):
    TREATMENT = "treatment"
    CARE_COORDINATION = "care-coordination"
    OUTREACH = "outreach"
    EMERGENCY_RESPONSE = "emergency-response"


class Coding(NamedTuple):
    system: str
    code: str
    display: str


SNOMED = "http://snomed.info/sct"


class Service(StrEnum):
    """A service a referral asks for; `.coding` is its SNOMED CT referral procedure."""

    SUD_TREATMENT = "sud-treatment"
    PEER_RECOVERY = "peer-recovery"
    MH_CRISIS_FOLLOWUP = "mh-crisis-followup"
    HOUSING_SOCIAL = "housing-social"

    @property
    def coding(self) -> Coding:
        return SERVICE_CODES[self]


SERVICE_CODES: dict[Service, Coding] = {
    Service.SUD_TREATMENT: Coding(SNOMED, "4266003", "Referral for drug addiction rehabilitation"),
    # SNOMED CT has no peer-recovery referral concept in the international release that we could
    # confirm; the generic "referral to service" is used and the service text says which.
    Service.PEER_RECOVERY: Coding(SNOMED, "306206005", "Referral to service"),
    Service.MH_CRISIS_FOLLOWUP: Coding(SNOMED, "61801003", "Referral for psychiatric aftercare"),
    Service.HOUSING_SOCIAL: Coding(SNOMED, "306238000", "Referral to social services"),
}


class ReferralState(StrEnum):
    """A referral's state: the SDOHCC referral Task.status set.

    `draft` covers held or queued; a consent hold is a decision, not a state.
    """

    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    ENTERED_IN_ERROR = "entered-in-error"


class StatusSource(StrEnum):
    """Who reports a referral's status: each may make only its own transitions (pipeline/track/machine.py)."""

    DELIVERY = "delivery"  # a connector's send result
    PROVIDER = "provider"  # the recipient: accepted, rejected, in progress, completed
    CONSENT_GATE = "consent-gate"  # a consent revoked or expired: cancelled
    TRACK = "track"  # a deadline missed: cancelled and escalated
    ADMIN = "admin"  # entered in error


class Pathway(StrEnum):
    """PTACC deflection pathways, plus the EMS/CAD-detected route."""

    SELF_REFERRAL = "self-referral"
    ACTIVE_OUTREACH = "active-outreach"
    NALOXONE_PLUS = "naloxone-plus"
    OFFICER_PREVENTION = "officer-prevention"
    OFFICER_INTERVENTION = "officer-intervention"
    FIRST_RESPONDER = "first-responder"  # a fire/EMS crew referral or an EMS-detected crisis


class Match(StrEnum):
    """How a record was linked to a person token; `uncertain` can never be permitted."""

    EXACT = "exact"
    UNCERTAIN = "uncertain"


class Format(StrEnum):
    FHIR_R4 = "fhir-r4"
    HL7V2 = "hl7v2"
    DIRECT = "direct"
    INBOX = "inbox"


class Action(StrEnum):
    """What a delivery does to the recipient's copy of a referral."""

    CREATE = "create"
    UPDATE = "update"
    CANCEL = "cancel"


class ConsentStatus(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    INACTIVE = "inactive"
    ENTERED_IN_ERROR = "entered-in-error"


class ConsentKind(StrEnum):
    PART2 = "part2"
    HIPAA_AUTHORIZATION = "hipaa-authorization"


class DataCategory(StrEnum):
    SUD = "sud"
    MENTAL_HEALTH = "mental-health"
    GENERAL = "general"


class AuditKind(StrEnum):
    INGEST = "ingest"
    DETECTION = "detection"
    REFERRAL_REQUEST = "referral-request"
    DECISION = "decision"
    DELIVERY_ATTEMPT = "delivery-attempt"
    DELIVERY_RESULT = "delivery-result"
    STATUS_CHANGE = "status-change"
    DEAD_LETTER = "dead-letter"
    REPLAY = "replay"
    ADMIN = "admin"
    VIEW = "view"


class Nil(StrEnum):
    """NEMSIS not-values (xsi:nil with NV): data, not absence."""

    NOT_APPLICABLE = "7701001"
    NOT_RECORDED = "7701003"
    NOT_REPORTING = "7701005"
