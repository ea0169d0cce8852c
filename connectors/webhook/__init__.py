"""Webhook delivery: the payload (JSON) POSTed over HTTPS to the recipient's endpoint address,
the body signed HMAC-SHA256 with a key per recipient (settings `alerts.webhook_keys`).

    X-Handoff-Timestamp: <unix seconds>
    X-Handoff-Signature: v1=<hex HMAC-SHA256(key, "<timestamp>." + body)>
    X-Handoff-Message-Id: <the delivery's message id> (the receiver drops a repeat)

A receiver checks the signature with `verify` and refuses a timestamp older than its tolerance
(a replayed request). Answers are classified through the error tree:

    2xx                      delivered
    408, 425, 429, 5xx       Transient
    other 4xx                Permanent
    no key for the recipient Permanent (a configuration fault: nothing is sent unsigned)
    no connection            Transient;  sent and no answer: Ambiguous (the resend has the same message id)
"""
from __future__ import annotations

import hashlib
import hmac
import ssl
import time

import httpx

from pipeline import records as r
from pipeline.deliver import Ambiguous, Receipt
from pipeline.errors import Permanent, Transient, for_status

TIMESTAMP = "X-Handoff-Timestamp"
SIGNATURE = "X-Handoff-Signature"
MESSAGE_ID = "X-Handoff-Message-Id"


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for this body at this time."""
    return "v1=" + hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp: str, signed: str, body: bytes, now: float, tolerance: float = 300.0) -> bool:
    """What a receiver checks: the signature over timestamp and body, and a timestamp within tolerance."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(key, sent, body), signed)


class WebhookConnector:
    name = "webhook"

    def __init__(self, settings) -> None:
        self.settings = settings  # pipeline.settings.AlertSettings
        verify_tls = ssl.create_default_context(cafile=str(settings.ca_bundle)) if settings.ca_bundle else True
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout, verify=verify_tls)

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        return await self.post(delivery.recipient_id, delivery.endpoint.address, delivery.message_id,
                               delivery.payload, delivery.content_type)

    async def alert(self, alert: r.DispatchAlert) -> Receipt:
        """A dispatch-time alert (pipeline/alerts.py); its message id changes with version and action."""
        message_id = f"{alert.alert_id}:v{alert.incident_version}:{alert.action}"
        return await self.post(alert.recipient_id, alert.endpoint.address, message_id, alert.body)

    async def post(self, recipient_id: str, address: str, message_id: str, body: bytes,
                   content_type: str = "application/json") -> Receipt:
        key = self.settings.webhook_keys.get(recipient_id)
        if key is None:
            raise Permanent(f"no webhook key for recipient {recipient_id}", dependency="peer")
        stamp = int(time.time())
        headers = {"Content-Type": content_type or "application/json", TIMESTAMP: str(stamp),
                   SIGNATURE: signature(key.get_secret_value().encode(), stamp, body), MESSAGE_ID: message_id}
        try:
            response = await self.http.post(address, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise Transient(f"webhook not reached: {type(e).__name__}", dependency="peer") from None
        except httpx.HTTPError as e:  # written, then no (whole) answer
            raise Ambiguous(f"no answer from the webhook: {type(e).__name__}", dependency="peer") from None
        if not 200 <= response.status_code < 300:
            raise for_status(response.status_code, "webhook answered")
        return Receipt(delivered=True, duplicate=response.status_code == 208, detail=f"webhook {response.status_code}")

    async def aclose(self) -> None:
        await self.http.aclose()
