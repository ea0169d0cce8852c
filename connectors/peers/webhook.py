"""A webhook receiver on loopback: what a co-responder team's dispatch console would run. It
checks each request's HMAC signature and timestamp with the team's key (connectors.webhook
`verify`), answers 401 to one that does not verify, and keeps what it accepted (message id, body,
time of arrival). The demo (`handoff run`) points the sample co-responder's alert endpoint at it;
the tests and the bench use it as the real peer.

    peer = WebhookPeer(key, tls=context).start()      # peer.address: https://127.0.0.1:<port>/alerts
    peer.fail_next(2, 503)                             # the next two requests answer 503 (a fault)
    peer.stop()
"""
from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connectors.webhook import MESSAGE_ID, SIGNATURE, TIMESTAMP, verify


@dataclass(frozen=True)
class Received:
    message_id: str
    body: bytes
    at: float  # time.time() when it arrived


class WebhookPeer:
    def __init__(self, key: str, tls: ssl.SSLContext | None = None, status: int = 200, path: str = "/alerts") -> None:
        self.key, self.tls, self.status, self.path = key.encode(), tls, status, path
        self.accepted: list[Received] = []
        self.refused = 0
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._faults += [status] * count

    def start(self) -> "WebhookPeer":
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: a dispatch console takes many alerts on one connection

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(peer.answer(self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook-peer").start()
        return self

    def answer(self, headers, body: bytes) -> int:
        """The status for one request: 401 unless it verifies, then a queued fault or `status`."""
        now = time.time()
        with self._lock:
            if not verify(self.key, headers.get(TIMESTAMP, ""), headers.get(SIGNATURE, ""), body, now):
                self.refused += 1
                return 401
            if self._faults:
                return self._faults.pop(0)
            self.accepted.append(Received(headers.get(MESSAGE_ID, ""), body, now))
            return self.status

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
