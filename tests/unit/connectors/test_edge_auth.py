"""Per-agency credentials (keys hashed, certificates by fingerprint or CN) and their settings."""
from __future__ import annotations

import hashlib

import pytest
from pydantic import SecretStr, ValidationError

from connectors.edge.auth import Credentials, cert_fingerprint
from connectors.edge.certs import issue, make_ca
from pipeline.settings import AgencyCredential, EdgeSettings, Settings


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certs")
    ca = make_ca(directory)
    return {name: issue(ca, directory, name) for name in ("ems-012", "pd-7", "other")}


def credentials(pairs) -> Credentials:
    return Credentials({
        "ems-012": AgencyCredential(kind="ems", api_keys=[SecretStr("ems-key-1"), SecretStr("ems-key-2")],
                                    cert_subjects=["ems-012"]),
        "pd-7": AgencyCredential(kind="law-enforcement", may_send=["field"],
                                 api_key_sha256=[hashlib.sha256(b"pd-key").hexdigest().upper()],
                                 cert_sha256=[cert_fingerprint(pairs["pd-7"].der)]),
    })


def test_keys_name_their_agency_and_rotation_keeps_both(pairs):
    creds = credentials(pairs)
    assert creds.by_key("ems-key-1").id == creds.by_key("ems-key-2").id == "ems-012"
    police = creds.by_key("pd-key")
    assert police.id == "pd-7" and police.law_enforcement and police.may_send == frozenset({"field"})
    assert creds.by_key("ems-key-3") is None and creds.by_key("") is None and creds.by_key(None) is None


def test_certificates_by_subject_or_fingerprint(pairs):
    creds = credentials(pairs)
    assert creds.by_cert(pairs["ems-012"].der).id == "ems-012"
    assert creds.by_cert(pairs["pd-7"].der).id == "pd-7"
    assert creds.by_cert(pairs["other"].der) is None and creds.by_cert(b"not a certificate") is None


def test_placeholder_or_short_agency_keys_are_refused_outside_development():
    agencies = {"ems-012": AgencyCredential(api_keys=[SecretStr("change-me")])}
    Settings(environment="development", edges=EdgeSettings(agencies=agencies))
    strong = "k" * 16
    with pytest.raises(ValidationError, match="edges.agencies.ems-012.api_keys.0"):
        Settings(environment="production", edges=EdgeSettings(agencies=agencies),
                 security={"linkage_keys": {1: strong}, "audit_signing_key": strong})


def test_unknown_permission_or_key_in_an_agency_is_a_configuration_error():
    with pytest.raises(ValidationError):
        AgencyCredential(may_send=["everything"])
    with pytest.raises(ValidationError):
        AgencyCredential(api_key="x")
