"""A Direct HISP stand-in: an SMTP server on loopback (aiosmtpd) that keeps each message once per
Message-ID, as a HISP drops a repeat; a script of replies (`451`, `554`) for the next messages.
`direct_certs()` makes throw-away S/MIME certificates (RSA; a CA, the programme's signing
certificate, a recipient's encryption certificate) under a directory: never committed."""
from __future__ import annotations

import datetime as dt
import re
import socket
from collections import defaultdict
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class _Handler:
    def __init__(self, peer: "SmtpPeer") -> None:
        self.peer = peer

    async def handle_DATA(self, server, session, envelope) -> str:
        data = envelope.original_content or envelope.content
        self.peer.received.append(data)
        reply = self.peer.script.pop(0) if self.peer.script else "250"
        if reply != "250":
            return {"451": "451 4.3.0 try again later", "554": "554 5.7.1 not accepted"}[reply]
        headers = BytesHeaderParser().parsebytes(data)
        self.peer.held.setdefault(headers["Message-ID"], data)
        return "250 Message accepted"


class SmtpPeer:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.held: dict[str, bytes] = {}  # Message-ID -> message
        self.script: list[str] = []
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpPeer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def referrals(self) -> dict[str, list[str]]:
        """Referral id (from the Subject) -> the Message-IDs held for it."""
        out: dict[str, list[str]] = defaultdict(list)
        for mid, data in self.held.items():
            subject = BytesHeaderParser().parsebytes(data)["Subject"] or ""
            found = re.search(r"(ref-[0-9a-f]+)", subject)
            out[found.group(1) if found else subject].append(mid)
        return dict(out)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(directory: Path, stem: str, key, cert: x509.Certificate) -> tuple[Path, Path]:
    key_path, cert_path = directory / f"{stem}.key", directory / f"{stem}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def direct_certs(directory: Path, addresses: list[str]) -> dict[str, tuple[Path, Path]]:
    """A CA and one S/MIME certificate per Direct address (emailProtection, the address as SAN):
    {"ca": (cert, key), address: (cert, key), ...}."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(65537, 2048)
    ca = (x509.CertificateBuilder().subject_name(_name("Handoff test Direct CA")).issuer_name(_name("Handoff test Direct CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    out = {"ca": _write(directory, "direct-ca", ca_key, ca)}
    for address in addresses:
        key = rsa.generate_private_key(65537, 2048)
        cert = (x509.CertificateBuilder().subject_name(_name(address)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=7))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        out[address] = _write(directory, re.sub(r"[^A-Za-z0-9.-]", "_", address), key, cert)
    return out
