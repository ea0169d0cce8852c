"""One settings object for the whole service, read once from the environment.

Prefix HANDOFF_, nested sections with a double underscore: HANDOFF_KAFKA__BOOTSTRAP,
HANDOFF_STORAGE__URL, HANDOFF_SECURITY__LINKAGE_KEYS, ... Built once at start-up
(`Settings()`) and passed down; nothing reads the environment after that. Secrets are
SecretStr; a placeholder secret is refused outside development. A `HANDOFF_*` variable that
names no setting is refused in production and warned about elsewhere (a misspelt
HANDOFF_ENVIRONMENT would otherwise leave the service in development). `explain` turns a
settings error into one line naming the variable and what it expects, never its value.
"""
from __future__ import annotations

import difflib
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

ROOT = Path(__file__).resolve().parent.parent
# What Handoff writes (the embedded broker's data, the SQLite file, audit checkpoints)
# defaults to .run/ under the working directory, never into the installed package: the
# image's WORKDIR, a systemd unit's WorkingDirectory or the checkout for `make run`.
RUN_DIR = Path(".run")
PLACEHOLDER = "change-me"


class Section(BaseModel):
    """A settings section: unknown keys are refused, so a typo fails at start-up."""

    model_config = ConfigDict(extra="forbid")


class KafkaSettings(Section):
    bootstrap: str = Field("", description="host:port list; empty starts the embedded broker")
    topic_prefix: str = "handoff"
    consumer_group: str = "handoff"
    embedded_run_dir: Path = RUN_DIR / "broker"
    # Consumer group membership (handoff/worker.py): dynamic, LeaveGroup on a clean stop; a killed
    # worker's partitions move after the session timeout.
    session_timeout_seconds: float = Field(10.0, ge=1.0, le=90.0)
    heartbeat_seconds: float = Field(3.0, gt=0)
    rebalance_timeout_seconds: float = Field(20.0, ge=1.0)
    # A secured cluster (pipeline/kafka/secure.py): TLS, SASL/SCRAM, one principal per component.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    ssl_cafile: Path | None = Field(None, description="CA bundle the brokers' certificates chain to (PEM)")
    ssl_certfile: Path | None = Field(None, description="client certificate (PEM), for brokers that require one")
    ssl_keyfile: Path | None = None
    ingest_flush_messages: int | None = Field(
        None, ge=1, description="single host: flush.messages of the ingest topics (1: fsync each record)")


class StorageSettings(Section):
    url: str = Field(f"sqlite:///{RUN_DIR / 'handoff.db'}", description="sqlite:///path or postgresql://...")


class IngestSettings(Section):
    # Each EMS agency's dispatch centre, so the fire PCR, the transport PCR and the CAD
    # incident share one key: {"ems-012": "psap-north"}.
    agency_dispatch_centre: dict[str, str] = {}
    default_dispatch_centre: str = "psap-unknown"
    nemsis_xsd: Path | None = None


class RoutingSettings(Section):
    directory: str = Field(str(ROOT / "pipeline" / "route" / "data" / "sample-directory.json"),
                           description="a FHIR Bundle file of the provider directory, or a FHIR server's base URL")
    directory_ttl_seconds: float = 300.0
    episode_window_hours: float = 72.0
    timezone: str = Field("UTC", description="the site's IANA time zone: the directory's opening hours are local")
    episode_retention_days: float = Field(
        90.0, gt=0, description="source records, episodes and requests that Handoff last stored longer ago than this are"
                    " purged (PHI at rest; counted from storage, not from the event)")


class ConsentSettings(Section):
    policy: Path = Field(ROOT / "pipeline" / "consent" / "policy.yaml", description="the versioned consent policy")
    hold_days: float = Field(30.0, gt=0, description="a hold with no legal basis is cancelled after this long")
    sweep_seconds: float = Field(60.0, gt=0, description="how often expiry and the registry's producer run")
    field_flag_elements: list[str] = Field(
        ["eCustomResults.ConsentToReferral", "itCustom.ConsentToReferral"],
        description="ePCR custom element ids whose 'yes' is a consent-to-referral flag (a proposed consent)")


