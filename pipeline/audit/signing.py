"""Checkpoint signatures: Ed25519.

Why Ed25519 and not HMAC: the party who checks the log (the privacy officer, an auditor,
a court) must not be able to forge it. With HMAC, whoever can verify holds the key that
signs; with Ed25519 the verifier holds only the public key, which can be printed, filed
with the exported checkpoints and published. The private key stays with the sink.

The private key is derived from `security.audit_signing_key` (any secret string; a
64-hex-digit value is used as the 32-byte seed itself), so the setting stays one SecretStr.
`audit.verify_keys` lists the public keys a verifier trusts (old ones stay after a
rotation); when it is empty the key derived from the signing key is trusted, which only
proves the records match this host's key, not that this host was honest (README).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def key_id(public_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @classmethod
    def from_secret(cls, secret: SecretStr | str) -> "Signer":
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        seed = bytes.fromhex(text) if _HEX64.match(text) else \
            hashlib.sha256(b"handoff.audit.ed25519|" + text.encode()).digest()
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public_hex(self) -> str:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    @property
    def key_id(self) -> str:
        return key_id(self.public_hex)

    def sign(self, statement: str) -> str:
        return self.private.sign(statement.encode()).hex()


@dataclass(frozen=True)
class Verifier:
    """The trusted public keys, by key id."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def of(cls, public_hexes: list[str]) -> "Verifier":
        return cls({key_id(h): Ed25519PublicKey.from_public_bytes(bytes.fromhex(h)) for h in public_hexes})

    def check(self, statement: str, signature: str, kid: str) -> str | None:
        """None when the signature is good under the named trusted key, else the reason."""
        key = self.keys.get(kid)
        if key is None:
            return f"signed with key {kid}, which is not trusted"
        try:
            key.verify(bytes.fromhex(signature), statement.encode())
        except (InvalidSignature, ValueError):
            return "bad signature"
        return None
