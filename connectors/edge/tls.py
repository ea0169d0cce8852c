"""TLS for the edges: a server context that asks for (but does not demand) a client certificate,
and a uvicorn HTTP protocol that hands the verified client certificate to the ASGI app.

CERT_OPTIONAL, not CERT_REQUIRED: a client without a certificate still completes the
handshake, so it gets a clear refusal (HTTP 401, MLLP AR) and is counted, instead of a
bare handshake failure. A certificate that is presented must chain to the client CA, or
the handshake fails (counted by the MLLP listener; uvicorn logs it for HTTP).

uvicorn does not put the peer certificate into the ASGI scope; `ClientCertH11Protocol`
adds it under the ASGI TLS extension (`scope["extensions"]["tls"]["client_cert_der"]`, the
DER bytes of the leaf). It relies on uvicorn's H11Protocol keeping the app in `self.app`.
"""
from __future__ import annotations

import ssl
from pathlib import Path

from uvicorn.protocols.http.h11_impl import H11Protocol


def server_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """For tests, the benchmark and senders' scripts: trust `ca`, present `cert` if given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def peer_der(ssl_object) -> bytes | None:
    if ssl_object is None:
        return None
    try:
        return ssl_object.getpeercert(binary_form=True)
    except ValueError:  # handshake not done
        return None


class ClientCertH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        der = peer_der(transport.get_extra_info("ssl_object"))
        if der:
            inner = self.app

            async def app(scope, receive, send):
                scope.setdefault("extensions", {})["tls"] = {"client_cert_der": der}
                await inner(scope, receive, send)

            self.app = app
