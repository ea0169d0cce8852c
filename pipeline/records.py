"""The shared records: the contract between stages and the shape of every topic.

Plain, frozen, typed values. The Avro schemas in pipeline/schemas/*.avsc are generated from
these classes (`handoff schemas write`) and checked for full transitive compatibility
against every committed earlier version, so a field is added with a default and never
retyped in place; a rename keeps the old name as an Avro alias (`renamed_from`).

One meaning per name: `person` is always the person's token (PersonKey); demographics
are a `Person` called `subject` (or `patient` on an EMS run); a record's version is its
envelope's `source_record_version`; a *request* (ReferralRequest, `request_id`) is per
person, episode and service, a *referral* (`referral_id`) is one request sent to one
recipient.

Minimum PHI (DESIGN.md principle 8): records are joined by person tokens; detection
evidence carries rule, field and character offsets, never copied text. The source
records (dispatch incident, EMS run, field referral) carry what a referral may need to
render, on input topics with a retention limit.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Optional

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from pipeline.vocab import (
    Action, AuditKind, Basis, Category, ConsentKind, ConsentStatus, DataCategory, Format,
    Match, Outcome, Pathway, Purpose, ReferralState, Service, SignerCapacity, SourceRole, StatusSource, Variant,
)


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Id = Annotated[str, AfterValidator(_non_empty)]


class Record(BaseModel):
    """Base of every shared record; `namespace` names the Avro namespace."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)
    namespace: ClassVar[str] = "org.handoff"


# ---------------------------------------------------------------- common parts

class Envelope(Record):
    """Who said what, when, about which source record; the same on every event."""

    event_id: Id = Field(description="deterministic: source system + record id + version")
    source_system: Id = Field(description="the sending agency's system, e.g. 'nemsis:ems-012'")
    source_record_id: Id
    source_record_version: int = 1
    occurred_at: AwareDatetime
    ingested_at: AwareDatetime
    correlation_id: Id = Field(description="ties every event of one handoff together")
    programme_id: str = ""
    sender: str = Field("", description="authenticated identity of the submitting agency/system")
    content_digest: str = Field("", description="sha256 of the record's content; with the version it names the event")
    source_role: Optional[SourceRole] = Field(
        None, description="the sending organisation's role from the agency registry (None: unknown)")


class Coded(Record):
    """A coded value as NEMSIS sends it: a value, a not-value (NV) or a pertinent negative (PN).

    `code` is empty when `nil` is set. A PN medication was not given; a PN symptom is absent.
    """

    code: str = ""
    system: str = ""
    nil: str = Field("", description="NEMSIS NV code (7701001/3/5) when xsi:nil")
    pn: str = Field("", description="NEMSIS PN code (88010xx) when a pertinent negative")


class IncidentKey(Record):
    """Key of dispatch.incident, ems.run and detection: where CAD and PCRs meet."""

    dispatch_centre: Id
    incident_number: Id


class Address(Record):
    street: str = ""
    city: str = ""
    county: str = ""
    state: str = ""
    zip: str = ""
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    county_code: str = Field("", description="ANSI/FIPS 5-digit county code when the source carries one (NEMSIS)")


class Person(Record):
    """Demographics as the source gave them; only on input topics and in referrals."""

    role: str = Field("patient", description="patient, caller, reporting-party, ...")
    family: str = ""
    given: str = ""
    middle: str = ""
    birth_date: Optional[date] = None
    sex: str = Field("", description="F, M, U")
    phone: str = ""
    address: Optional[Address] = None
    language: str = Field("", description="BCP-47 tag (sources map their own codes, e.g. ISO 639-2)")
    residence: str = Field("", description="NEMSIS ePatient.22 alternate home residence: 2522001 homeless, ...")


class CustomResult(Record):
    element_id: str
    value: str


# ---------------------------------------------------------------- source records

class DispatchIncident(Record):
    """One version of a CAD incident (dispatch.incident)."""

    envelope: Envelope
    key: IncidentKey
    call_type: str = Field("", description="APCO common incident type, e.g. OD, EDP")
    call_type_internal: str = ""
    call_type_text: str = ""
    mpds_determinant: str = ""
    priority: Optional[int] = None
    status: list[str] = []
    dispositions: list[str] = Field([], description="APCO ANS 1.111.2 codes, e.g. 15")
    received_at: Optional[AwareDatetime] = None
    dispatched_at: Optional[AwareDatetime] = None
    on_scene_at: Optional[AwareDatetime] = None
    cleared_at: Optional[AwareDatetime] = None
    location: Optional[Address] = None
    persons: list[Person] = []
    units: list[str] = []
    narrative: str = ""


