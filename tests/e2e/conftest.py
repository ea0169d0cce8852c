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


class OnThread:
    """A Playwright object whose every attribute read and call runs on Playwright's own thread.

    Playwright's sync API runs an event loop on the thread that starts it and leaves it marked running
    there until it stops; on pytest's thread that breaks every later asyncio.run and every asyncio test
    in the session. So Playwright gets a dedicated thread, and the tests hold these proxies."""

    def __init__(self, pool: concurrent.futures.ThreadPoolExecutor, target):
        object.__setattr__(self, "_pool", pool)
        object.__setattr__(self, "_target", target)

    def _wrap(self, value):
        if isinstance(value, list):
            return [self._wrap(v) for v in value]
        if type(value).__module__.startswith("playwright."):
            return OnThread(self._pool, value)
        return value

    def __getattr__(self, name: str):
        value = self._pool.submit(getattr, self._target, name).result()
        if callable(value) and not isinstance(value, type):
            return lambda *a, **kw: self._wrap(self._pool.submit(value, *a, **kw).result())
        return self._wrap(value)


@pytest.fixture(scope="session")
def browser(kafka):
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is absent (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="playwright") as pool:
        p = pool.submit(lambda: sync_playwright().start()).result()
        b = pool.submit(p.chromium.launch, executable_path=str(CHROMIUM), args=FLAGS, headless=True).result()
        try:
            yield OnThread(pool, b)
        finally:
            pool.submit(b.close).result()
            pool.submit(p.stop).result()


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
        return httpx.Client(base_url=self.base, verify=client_context(self.ca), **{"timeout": 15, **kw})

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
    asyncio.run(create_topics(kafka.bootstrap, catalogue))
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
