"""Client settings for a secured Kafka (TLS, SASL/SCRAM) and the ACLs each component needs.

`client_options` turns the kafka settings into aiokafka keyword arguments (producers,
consumers, the admin client); `faust_options` into the faust app's `broker_credentials`.
The ACLs are data (pipeline/kafka/acls.yaml): per component, the catalogued topics it may
read or write and the consumer groups it may use; `bindings` expands them for a catalogue
and `create_acls` applies them with an admin principal.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from aiokafka.protocol.admin import CreateAclsRequest

from pipeline.settings import KafkaSettings
from pipeline.topics import Catalogue

ACLS_FILE = Path(__file__).resolve().parent / "acls.yaml"
# Kafka's wire codes (org.apache.kafka.common.acl / resource)
RESOURCE = {"topic": 2, "group": 3}
OPERATION = {"read": 3, "write": 4, "describe": 8}
LITERAL, ALLOW = 3, 3


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if kafka.ssl_certfile:
        context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    return context


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured security; none for PLAINTEXT."""
    protocol = kafka.security_protocol
    options: dict[str, Any] = {}
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(kafka)
    if protocol.startswith("SASL"):
        if not kafka.sasl_username or not kafka.sasl_password.get_secret_value():
            raise ValueError(f"kafka.security_protocol={protocol} needs kafka.sasl_username and kafka.sasl_password")
        options.update(sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.sasl_username,
                       sasl_plain_password=kafka.sasl_password.get_secret_value())
    return options


def faust_options(kafka: KafkaSettings) -> dict[str, Any]:
    """The faust app's `broker_credentials` for the same settings (make_app(**overrides))."""
    import faust

    protocol = kafka.security_protocol
    if protocol == "PLAINTEXT":
        return {}
    context = ssl_context(kafka) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return {"broker_credentials": faust.SSLCredentials(context)}
    client_options(kafka)  # the same check for a missing user or password
    return {"broker_credentials": faust.SASLCredentials(
        username=kafka.sasl_username, password=kafka.sasl_password.get_secret_value(),
        mechanism=kafka.sasl_mechanism, ssl_context=context)}


@dataclass(frozen=True)
class Binding:
    principal: str  # "User:handoff-edge"
    resource: str  # "topic" | "group"
    name: str  # the full topic name on the broker, or the group id
    operation: str  # "read" | "write" | "describe"


def load_acls(path: Path = ACLS_FILE) -> dict[str, dict]:
    return yaml.safe_load(path.read_text())["components"]


def bindings(catalogue: Catalogue, group_base: str = "handoff", acls: dict[str, dict] | None = None,
             principal_prefix: str = "handoff-") -> list[Binding]:
    """Every ALLOW binding the components need, topic patterns expanded against the catalogue."""
    out: list[Binding] = []
    for component, spec in (acls or load_acls()).items():
        principal = f"User:{principal_prefix}{component}"
        for operation in ("read", "write"):
            for pattern in spec.get(operation, []):
                matched = [t for t in catalogue if fnmatch(t.name, pattern)]
                if not matched:
                    raise ValueError(f"acls: {component} {operation} {pattern!r} matches no catalogued topic")
                for topic in matched:
                    out += [Binding(principal, "topic", topic.full_name, operation),
                            Binding(principal, "topic", topic.full_name, "describe")]
        for group in spec.get("groups", []):
            out.append(Binding(principal, "group", group.replace("{group}", group_base), "read"))
    return sorted(set(out), key=lambda b: (b.principal, b.resource, b.name, b.operation))


def allowed(bound: list[Binding], principal: str, topic: str, operation: str) -> bool:
    return Binding(principal, "topic", topic, operation) in set(bound)


async def create_acls(admin, bound: list[Binding]) -> None:
    """Apply the bindings with an admin (super user) client. aiokafka's admin client has no
    ACL method; it has the CreateAcls request, sent here as its own methods send theirs."""
    for b in bound:
        request = CreateAclsRequest(RESOURCE[b.resource], b.name, LITERAL, b.principal, "*", OPERATION[b.operation],
                                    ALLOW)
        response = await admin._send_request(request)
        for code, message in response.creation_responses:
            if code:
                raise RuntimeError(f"CreateAcls {b}: error {code} {message}")