class Medication(Record):
    drug: Coded
    given_prior: bool = Field(False, description="eMedications.02: given before this unit")
    route: str = ""
    response: str = Field("", description="eMedications.07: 9916001 improved, ...")
    administered_by: str = Field("", description="eMedications.10")
    dose: Optional[float] = Field(None, description="eMedications.05")
    dose_unit: str = Field("", description="eMedications.06 NEMSIS unit code (3706021 mg, ...)")
    given_at: Optional[AwareDatetime] = None


class Procedure(Record):
    procedure: Coded
    performed_at: Optional[AwareDatetime] = None


class EmsTimes(Record):
    psap_call: Optional[AwareDatetime] = None
    unit_notified: Optional[AwareDatetime] = None
    on_scene: Optional[AwareDatetime] = None
    at_patient: Optional[AwareDatetime] = None
    left_scene: Optional[AwareDatetime] = None
    at_destination: Optional[AwareDatetime] = None
    in_service: Optional[AwareDatetime] = None


class EmsDisposition(Record):
    """The NEMSIS 3.5 incident-disposition group and outcome fields."""

    unit_disposition: Coded = Coded()  # eDisposition.27
    patient_evaluation_care: Coded = Coded()  # .28
    crew_disposition: Coded = Coded()  # .29
    transport_disposition: Coded = Coded()  # .30
    refusal_reasons: list[Coded] = []  # .31
    destination_type: Coded = Coded()  # .21
    final_acuity: Coded = Coded()  # .19


class EmsRun(Record):
    """One version of one PatientCareReport (ems.run)."""

    envelope: Envelope
    key: IncidentKey
    agency_id: Id
    agency_name: str = ""
    pcr_number: Id
    pcr_uuid: str = ""
    type_of_service: Coded = Coded()
    dispatch_reason: Coded = Coded()
    emd_determinant: str = ""
    times: EmsTimes = EmsTimes()
    patient: Person = Person()
    age: Optional[int] = None
    age_units: str = ""
    scene: Optional[Address] = None
    primary_symptom: Coded = Coded()
    other_symptoms: list[Coded] = []
    primary_impression: Coded = Coded()
    secondary_impressions: list[Coded] = []
    situation_acuity: Coded = Coded()  # eSituation.13
    injury_causes: list[Coded] = []
    alcohol_drug_indicators: list[Coded] = []
    protocols: list[Coded] = []
    medications: list[Medication] = []
    procedures: list[Procedure] = []
    disposition: EmsDisposition = EmsDisposition()
    arrest_outcome: Coded = Coded()  # eArrest.18
    narrative: str = ""
    custom_results: list[CustomResult] = []
    findings: list[str] = Field([], description="data-quality findings, e.g. PN together with NV")


class FieldReferral(Record):
    """A referral an officer, crew or the person made directly (field.referral)."""

    envelope: Envelope
    agency_id: Id
    referral_id: Id
    referrer_role: str = Field(description="officer, firefighter, medic, peer, self, ...")
    referrer_id: str = ""
    pathway: Pathway
    subject: Person = Field(json_schema_extra={"renamed_from": ["person"]})
    services: list[Service] = []
    consent_status: str = Field("none", description="none, verbal, proposed, signed")
    incident: Optional[IncidentKey] = None
    location: Optional[Address] = None
    note: str = ""


class FieldReferralKey(Record):
    agency_id: Id
    referral_id: Id


# ---------------------------------------------------------------- derived records

class SourceRef(Record):
    """Points at one version of a source record on its topic."""

    topic: str
    record_id: str
    version: int = 1


class Evidence(Record):
    """Why a category fired: rule, field, code and character offsets, never copied text."""

    category: Category
    rule_id: str
    field: str
    code: str = ""
    start: Optional[int] = None
    end: Optional[int] = None


class Detection(Record):
    envelope: Envelope
    key: IncidentKey
    subject: SourceRef
    categories: list[Category] = []
    evidence: list[Evidence] = []
    rules_version: str
    patient_contact: bool = True
    patient_died: bool = False


class PersonKey(Record):
    """Key of referral.request, consent and consent.pending."""

    person_token: Id
    key_version: int


