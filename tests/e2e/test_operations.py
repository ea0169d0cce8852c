"""The IT dashboard in a real browser (Debian's Chromium) against `handoff serve web` on a real broker,
with a real `handoff worker`: a poison message's dead letter appears and is replayed (audited, the
original bytes back on their topic); the page carries no person data from the test set; the lag chart
rises while the worker is stopped and falls after; other roles are refused; it refreshes itself."""
from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

from handoff.demo import feed, sample_runs
from tests.e2e.conftest import HANDOFF, SHOTS
from tests.e2e.test_web import people, records, sign_in  # noqa: F401 - fixtures shared with the web tests
from tests.support.kafka import consume_raw, poll

POISON = b'{"patient": {"family": "Zebulonsky", "given": "Quintessa", "birth_date": "1961-04-17"}}'
GROUP = "ops-e2e"
SITE_ENV = {"HANDOFF_MONITOR__SAMPLE_SECONDS": "1", "HANDOFF_KAFKA__CONSUMER_GROUP": GROUP}
NOW = re.compile(r": now (\d+)")
CONSUMING = re.compile(r"consuming: (\d+) partition")


class Worker:
    """`handoff worker --stages classify-run` as IT runs it, logging JSON at INFO to a file."""

    def __init__(self, site, log: Path) -> None:
        env = {**site.env, "HANDOFF_METRICS__PORT": "0", "HANDOFF_LOG__FORMAT": "json", "HANDOFF_LOG__LEVEL": "INFO"}
        log.touch()
        self.proc = subprocess.Popen([HANDOFF, "worker", "--stages", "classify-run"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(log, "a"))
        before, deadline = len(log.read_text()) if log.exists() else 0, time.monotonic() + 120
        while not any(int(n) > 0 for n in CONSUMING.findall(log.read_text()[before:])):
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


async def _produce(bootstrap: str, topic, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic.full_name, value, key=key)
    finally:
        await producer.stop()


def _lag_now(page, site, topic: str) -> tuple[int, int]:
    """The ems.run row's lag chart after a page view: (its last value, its largest)."""
    page.goto(site.base + "/operations")
    chart = page.locator(f'#charts tr[data-topic="{topic}"] td:nth-child(4) svg')
    if chart.count() == 0:
        return -1, -1
    match = NOW.search(chart.get_attribute("aria-label"))
    return (int(match[1]) if match else -1), int(float(chart.get_attribute("data-max")))


def test_a_worker_dead_letters_a_poison_message_it_is_replayed_and_lag_follows_the_worker(browser, site, people,
                                                                                           tmp_path):
    """A real worker turns bytes quoting a person into a dead letter: it appears on the dashboard (no
    person data on the page) and is replayed (audited, the same bytes back on ems.run). Then the worker
    stops: the lag chart of ems.run rises to the runs fed meanwhile; it starts again: the lag falls to 0."""
    seeded, _store = people
    ems = site.catalogue["ems.run"]
    runs = sample_runs(7)
    worker = Worker(site, tmp_path / "worker.log")
    context, page = sign_in(browser, site, "ops-1")
    try:
        asyncio.run(feed(site.bootstrap, site.catalogue, runs[:1]))
        asyncio.run(_produce(site.bootstrap, ems, ems.key.encode(runs[0].key), POISON))
        assert page.url == site.base + "/operations"
        poll(what="the dead letter on the dashboard", timeout=90, check=lambda: page.goto(site.base + "/operations") and
               page.locator("#dead-letters tbody tr td:nth-child(2)").all_inner_texts() == ["classify-run"])
        assert "CodecError" in page.inner_text("#dead-letters") and ems.full_name in page.inner_text("#dead-letters")
        assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
        assert "broker ok" in page.inner_text("#probes") and "directory" in page.inner_text("#versions")
        html = page.content()
        secrets = {"Zebulonsky", "Quintessa", "1961-04-17", "Testperson", "1990-05-01", seeded.person}
        secrets |= {s for run in runs for s in (run.patient.family, run.patient.given, run.patient.birth_date.isoformat())}
        assert not [s for s in secrets if s in html]
        page.click("#dead-letters button")
        assert page.url.startswith(site.base + "/operations?replayed=1")
        assert "Replayed 1" in page.inner_text("#replayed")
        replays = [a for a in records(site, "audit") if a.kind.value == "replay" and a.actor == "user:ops-1"]
        assert len(replays) == 1
        again = asyncio.run(consume_raw(site.bootstrap, ems, 3, timeout=15))
        assert [m.value for m in again].count(POISON) == 2  # the original and its replay

        worker.stop()  # lag rises while no worker consumes ems.run
        asyncio.run(feed(site.bootstrap, site.catalogue, runs[1:]))
        now, top = poll(what="lag 6 on the chart", timeout=90, check=lambda: (x := _lag_now(page, site, ems.full_name))[0] >= 6 and x)
        assert now == 6 and top >= 6
        assert not [s for s in secrets if s in page.content()]
        worker = Worker(site, tmp_path / "worker.log")  # and falls once one does again
        now, top = poll(what="lag 0 on the chart", timeout=90, check=lambda: (x := _lag_now(page, site, ems.full_name))[0] == 0 and x)
        assert top >= 6  # the rise is still on the chart
        shot = page.locator("#charts")
        shot.screenshot(path=str(SHOTS / "operations-charts.png"))
    finally:
        context.close()
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    assert any(x.get("stage") == "classify-run" and "dead letter" in x["message"] for x in lines)
    assert not [s for s in secrets if s in log]


def test_other_roles_may_not_see_the_dashboard(browser, site, people):
    context, page = sign_in(browser, site, "prov-a")
    try:
        answer = page.goto(site.base + "/operations")
        assert answer.status == 403
    finally:
        context.close()


def test_the_web_service_answers_healthz_and_readyz_without_a_session(site):
    with site.http() as h:
        assert h.get("/healthz").text == "ok\n"
        ready = h.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.text.splitlines() == ["broker ok", "database ok", "directory ok"]
