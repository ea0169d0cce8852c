"""The web service when the database is locked by a long write (a worker's batch, a backup): the
fault campaign's staff got HTTP 500 for it (146 times in its largest run); it is a 503 with
Retry-After now, and the next try succeeds."""
from __future__ import annotations

import sqlite3

from tests.e2e.conftest import PASSWORD


def test_a_locked_database_answers_503_with_retry_after_and_the_retry_succeeds(site):
    done = site.handoff("users", "add", "prov-busy", "--role", "provider", "--organisation", "org-a",
                        "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
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
