"""Direct: the rendered MIME message, signed (S/MIME, SHA-256, the programme's certificate) and
then encrypted (AES-256-CBC) to the recipient's certificate, sent over SMTP to its HISP.

The outer headers (From, To, Date, Message-ID, Subject) carry no person data (render/direct.py);
the Message-ID derives from the message id, so a resend after a crash is the same message and a
HISP that has it drops the repeat.

    250 after DATA                          delivered
    4xx, no connection                      Transient
    5xx, no certificate for the address     Permanent
    DATA sent, then no answer               Ambiguous (the resend has the same Message-ID)
"""
from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from pipeline import records as r
from pipeline.deliver import Ambiguous, Receipt
from pipeline.errors import Permanent, Transient

OUTER = ("from", "to", "date", "message-id", "subject")


def _split(message: bytes) -> tuple[list[bytes], bytes]:
    """(outer header lines, the MIME entity: its Content-* headers and body)."""
    head, _, body = message.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines: list[bytes] = []
    for line in head.split(b"\n"):  # unfold continuation lines into their header
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\n" + line
        else:
            lines.append(line)
    outer = [h for h in lines if h.split(b":", 1)[0].strip().lower().decode() in OUTER]
    inner = [h for h in lines if h.lower().startswith(b"content-")]
    return outer, b"\n".join(inner) + b"\n\n" + body


def protect(message: bytes, signer_cert: x509.Certificate, signer_key, recipient_cert: x509.Certificate,
            message_id: str | None = None) -> bytes:
    """Sign, then encrypt the message's MIME entity; keep its outer headers. CRLF line ends."""
    outer, entity = _split(message)
    if message_id is not None:
        outer = [h for h in outer if not h.lower().startswith(b"message-id:")] + [f"Message-ID: <{message_id}>".encode()]
    signed = (pkcs7.PKCS7SignatureBuilder().set_data(entity.replace(b"\n", b"\r\n"))
              .add_signer(signer_cert, signer_key, hashes.SHA256())
              .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
    enveloped = (pkcs7.PKCS7EnvelopeBuilder().set_data(signed).add_recipient(recipient_cert)
                 .set_content_encryption_algorithm(algorithms.AES256).encrypt(serialization.Encoding.SMIME, []))
    whole = b"\n".join(outer) + b"\n" + enveloped.replace(b"\r\n", b"\n")
    return whole.replace(b"\n", b"\r\n")


class DirectConnector:
    name = "direct"

    def __init__(self, settings, idempotent: bool = True) -> None:
        self.settings = settings  # pipeline.settings.DirectDelivery
        self.idempotent = idempotent
        self._signer = None

    def signer(self):
        if self._signer is None:
            s = self.settings
            if s.signing_cert is None or s.signing_key is None:
                raise Permanent("Direct needs delivery.direct.signing_cert and signing_key", dependency="peer")
            self._signer = (x509.load_pem_x509_certificate(Path(s.signing_cert).read_bytes()),
                            serialization.load_pem_private_key(Path(s.signing_key).read_bytes(), None))
        return self._signer

    def recipient_cert(self, address: str) -> x509.Certificate:
        path = self.settings.recipient_certs.get(address)
        if path is None:
            raise Permanent(f"no encryption certificate for the Direct address {address[:100]!r}", dependency="peer")
        return x509.load_pem_x509_certificate(Path(path).read_bytes())

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        to = delivery.endpoint.address
        cert, key = self.signer()
        fresh = None if self.idempotent else f"{uuid.uuid4().hex}@handoff"
        data = protect(delivery.payload, cert, key, self.recipient_cert(to), fresh)
        reply = await asyncio.to_thread(self._send, to, data)
        return Receipt(delivered=True, duplicate=False, detail=reply)

    def _send(self, to: str, data: bytes) -> str:
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout)
        except (OSError, smtplib.SMTPException) as e:
            raise Transient(f"SMTP {s.smtp_host}:{s.smtp_port} not reached: {type(e).__name__}", dependency="peer") from None
        try:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            refused = smtp.sendmail(s.sender, [to], data)
            if refused:
                raise Permanent(f"recipient refused: {refused}", dependency="peer")
            return "250"
        except smtplib.SMTPResponseException as e:
            text = e.smtp_error.decode(errors="replace")[:200] if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
            if 400 <= e.smtp_code < 500:
                raise Transient(f"SMTP {e.smtp_code}: {text}", dependency="peer") from None
            raise Permanent(f"SMTP {e.smtp_code}: {text}", dependency="peer") from None
        except smtplib.SMTPRecipientsRefused as e:
            raise Permanent(f"SMTP recipient refused: {list(e.recipients.values())[:1]}", dependency="peer") from None
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            raise Ambiguous(f"SMTP connection lost during the send: {type(e).__name__}", dependency="peer") from None
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    async def aclose(self) -> None:
        return None
