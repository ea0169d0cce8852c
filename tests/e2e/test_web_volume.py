"""The web service under volume, as the fault campaign's staff found it: a database locked by a
long write (a worker's batch, a backup) gave HTTP 500 (146 times in its largest run), and an
organisation with more messages than one list showed could not reach its older referrals."""
from __future__ import annotations

import sqlite3

import pytest

from pipeline.storage import open_store
from tests.e2e.conftest import PASSWORD


@pytest.fixture(scope="module")
def provider(site) -> str:
    done = site.handoff("users", "add", "prov-busy", "--role", "provider", "--organisation", "org-a",
                        "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return "prov-busy"


def test_a_locked_database_answers_503_with_retry_after_and_the_retry_succeeds(site, provider):
    holder = sqlite3.connect(site.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held past the service's 10 s wait for it
    try:
        with site.http(timeout=30) as http:
            busy = http.post("/api/v1/session", json={"username": "prov-busy", "password": PASSWORD})
            page = http.get("/signin")  # a page that needs no write is served meanwhile
    finally:
        holder.rollback()
        holder.close()
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "5" and busy.json() == {"error": "The database is busy: try again in a few"
                                                                          " seconds."}
    assert busy.headers["content-security-policy"].startswith("default-src 'none'")  # the guard's headers too
    assert page.status_code == 200
    with site.http() as http:
        signed = http.post("/api/v1/session", json={"username": "prov-busy", "password": PASSWORD})
    assert signed.status_code in (200, 201) and signed.json()["token"]


def test_an_inbox_of_more_than_a_page_is_paged_newest_first(site, provider):
    with open_store(site.url) as store, store.transaction(immediate=True) as tx:  # 205 referrals, one twice
        for n in range(205):
            for m in range(2 if n == 7 else 1):
                tx.execute("INSERT INTO inbox_item (delivery_id, recipient_id, referral_id, message_id, content_type,"
                           " payload, received_at) VALUES (:d, 'org-a', :r, :d, 'application/fhir+json', :p, :at)",
                           {"d": f"del-{n}-{m}", "r": f"ref-page-{n:03d}", "p": b"{}",
                            "at": f"2026-11-{1 + n // 24:02d}T{n % 24:02d}:{m:02d}:00+00:00"})
    with site.http() as http:
        token = http.post("/api/v1/session", json={"username": provider, "password": PASSWORD}).json()["token"]
        auth = {"authorization": f"Bearer {token}"}
        pages = [http.get("/api/v1/referrals", params={"page": p}, headers=auth).json() for p in (1, 2, 3)]
        assert [p["next_page"] for p in pages] == [2, 3, None]
        listed = [e["referral_id"] for p in pages for e in p["referrals"]]
        assert listed == [f"ref-page-{n:03d}" for n in reversed(range(205))]  # each once, newest first
        assert [e["messages"] for p in pages for e in p["referrals"] if e["referral_id"] == "ref-page-007"] == [2]
        for bad in ("0", "x"):
            assert http.get("/api/v1/referrals", params={"page": bad}, headers=auth).status_code == 400
        html = http.get("/inbox", params={"page": 2}, headers=auth)
    assert html.status_code == 200
    assert 'href="/inbox?page=1" rel="prev"' in html.text and 'href="/inbox?page=3" rel="next"' in html.text
