"""FHIR REST delivery: the message Bundle to `$process-message` where the server's
CapabilityStatement offers it, else a transaction whose entries PUT the referral's
deterministic ids (a conditional create races on real servers; a PUT on the same id twice
leaves one resource); an update leaves the Task, which the provider answers on, alone.
Auth: SMART Backend Services (smart.py) and/or mutual TLS.

    2xx                      delivered
    401                      the token is dropped; Transient (a fresh one next time)
    408, 429, 5xx            Transient (429/503 with the server's Retry-After)
    other 4xx                Permanent, with the OperationOutcome's diagnostics
    no connection            Transient;  sent and no answer: Ambiguous (the resend is the same PUT)
"""
from __future__ import annotations

import time

import httpx
import orjson

from connectors.fhir_rest.smart import SmartAuth
from pipeline import records as r
from pipeline.deliver import Ambiguous, Receipt
from pipeline.errors import Permanent, Transient
from pipeline.vocab import Action

FHIR_JSON = "application/fhir+json"
CAPABILITY_TTL = 300.0  # seconds a server's CapabilityStatement is trusted


def offers_process_message(capability: dict) -> bool:
    """Whether a CapabilityStatement names the system-level $process-message operation."""
    return any(op.get("name", "").lstrip("$") == "process-message" or
               op.get("definition", "").endswith("/MessageHeader-process-message")
               for rest in capability.get("rest", []) if rest.get("mode", "server") == "server"
               for op in rest.get("operation", []))


def transaction(message: dict, idempotent: bool = True, task: bool = True) -> dict:
    """The message Bundle as a transaction: each resource but the MessageHeader PUT on its own id,
    references from `urn:uuid:` to `Type/id`. Without idempotency (a test shows why not): POST.
    Without `task` (an update), the Task is left out: once the create reached the server the provider
    owns its status, and an update's PUT of it as `requested` overwrote the provider's answer."""
    skip = {"MessageHeader"} | (set() if task else {"Task"})
    entries = [e for e in message["entry"] if e["resource"]["resourceType"] not in skip]
    local = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}

    def rewrite(value):
        if isinstance(value, dict):
            return {k: (local.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v))
                    for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    out = []
    for e in entries:
        res = rewrite(e["resource"])
        kind = res["resourceType"]
        request = {"method": "PUT", "url": f"{kind}/{res['id']}"} if idempotent else {"method": "POST", "url": kind}
        out.append({"fullUrl": e["fullUrl"] if not idempotent else None, "resource": res, "request": request})
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{k: v for k, v in e.items() if v is not None} for e in out]}


class FhirRestConnector:
    name = "fhir-rest"

    def __init__(self, settings, idempotent: bool = True) -> None:
        self.settings = settings  # pipeline.settings.FhirRestDelivery
        self.idempotent = idempotent
        cert = (str(settings.client_cert), str(settings.client_key)) if settings.client_cert else None
        self.http = httpx.AsyncClient(timeout=settings.timeout, cert=cert,
                                      verify=str(settings.ca_bundle) if settings.ca_bundle else True)
        self.auth = (SmartAuth(settings.client_id, settings.token_url, settings.private_key, settings.key_id,
                               settings.scope) if settings.token_url else None)
        self._modes: dict[str, tuple[str, float]] = {}

    async def mode(self, base: str) -> str:
        """process-message or transaction for this server (its CapabilityStatement, cached)."""
        if self.settings.mode != "auto":
            return self.settings.mode
        known = self._modes.get(base)
        if known is not None and time.monotonic() - known[1] < CAPABILITY_TTL:
            return known[0]
        response = await self._call("GET", f"{base}/metadata", None)
        mode = "process-message" if offers_process_message(response.json()) else "transaction"
        self._modes[base] = (mode, time.monotonic())
        return mode

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        base = delivery.endpoint.address.rstrip("/")
        mode = await self.mode(base)
        if mode == "process-message" and self.idempotent:
            response = await self._call("POST", f"{base}/$process-message", delivery.payload)
        else:
            body = orjson.dumps(transaction(orjson.loads(delivery.payload), self.idempotent,
                                            task=delivery.action != Action.UPDATE))
            response = await self._call("POST", base, body)
        return Receipt(delivered=True, duplicate=False, detail=f"{mode} {response.status_code}")

    async def _call(self, method: str, url: str, body: bytes | None) -> httpx.Response:
        headers = {"Accept": FHIR_JSON, **({"Content-Type": FHIR_JSON} if body is not None else {})}
        if self.auth is not None:
            headers.update(await self.auth.header(self.http))
        try:
            response = await self.http.request(method, url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise Transient(f"FHIR server not reached: {type(e).__name__}", dependency="peer") from None
        except httpx.HTTPError as e:  # written, then no (whole) answer
            raise Ambiguous(f"no answer from the FHIR server: {type(e).__name__}", dependency="peer") from None
        if response.status_code == 401 and self.auth is not None:
            self.auth.invalidate()
        return classify(response)

    async def read_status(self, referral_id: str, recipient_id: str, address: str, now) -> r.ReferralStatus | None:
        """The referral's Task as the provider left it (GET Task/{id}), as a status report, or None."""
        from connectors.fhir_rest.tasks import task_status
        from pipeline.render.ids import resource_uuid

        url = f"{address.rstrip('/')}/Task/{resource_uuid(referral_id, 'task')}"
        try:
            response = await self._call("GET", url, None)
        except Permanent:  # 404 / 410: the server no longer holds it
            return None
        return task_status(response.json(), referral_id, recipient_id, now)

    async def aclose(self) -> None:
        await self.http.aclose()


def classify(response: httpx.Response) -> httpx.Response:
    status = response.status_code
    if 200 <= status < 300:
        return response
    if status in (408, 425, 429) or status >= 500:
        busy = Transient(f"FHIR server answered {status}", dependency="peer")
        busy.retry_after = _retry_after(response)  # seconds the server asked for (429, 503), or None
        raise busy
    if status == 401:
        raise Transient("FHIR server answered 401: the token is refused (a fresh one next time)", dependency="peer")
    raise Permanent(f"FHIR server answered {status}: {_diagnostics(response)}", dependency="peer")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _diagnostics(response: httpx.Response) -> str:
    try:
        outcome = response.json()
    except ValueError:
        return response.text[:200]
    issues = outcome.get("issue", []) if isinstance(outcome, dict) else []
    return "; ".join(str(i.get("diagnostics") or i.get("code", "")) for i in issues)[:300] or str(response.status_code)
