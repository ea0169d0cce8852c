"""Who is sending: an API key per agency, or a client certificate (mutual TLS) per agency.

Pure lookups over the configured credentials (settings `edges.agencies`). Keys are kept only
as sha256 digests and compared in constant time against every digest, so the time taken does
not say which agency (or how many) exist. A certificate is identified by the sha256 of its
DER bytes or by its subject CN; the TLS layer has already checked that it chains to the
configured client CA (a certificate that does not never reaches these functions).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pipeline.settings import AgencyCredential

API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Agency:
    id: str
    kind: str
    may_send: frozenset[str]
    agency_ids: frozenset[str] = frozenset()  # the agencies whose PCRs it may submit; empty: only `id`

    def submits_for(self, agency_id: str) -> bool:
        return agency_id in (self.agency_ids or {self.id})

    @property
    def law_enforcement(self) -> bool:
        return self.kind == "law-enforcement"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def subject_cn(der: bytes) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return ""
    return str(names[0].value) if names else ""


class Credentials:
    def __init__(self, agencies: dict[str, AgencyCredential]) -> None:
        self.agencies = {name: Agency(name, c.kind, frozenset(c.may_send), frozenset(c.agency_ids))
                         for name, c in agencies.items()}
        self._keys: list[tuple[bytes, str]] = []
        self._certs: dict[str, str] = {}
        self._subjects: dict[str, str] = {}
        for name, c in agencies.items():
            digests = [key_digest(k.get_secret_value()) for k in c.api_keys] + [d.lower() for d in c.api_key_sha256]
            self._keys += [(bytes.fromhex(d), name) for d in digests]
            self._certs |= {f.lower().replace(":", ""): name for f in c.cert_sha256}
            self._subjects |= {s: name for s in c.cert_subjects}

    def by_key(self, presented: str | None) -> Agency | None:
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found = None
        for stored, name in self._keys:  # no early exit: constant work whatever matches
            if hmac.compare_digest(stored, digest):
                found = name
        return self.agencies[found] if found else None

    def by_cert(self, der: bytes | None) -> Agency | None:
        if not der:
            return None
        name = self._certs.get(cert_fingerprint(der)) or self._subjects.get(subject_cn(der))
        return self.agencies[name] if name else None
