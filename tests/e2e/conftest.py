"""Browser tests: `handoff serve web` as a person runs it (a subprocess, TLS on 127.0.0.1, the real
broker, SQLite), driven by Playwright launching Debian's /usr/bin/chromium (never a downloaded browser).

Without the binary the tests skip with the reason, except under CI=true, where they fail:
.ci/run installs it (apt-get install chromium). axe-core comes from npm via scripts/axe.sh.
Screenshots go to tests/e2e/screenshots/ (ignored by git).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.edge.certs import issue, make_ca
from connectors.edge.tls import client_context

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).resolve().parent / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "a long test password 42"
HANDOFF = str(Path(sys.executable).parent / "handoff")


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {what}: .ci/run must install it", pytrace=False)
    pytest.skip(f"browser test skipped: {what}")


def in_thread(coro):
    """Run a coroutine on its own loop in a worker thread (Playwright's sync API owns this thread's)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def browser(kafka):  # the broker first: Playwright's sync API keeps an event loop on this thread
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        subprocess.run([str(ROOT / "scripts" / "axe.sh")], check=False, timeout=300)
    if not AXE.exists():
        _missing(f"{AXE} is absent (scripts/axe.sh installs axe-core from npm)")
    return AXE.read_text()


@dataclass
class Site:
    base: str
    env: dict
    url: str
    catalogue: object
    bootstrap: str
    ca: Path
    process: subprocess.Popen

    def http(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.base, verify=client_context(self.ca), timeout=15, **kw)

    def handoff(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([HANDOFF, *args], input=stdin, env=self.env, capture_output=True, text=True,
                              timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(kafka, tmp_path_factory, request):
    from pipeline.topics import Catalogue, create_topics

    tmp = tmp_path_factory.mktemp("web")
    catalogue = Catalogue(prefix=f"w{uuid.uuid4().hex[:10]}", partitions=1)
    in_thread(create_topics(kafka.bootstrap, catalogue))
    ca = make_ca(tmp / "ca")
    server = issue(ca, tmp / "server", "localhost", server=True)
    port = _free_port()
    url = f"sqlite:///{tmp}/handoff.db"
    env = {**os.environ, "HANDOFF_ENVIRONMENT": "test", "HANDOFF_STORAGE__URL": url,
           "HANDOFF_KAFKA__BOOTSTRAP": kafka.bootstrap, "HANDOFF_KAFKA__TOPIC_PREFIX": catalogue.prefix,
           "HANDOFF_WEB__PORT": str(port), "HANDOFF_WEB__TLS_CERT": str(server.cert),
           "HANDOFF_WEB__TLS_KEY": str(server.key), "HANDOFF_WEB__LOCKOUT_FAILURES": "3",
           "HANDOFF_AUDIT__CHECKPOINT_EXPORT": str(tmp / "officer" / "checkpoints.jsonl"),
           "HANDOFF_USER": "", **getattr(request.module, "SITE_ENV", {})}  # a module's own settings
    process = subprocess.Popen([HANDOFF, "serve", "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    s = Site(f"https://127.0.0.1:{port}", env, url, catalogue, kafka.bootstrap, ca.cert, process)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"handoff serve web exited {process.returncode}: {process.stderr.read()}", pytrace=False)
        try:
            with s.http() as h:
                if h.get("/signin").status_code == 200:
                    break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("handoff serve web did not answer within 60 s", pytrace=False)
        time.sleep(0.2)
    SHOTS.mkdir(exist_ok=True)
    yield s
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