class TrackSettings(Section):
    deadlines: Path = Field(ROOT / "pipeline" / "track" / "deadlines.yaml",
                            description="the closed loop's deadlines per programme and service")
    sweep_seconds: float = Field(60.0, gt=0, description="how often missed deadlines are looked for")
    parked_hours: float = Field(72.0, gt=0, description="a provider's report on a referral with no send status is"
                                                         " refused after this long parked")


class AgencyInfo(Section):
    """One organisation that sends records: its role in law decides which consent rules apply."""

    role: Literal["covered-entity", "part2-programme", "law-enforcement", "non-covered-programme",
                  "dispatch-centre"]
    name: str = ""


# The agency registry: the sending organisation's role by its id (eResponse.01 / the field
# referral's agency / the dispatch centre). The default names the sample data's organisations;
# a site lists its own. An organisation not listed is treated as a Part 2 programme, the most
# protective role (pipeline.vocab.SourceRole).
SAMPLE_AGENCIES = {
    "ems-012": AgencyInfo(role="covered-entity", name="Sample county EMS"),
    "ems-044": AgencyInfo(role="covered-entity", name="Sample fire district EMS"),
    "ems-101": AgencyInfo(role="covered-entity", name="Sample city EMS"),
    "deflection-sangamon": AgencyInfo(role="part2-programme", name="Sample deflection programme"),
    "pd-7": AgencyInfo(role="law-enforcement", name="Sample police department"),
    "pd-9": AgencyInfo(role="law-enforcement", name="Sample sheriff's office"),
    "psap-north": AgencyInfo(role="dispatch-centre", name="Sample 911 centre"),
}


class SecuritySettings(Section):
    # Linkage (person-token) keys by version; the highest version is current. Retired
    # versions stay so that old tokens can still be found (audit disclosures).
    linkage_keys: dict[int, SecretStr] = {1: SecretStr(PLACEHOLDER)}
    audit_signing_key: SecretStr = SecretStr(PLACEHOLDER)


class AuditSettings(Section):
    # Where every new checkpoint is appended (JSON lines): a file the privacy officer
    # keeps out of this host's control (a mounted write-once share, or pulled and filed).
    checkpoint_export: Path = RUN_DIR / "audit-checkpoints.jsonl"
    segment_size: int = Field(1000, ge=1, description="records per sealed segment")
    retention_days: int = Field(6 * 365 + 2, ge=1, description="sealed segments older than this expire")
    # Trusted Ed25519 public keys (hex) for `handoff audit verify`; old ones stay after a
    # rotation. Empty: the key derived from security.audit_signing_key (development only).
    verify_keys: list[str] = []


class MetricsSettings(Section):
    host: str = "127.0.0.1"
    port: int = 9464


