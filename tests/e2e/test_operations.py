"""The IT dashboard in a real browser (Debian's Chromium) against `handoff serve web` on a real broker:
a poison message's dead letter appears and is replayed (audited, the original bytes back on their topic);
the page carries no person data from the test set; other roles are refused; it refreshes itself."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

from aiokafka import AIOKafkaProducer

from pipeline import records as r
from tests.e2e.test_web import people, records, sign_in  # noqa: F401 - fixtures shared with the web tests
from tests.support.kafka import consume_raw

POISON = b'{"patient": {"family": "Zebulonsky", "given": "Quintessa", "birth_date": "1961-04-17"}}'


async def _poison(bootstrap: str, catalogue) -> r.DeadLetter:
    """The dead letter a stage writes for bytes that do not decode (pipeline/stage.py's shape)."""
    source = catalogue["ems.pcr"] if "ems.pcr" in {t.name for t in catalogue} else next(iter(catalogue))
    letter = r.DeadLetter(dead_letter_id="d" * 32, stage="normalize", reason="SchemaError: not Avro",
                          error_type="SchemaError", topic=source.full_name, partition=0, offset=7,
                          key=b"k-1", value=POISON, headers={}, failed_at=datetime.now(timezone.utc))
    dlq = catalogue.dead_letter_of(source.name)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(dlq.full_name, dlq.value.encode(letter), key=dlq.key.encode(
            r.DeadLetterKey(topic=letter.topic, partition=letter.partition)))
    finally:
        await producer.stop()
    return letter


def test_a_dead_letter_appears_on_the_dashboard_and_is_replayed(browser, site, people):
    seeded, _store = people
    letter = asyncio.run(_poison(site.bootstrap, site.catalogue))
    context, page = sign_in(browser, site, "ops-1")
    try:
        assert page.url == site.base + "/operations"
        html = page.content()
        assert page.locator("#dead-letters tbody tr").count() == 1
        assert "SchemaError" in page.inner_text("#dead-letters") and "normalize" in page.inner_text("#dead-letters")
        assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
        assert "broker ok" in page.inner_text("#probes") and "directory" in page.inner_text("#versions")
        for secret in ("Zebulonsky", "Quintessa", "1961-04-17", "Testperson", "1990-05-01", seeded.person):
            assert secret not in html, secret
        page.click("#dead-letters button")
        assert page.url.startswith(site.base + "/operations?replayed=1")
        assert "Replayed 1" in page.inner_text("#replayed")
    finally:
        context.close()
    replays = [a for a in records(site, "audit") if a.kind.value == "replay" and a.actor == "user:ops-1"]
    assert len(replays) == 1 and letter.dead_letter_id in json.dumps(replays[0].model_dump(mode="json"))
    topic = site.catalogue.by_full_name(letter.topic)
    again = asyncio.run(consume_raw(site.bootstrap, topic, 1, timeout=15))
    assert [m.value for m in again] == [POISON]


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
