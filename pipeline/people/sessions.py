"""Server-side sessions: the cookie (or a script's bearer header) carries a random token; the
database keeps only its SHA-256, the account it belongs to and the session's CSRF token.

    session = sessions.open("prov-1", now)        # session.token goes into the cookie, once
    found = sessions.find(token, now)             # None: unknown, closed, idle too long or too old
    sessions.close(token, now)

A session ends after `idle` without use or `lifetime` after it opened, whichever comes first,
and whenever its account is disabled or its roles change (Accounts.close_sessions). Each find
re-reads the account, so a role removed a second ago is gone from the next request.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.people.accounts import Account
from pipeline.storage import Store

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    account: Account
    csrf_token: str
    expires_at: datetime
    token: str = ""  # only on the Session that `open` returns


class Sessions:
    def __init__(self, store: Store, idle: timedelta = timedelta(minutes=30),
                 lifetime: timedelta = timedelta(hours=12)) -> None:
        self.store, self.idle, self.lifetime = store, idle, lifetime

    def open(self, account: Account, now: datetime) -> Session:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + self.lifetime
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO person_session (token_hash, username, csrf_token, created_at, last_seen_at,"
                       " expires_at) VALUES (:h, :u, :c, :at, :at, :exp)",
                       {"h": token_hash(token), "u": account.username, "c": csrf, "at": now.isoformat(),
                        "exp": expires.isoformat()})
        return Session(account, csrf, expires, token)

    def find(self, token: str, now: datetime) -> Session | None:
        if not token:
            return None
        with self.store.transaction() as tx:
            row = tx.fetchone(
                "SELECT s.csrf_token, s.last_seen_at, s.expires_at, s.closed_at, a.* FROM person_session s"
                " JOIN person_account a ON a.username = s.username WHERE s.token_hash = :h", {"h": token_hash(token)})
            if row is None or row["closed_at"] or row["disabled"]:
                return None
            seen, expires = datetime.fromisoformat(row["last_seen_at"]), datetime.fromisoformat(row["expires_at"])
            if now >= expires or now - seen >= self.idle:
                return None
            if now - seen >= TOUCH_EVERY:
                tx.execute("UPDATE person_session SET last_seen_at = :at WHERE token_hash = :h",
                           {"h": token_hash(token), "at": now.isoformat()})
        return Session(Account.of(row), row["csrf_token"], expires)

    def close(self, token: str, now: datetime) -> None:
        with self.store.transaction() as tx:
            tx.execute("UPDATE person_session SET closed_at = :at WHERE token_hash = :h AND closed_at IS NULL",
                       {"h": token_hash(token), "at": now.isoformat()})