class ReferralRequest(Record):
    """The internal referral request (referral.request); not FHIR.

    Its identity is (person token, episode, service); routing adds the recipient, and
    `referral_id(request, recipient)` names the referral delivered to that recipient.
    """

    renamed_from: ClassVar[tuple[str, ...]] = ("Referral",)

    envelope: Envelope
    request_id: Id
    person: PersonKey
    match: Match = Match.EXACT
    episode_id: Id
    service: Service
    reasons: list[Evidence] = []
    categories: list[Category] = []
    source_records: list[SourceRef] = []
    pathway: Pathway = Pathway.FIRST_RESPONDER
    revision: int = 1
    subject: Optional[Person] = Field(None, description="contact details a permitted variant may carry")
    incident: Optional[IncidentKey] = None
    referring_agency: str = ""
    location: Optional[Address] = Field(None, description="the scene, where routing has no home address")
    age: Optional[int] = Field(None, description="age in years, for eligibility and the consent age rules")
    exclude: list[str] = Field([], description="recipient ids not to ask again (declined, or silent past a deadline)")
    source_role: Optional[SourceRole] = Field(
        None, description="the most protective role of the organisations whose records it carries (None: unknown)")


class Decision(Record):
    referral_id: Id
    request_id: Id
    recipient_id: Id
    purpose: Purpose
    outcome: Outcome
    variant: Optional[Variant] = None
    basis: Basis = Basis.NONE
    consent_id: str = ""
    reasons: list[str] = []
    policy_version: str
    decided_at: AwareDatetime
    data_categories: list[DataCategory] = Field([], description="what the request reveals (sud, mental-health, general)")
    notice: str = Field("", description="42 CFR 2.32 notice a Part 2 disclosure carries ('' otherwise)")
    consent_scope: str = Field("", description="the consent's scope, stated for the recipient (Part 2)")
    labels: list[str] = Field([], description="security labels the disclosure carries: R, 42CFRPart2, NORDSCLCD")
    source_role: Optional[SourceRole] = Field(None, description="the source role the policy applied")
    recipient_types: list[str] = Field([], description="the recipient types the policy applied")
    subject_age: Optional[int] = Field(None, description="the age the consent age rules applied")
    service_category: Optional[DataCategory] = Field(None, description="the data category the service reveals")
    consent_signed_at: Optional[AwareDatetime] = Field(None, description="when the consent relied on was signed")
    routing_version: str = Field("", description="the routing rules version in force when routing chose this "
                                 "recipient ('' where no routing chose it)")
    directory_version: str = Field("", description="the provider directory version routing chose this recipient "
                                   "from ('' where no routing chose it)")


class Endpoint(Record):
    kind: str = Field(description="fhir-rest, hl7v2-mllp, direct, inbox, webhook")
    address: str


class Delivery(Record):
    """The outbox (delivery): exactly the bytes to send, and why they may be sent."""

    envelope: Envelope
    delivery_id: Id
    referral_id: Id
    recipient_id: Id
    endpoint: Endpoint
    format: Format
    action: Action = Action.CREATE
    revision: int = 1
    message_id: Id
    content_type: str
    payload: bytes
    decision: Decision
    person: PersonKey
    attempt: int = 0
    not_before: Optional[AwareDatetime] = None
    content_digest: str = Field("", description="what the recipient would receive, less message id, action and"
                                                " send time: an update goes out only when it differs")


class DispatchAlert(Record):
    """An advisory alert to a co-responder team while a 911 call is live (dispatch.alert, issue 20):
    the minimum to respond as JSON in `body` (pipeline/alerts.py), never a name or SUD history."""

    envelope: Envelope
    key: IncidentKey
    alert_id: Id
    recipient_id: Id
    endpoint: Endpoint
    action: str = Field("alert", description="alert, update or withdraw")
    incident_version: int = 1
    body: bytes = b""
    reasons: list[str] = []
    decision: Optional[Decision] = Field(None, description="the consent decision that permits it (not a withdrawal)")
    attempt: int = Field(0, description="how many sends failed before (the retry tiers)")
    not_before: Optional[AwareDatetime] = Field(None, description="on a retry tier: not sent before this time")


class DeliveryKey(Record):
    referral_id: Id
    recipient_id: Id


class ReferralStatus(Record):
    """A change, or a report of one, to a referral's state (referral.status)."""

    envelope: Envelope
    referral_id: Id
    state: ReferralState
    business_status: str = Field("", description="BSeR businessStatus, e.g. 3.0 accepted")
    reason: str = ""
    reported_by: str = Field(description="handoff, a connector name, or a recipient id")
    message_id: str = ""
    source: StatusSource = Field(StatusSource.DELIVERY, description="whose transition this is (the state machine)")
    recipient_id: str = Field("", description="the recipient, where the reporter knows it")
    person: Optional[PersonKey] = Field(None, description="the person's token, where the reporter knows it")
    request_id: str = Field("", description="the request the referral answers, where the reporter knows it")


