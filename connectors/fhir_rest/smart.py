"""SMART Backend Services: a client-credentials grant with a signed JWT assertion.

The assertion is signed RS384 (an RSA key) or ES384 (an EC P-384 key), `iss` = `sub` = the
client id, `aud` = the token URL, a fresh `jti`, and `exp` four minutes ahead (at most five).
The access token is kept until shortly before its `expires_in` runs out, then a new one is
asked for; a 401 from the server drops it at once.
"""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pipeline.errors import Permanent, Transient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LIFETIME = 240  # seconds: the assertion's exp (SMART allows at most 300)
EARLY = 30  # seconds before a token's expiry that a new one is fetched


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(key, client_id: str, token_url: str, key_id: str = "", now: float | None = None) -> str:
    """A signed client assertion (a compact JWS) for one token request."""
    now = time.time() if now is None else now
    if isinstance(key, rsa.RSAPrivateKey):
        alg = "RS384"
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        alg = "ES384"
    else:
        raise Permanent("the SMART signing key must be RSA (RS384) or EC P-384 (ES384)", dependency="peer")
    header = {"alg": alg, "typ": "JWT", **({"kid": key_id} if key_id else {})}
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "jti": uuid.uuid4().hex,
              "iat": int(now), "exp": int(now) + LIFETIME}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}".encode()
    if alg == "RS384":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA384())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return f"{signing_input.decode()}.{_b64(signature)}"


class SmartAuth:
    """Bearer tokens for one client at one token endpoint, cached and refreshed."""

    def __init__(self, client_id: str, token_url: str, private_key: Path, key_id: str = "", scope: str = "") -> None:
        self.client_id, self.token_url, self.key_id, self.scope = client_id, token_url, key_id, scope
        self.key = serialization.load_pem_private_key(Path(private_key).read_bytes(), None)
        self.token: str = ""
        self.expires = 0.0
        self.fetched = 0  # how many tokens were asked for (tests and metrics read it)
        self._lock = asyncio.Lock()

    async def header(self, http: httpx.AsyncClient) -> dict[str, str]:
        async with self._lock:
            if not self.token or time.monotonic() >= self.expires - EARLY:
                await self._fetch(http)
            return {"Authorization": f"Bearer {self.token}"}

    def invalidate(self) -> None:
        self.token = ""

    async def _fetch(self, http: httpx.AsyncClient) -> None:
        form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(self.key, self.client_id, self.token_url, self.key_id),
                **({"scope": self.scope} if self.scope else {})}
        try:
            response = await http.post(self.token_url, data=form)
        except httpx.HTTPError as e:
            raise Transient(f"token endpoint not reached: {type(e).__name__}", dependency="peer") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise Transient(f"token endpoint answered {response.status_code}", dependency="peer")
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or "access_token" not in body:
            raise Permanent(f"token refused ({response.status_code}): {str(body.get('error_description', ''))[:200]}", dependency="peer")
        self.token = body["access_token"]
        self.expires = time.monotonic() + float(body.get("expires_in", 300))
        self.fetched += 1