class LogSettings(Section):
    """Log lines (pipeline/logs.py): `json` for a log collector (one object per line), `text` for a terminal."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"


class OtelSettings(Section):
    """OpenTelemetry traces of the stages (pipeline/otel.py; the `otel` extra): off unless an exporter is set."""

    exporter: Literal["none", "console", "otlp"] = "none"
    endpoint: str = Field("", description="OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces")
    service_name: str = "handoff"


class MonitorSettings(Section):
    """The IT dashboard's charts (connectors/web/operations.py): how often the web service samples
    offsets and lag, and how much it keeps (in memory; a restart starts the charts again)."""

    sample_seconds: float = Field(30.0, gt=0)
    window_seconds: float = Field(3600.0, gt=0)


class RuntimeSettings(Section):
    """How stages retry (pipeline/errors.py, pipeline/stage.py)."""

    retry_attempts: int = Field(6, ge=1, description="tries of one record failing transiently (its dependency up) "
                                                     "before it is dead-lettered retryable=true")
    retry_backoff_seconds: list[float] = Field([0.2, 0.5, 1.0, 2.0, 5.0, 10.0], min_length=1,
                                               description="waits between tries; the last repeats during an outage")
    retry_topic_delays_seconds: list[float] = Field(
        [60.0, 600.0, 3600.0], min_length=1,
        description="delay before a record on delivery.retry.1m, .10m, .1h is tried again")
    batch_size: int = Field(500, ge=1, description="a stage consumes at most this many records at a time; their "
                                                    "audit records are written first, then their outputs")
    batch_within_seconds: float = Field(0.05, gt=0, description="a batch is closed after this long even if not full")
    buffer_records: int = Field(512, ge=1, description="records a stage's stream holds ahead of its batches "
                                                     "(faust's stream_buffer_maxsize): memory under a backlog")
    fetch_bytes_per_partition: int = Field(256 * 1024, ge=64 * 1024,
                                           description="most bytes one fetch reads from a partition (faust's "
                                                       "consumer_max_fetch_size): memory under a backlog")
    stop_grace_seconds: float = Field(30.0, gt=0, description="after SIGTERM the worker stops within this long, "
                                      "else it prints every thread's stack and exits 1 (below k8s' 45 s grace)")
    cache_dir: Path = Field(RUN_DIR / "cache", description="what the worker derives once and reuses on its next "
                                                         "start (the ICD-10-CM table); safe to delete")
    demo_database: Path = Field(RUN_DIR / "demo.db",
                                description="`handoff run` (the demo) uses this SQLite file and deletes it at start")


class AgencyCredential(Section):
    """One sending agency or system at the network edges, and how it proves who it is."""

    # "provider": a recipient answering referrals (its name is its directory id).
    kind: Literal["ems", "fire", "psap", "law-enforcement", "deflection", "hospital", "provider", "other"] = "other"
    # "consent": may post and revoke Consent resources (never granted to law enforcement);
    # "status": may report referral status (RRI over the replies listener; providers only).
    may_send: list[Literal["nemsis", "eido", "cad", "field", "hl7", "consent", "status"]] = [
        "nemsis", "eido", "cad", "field", "hl7"]
    # The agency numbers this sender submits PCRs for (eResponse.01 / MSH-4); empty: its own name only.
    agency_ids: list[str] = []
    # API keys (header X-API-Key): plain keys as secrets, or their sha256 hex digests; several allow rotation.
    api_keys: list[SecretStr] = []
    api_key_sha256: list[str] = []
    # Mutual TLS: client certificates (chaining to edges.client_ca) by DER sha256 fingerprint or subject CN.
    cert_sha256: list[str] = []
    cert_subjects: list[str] = []


class EdgeSettings(Section):
    """The network edges (connectors/edge): HTTP intake and the MLLP listener."""

    host: str = "127.0.0.1"
    http_port: int = 8470
    mllp_port: int = 2575
    http_metrics_port: int = 9465
    mllp_metrics_port: int = 9466
    replies_port: int = Field(2576, description="MLLP port for providers' RRI answers (handoff serve replies)")
    replies_metrics_port: int = 9467
    tls_cert: Path | None = Field(None, description="server certificate chain (PEM); MLLP requires it")
    tls_key: Path | None = None
    client_ca: Path | None = Field(None, description="CA bundle that client certificates must chain to")
    agencies: dict[str, AgencyCredential] = {}
    commit_timeout: float = Field(10.0, description="seconds to wait for acks=all before answering 503 / AR")
    max_body_bytes: int = 20 * 1024 * 1024
    mllp_max_message_bytes: int = 1024 * 1024
    mllp_frame_timeout: float = Field(30.0, description="seconds to finish a frame once its 0x0B arrived")
    mllp_idle_timeout: float = Field(300.0, description="seconds a connection may stay silent between frames")


class FhirRestDelivery(Section):
    """FHIR REST endpoints: SMART Backend Services (a signed JWT assertion for a bearer token) or mutual TLS."""

    mode: Literal["auto", "process-message", "transaction"] = Field(
        "auto", description="auto: $process-message where the CapabilityStatement offers it, else a transaction")
    client_id: str = ""
    token_url: str = Field("", description="the SMART token endpoint; empty: no bearer token (mutual TLS alone)")
    private_key: Path | None = Field(None, description="PEM: RSA signs RS384, EC P-384 signs ES384")
    key_id: str = ""
    scope: str = "system/Task.write system/ServiceRequest.write system/Patient.write"
    client_cert: Path | None = Field(None, description="mutual TLS: this client's certificate chain (PEM)")
    client_key: Path | None = None
    ca_bundle: Path | None = Field(None, description="CA bundle the servers' certificates chain to (default: system)")
    timeout: float = Field(15.0, gt=0)


class MllpDelivery(Section):
    """HL7 v2 over MLLP (addresses mllps://host:port for TLS, mllp://host:port for plain)."""

    ack_timeout: float = Field(30.0, gt=0, description="seconds to wait for the ACK; none is an ambiguous send")
    connect_timeout: float = Field(10.0, gt=0)
    connections: int = Field(1, ge=1, description="connections at once to one receiver; 1: its messages go one at "
                                                  "a time, in order")
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


class DirectDelivery(Section):
    """Direct: SMTP with S/MIME, signed with the programme's certificate, encrypted to the recipient's."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    starttls: bool = False
    sender: str = "referrals@handoff.direct.invalid"
    signing_cert: Path | None = None
    signing_key: Path | None = None
    recipient_certs: dict[str, Path] = Field({}, description="Direct address -> its encryption certificate (PEM)")
    timeout: float = Field(30.0, gt=0)


class DeliverySettings(Section):
    lease_seconds: float = Field(60.0, gt=0, description="how long one send of a referral holds its slot")
    final_attempt: int = Field(6, ge=1, description="a transient failure of this many sends of one message is final:"
                                                   " the referral is failed")
    idempotent: bool = Field(True, description="false only in the test that shows what idempotency prevents")
    concurrency: int = Field(16, ge=1, description="sends in flight at once per connector in the deliver stage's "
                                                   "batch (one per referral; MLLP: mllp.connections per endpoint)")
    fhir: FhirRestDelivery = FhirRestDelivery()
    mllp: MllpDelivery = MllpDelivery()
    direct: DirectDelivery = DirectDelivery()


class PayloadSettings(Section):
    """Optional AES-256-GCM encryption of the values on the topics that carry person data
    (`person_data: true` in pipeline/schemas/topics.yaml; pipeline/payload.py)."""

    enabled: bool = False
    # Keys by version, 32 bytes as 64 hex characters; the highest version encrypts, every
    # listed version decrypts (keep a retired key until its topics' retention has passed).
    keys: dict[int, SecretStr] = {}

    @model_validator(mode="after")
    def _keys_when_enabled(self) -> "PayloadSettings":
        if not self.enabled:
            return self
        if not self.keys:
            raise ValueError("payload.enabled needs payload.keys ({version: 64 hex characters})")
        for version, key in self.keys.items():
            text = key.get_secret_value()
            if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ValueError(f"payload.keys.{version} must be 64 hex characters (a 32-byte AES key)")
        return self


class WebSettings(Section):
    """The web service (`handoff serve web`, connectors/web): the provider inbox, the privacy officer's page."""

    host: str = "127.0.0.1"
    port: int = 8480
    tls_cert: Path | None = Field(None, description="server certificate chain (PEM); with tls_key, HTTPS")
    tls_key: Path | None = None
    secure_cookies: bool = Field(True, description="Secure cookies (__Host- prefix); off only for plain-HTTP "
                                                   "development on loopback")
    session_idle_minutes: float = Field(30.0, gt=0)
    session_hours: float = Field(12.0, gt=0)
    lockout_failures: int = Field(5, ge=1, description="consecutive failed sign-ins that lock an account")
    lockout_minutes: float = Field(15.0, gt=0)


class AlertSettings(Section):
    """Dispatch-time alerts to co-responder teams (issue 20): the webhook connector's keys and timeout."""

    webhook_keys: dict[str, SecretStr] = Field({}, description="recipient id -> its HMAC-SHA256 signing key")
    webhook_timeout: float = Field(5.0, gt=0, description="seconds for one webhook call")
    ca_bundle: Path | None = Field(None, description="CA bundle the receivers' certificates chain to (default: system)")


class ReportSettings(Section):
    """Programme reports and the overdose surveillance feed (issue 26)."""

    grid_degrees: float = Field(0.01, gt=0, le=1, description="surveillance grid cell size in degrees (0.01: ~1 km)")
    fire_agencies: list[str] = Field([], description="EMS agency ids that are fire-based (their calls are fire-led)")
    spike_threshold: int = Field(0, ge=0, description="an area's 24-hour overdose count above this raises a spike"
                                                      " alert (0: off unless the area has its own)")
    spike_thresholds: dict[str, int] = Field({}, description="area -> its own 24-hour threshold")
    spike_webhook: str = Field("", description="https address spike alerts are POSTed to ('' : none)")
    spike_recipient: str = Field("public-health", description="the webhook recipient id (its key in"
                                                              " alerts.webhook_keys)")


class ConfigSettings(Section):
    """Installed versions of rules, routing, directory and policy (issue 24, `handoff config`)."""

    poll_seconds: float = Field(5.0, gt=0, description="how often a worker looks for a newly installed version "
                                                       "(it switches at the next batch boundary)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HANDOFF_", env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "test", "production"] = "development"
    programme_id: str = "demo-programme"
    kafka: KafkaSettings = KafkaSettings()
    storage: StorageSettings = StorageSettings()
    ingest: IngestSettings = IngestSettings()
    routing: RoutingSettings = RoutingSettings()
    consent: ConsentSettings = ConsentSettings()
    track: TrackSettings = TrackSettings()
    security: SecuritySettings = SecuritySettings()
    audit: AuditSettings = AuditSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()
    monitor: MonitorSettings = MonitorSettings()
    otel: OtelSettings = OtelSettings()
    edges: EdgeSettings = EdgeSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    delivery: DeliverySettings = DeliverySettings()
    payload: PayloadSettings = PayloadSettings()
    web: WebSettings = WebSettings()
    agencies: dict[str, AgencyInfo] = SAMPLE_AGENCIES
    alerts: AlertSettings = AlertSettings()
    report: ReportSettings = ReportSettings()
    config: ConfigSettings = ConfigSettings()

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> "Settings":
        if self.environment == "development" or self.environment == "test":
            return self
        secrets = {"security.audit_signing_key": self.security.audit_signing_key}
        secrets |= {f"security.linkage_keys.{v}": k for v, k in self.security.linkage_keys.items()}
        secrets |= {f"edges.agencies.{a}.api_keys.{i}": k for a, c in self.edges.agencies.items()
                    for i, k in enumerate(c.api_keys)}
        weak = [name for name, value in secrets.items()
                if value.get_secret_value() in ("", PLACEHOLDER) or len(value.get_secret_value()) < 16]
        if weak:
            raise ValueError(f"placeholder or short secrets outside development: {', '.join(sorted(weak))} "
                             "(HANDOFF_SECURITY__..., HANDOFF_EDGES__AGENCIES)")
        return self

    @model_validator(mode="after")
    def _no_unknown_variables(self) -> "Settings":
        unknown = unknown_variables(os.environ)
        if unknown and self.environment == "production":
            raise ValueError(f"unknown variables in production: {'; '.join(unknown)}")
        for text in unknown:
            if text not in _warned:
                _warned.add(text)
                log.warning("ignoring unknown variable %s", text)
        return self

    def agency_role(self, agency_id: str) -> str:
        """The organisation's role from the agency registry; '' when it is not listed (most protective)."""
        agency = self.agencies.get(agency_id)
        return agency.role if agency else ""

    def dispatch_centre_for(self, agency_id: str) -> str:
        return self.ingest.agency_dispatch_centre.get(agency_id, self.ingest.default_dispatch_centre)


# ---------------------------------------------------------------- the environment, explained

log = logging.getLogger("handoff.settings")
PREFIX = "HANDOFF_"
NOT_SETTINGS = ("HANDOFF_USER",)      # who runs a command (handoff audit, consent): read by the commands
NOT_SETTINGS_PREFIXES = ("HANDOFF_TEST_",)  # the test suite's own (HANDOFF_TEST_POSTGRES_DSN), and these:
NOT_SETTINGS += ("HANDOFF_CONSENT_EXAMPLES", "HANDOFF_UPDATE_GOLDEN")
_warned: set[str] = set()


def variable(loc: "list[str] | tuple[Any, ...]") -> str:
    """The environment variable of a settings path: ("metrics", "port") -> HANDOFF_METRICS__PORT."""
    return PREFIX + "__".join(str(part) for part in loc).upper()


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """`HANDOFF_*` names that are no setting's section, each with the nearest known name if any."""
    known = [variable([name]) for name in Settings.model_fields]
    found = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name in NOT_SETTINGS or name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        section = PREFIX + name[len(PREFIX):].split("__", 1)[0]
        if section not in known:
            near = difflib.get_close_matches(section, known, n=1)
            found.append(f"{name} (did you mean {near[0]}?)" if near else name)
    return found


def explain(error: Exception, environ: Mapping[str, str] = os.environ) -> str:
    """One line for a settings error: which variable, what it expects; never the value given."""
    if isinstance(error, SettingsError):
        return _explain_unparsable(error, environ)
    if not isinstance(error, ValidationError):
        return str(error).splitlines()[0]
    lines = []
    for e in error.errors(include_input=False, include_url=False):
        loc = [str(p) for p in e["loc"]]
        msg = e["msg"].removeprefix("Value error, ")
        if not loc:
            lines.append(msg)
        elif e["type"] == "extra_forbidden":
            lines.append(f"{variable(loc)} is not a setting{_nearest(loc)}")
        else:
            lines.append(f"{variable(loc)}: {msg[:1].lower() + msg[1:]}{_expected(loc)}")
    return "; ".join(lines)


def _field(loc: list[str]) -> Any:
    """The pydantic field at a settings path, or None (dict keys and list items have none)."""
    model: Any = Settings
    found = None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        found = fields[part]
        model = found.annotation
    return found


def _expected(loc: list[str]) -> str:
    field = _field(loc)
    if field is None:
        return ""
    kind = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
    default = field.get_default(call_default_factory=True)
    shown = "" if isinstance(default, (SecretStr, BaseModel)) or default in (None, "", [], {}) or "secret" in kind.lower() \
        else f", default {json.dumps(default, default=str)}"
    return f" (expected {kind}{shown})"


def _nearest(loc: list[str]) -> str:
    parent = _field(loc[:-1]) if len(loc) > 1 else None
    names = list(getattr(parent.annotation, "model_fields", {})) if parent is not None else []
    near = difflib.get_close_matches(loc[-1], names, n=1)
    return f" (did you mean {variable([*loc[:-1], near[0]])}?)" if near else ""


def _explain_unparsable(error: SettingsError, environ: Mapping[str, str]) -> str:
    """pydantic-settings could not decode a complex value (JSON): find the variable that does not parse."""
    for name in sorted(environ):
        if not name.startswith(PREFIX):
            continue
        value = environ[name].strip()
        if value[:1] not in ("{", "["):
            continue
        try:
            json.loads(value)
        except ValueError as e:
            kind = "object" if value[:1] == "{" else "array"
            return (f"{name} is not valid JSON ({e.msg} at character {e.pos + 1}); expected a JSON {kind}, "
                    'e.g. {"1": "..."} with every key and string in double quotes')
    return f"a HANDOFF_* variable could not be read: {str(error).splitlines()[0]}"