class ReferralKey(Record):
    referral_id: Id


class ConsentRecord(Record):
    """One consent as the registry holds it (the Consent resource's facts)."""

    consent_id: Id
    kind: ConsentKind
    status: ConsentStatus
    recipients: list[str] = Field([], description="recipient ids; empty with general_designation")
    general_designation: bool = False
    purposes: list[Purpose] = []
    data_categories: list[DataCategory] = []
    period_start: Optional[AwareDatetime] = None
    period_end: Optional[AwareDatetime] = None
    signed_at: Optional[AwareDatetime] = None
    artefact_ref: str = Field("", description="the signed form (sourceAttachment)")
    missing_elements: list[str] = Field([], description="§2.31 / §164.508(c) elements not yet captured")
    revoked_at: Optional[AwareDatetime] = None
    signer: str = Field("", description="who signed, as the form identifies them (a reference, never a name)")
    signed_by: list[SignerCapacity] = Field([SignerCapacity.PATIENT], description="the capacities of the signers")
    expiry_event: str = Field("", description="the stated expiry event or condition, or 'none' (TPO consent)")
    tpo: bool = Field(False, description="a single consent for treatment, payment and health-care operations")
    recipient_classes: list[str] = Field([], description="classes of recipients (HIPAA authorisation), e.g. other")


class ConsentSet(Record):
    """A person's complete current consent set (the compacted `consent` topic)."""

    person: PersonKey
    consents: list[ConsentRecord] = []
    registry_version: int
    updated_at: AwareDatetime


class AuditEvent(Record):
    """One audit record; ids and tokens, never names. FHIR AuditEvent is rendered from it."""

    audit_id: Id = Field(description="deterministic: a replay repeats it and the sink drops it")
    kind: AuditKind
    stage: str
    recorded_at: AwareDatetime
    outcome: str = Field("success", description="success, failure, permit, hold, deny, ...")
    actor: str = Field(description="a stage, a connector, or a signed-in user")
    os_user: str = ""
    correlation_id: str = ""
    trace_id: str = ""
    person: Optional[PersonKey] = None
    entities: list[SourceRef] = []
    referral_id: str = ""
    recipient_id: str = ""
    purpose: Optional[Purpose] = None
    basis: Optional[Basis] = None
    variant: Optional[Variant] = None
    consent_id: str = ""
    detail: dict[str, str] = {}


class AuditKey(Record):
    subject: Id = Field(description="person token, else referral id, else the stage")


class DeadLetter(Record):
    """A message a stage could not process: the original bytes and why."""

    dead_letter_id: Id
    stage: str
    reason: str
    error_type: str
    retryable: bool = False
    topic: str
    partition: int
    offset: int
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: dict[str, bytes] = {}
    failed_at: AwareDatetime


class DeadLetterKey(Record):
    """Key of every .dlq topic: dead letters of one source partition stay in order."""

    topic: str
    partition: int


class SurveillanceKey(Record):
    """Key of surveillance.overdose: one area's reports stay in order."""

    area: str


class OverdoseReport(Record):
    """One recognised overdose for public-health surveillance (ODMAP's fields), de-identified:
    the time to the hour, the place as a grid cell, no person, no address (pipeline/report/feed.py)."""

    report_id: Id = Field(description="a digest of the source record: not reversible, stable across versions")
    occurred_at: AwareDatetime = Field(description="the call's time, truncated to the hour (UTC)")
    area: str = Field(description="the reporting area (county FIPS code, else city, else 'unknown')")
    grid_cell: str = Field(description="the location coarsened to a grid cell ('' when none was recorded)")
    latitude: Optional[float] = Field(None, description="the grid cell's centre")
    longitude: Optional[float] = Field(None, description="the grid cell's centre")
    fatal: bool = False
    naloxone_given: bool = False
    naloxone_doses: int = 0
    opioid: bool = Field(False, description="an opioid overdose was recognised")
    pathway: str = Field("", description="ems-led, fire-led, police-led, self, dispatch-only")
    basis: Basis = Field(Basis.PUBLIC_HEALTH, description="the disclosure's basis (the policy gate)")
    policy_version: str = ""
