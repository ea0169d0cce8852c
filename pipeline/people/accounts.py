"""Local accounts over the Store: add, disable, change roles, sign in with lockout.

    accounts = Accounts(store, Passwords(), Lockout(failures=5, minutes=15))
    accounts.add("prov-1", {Role.PROVIDER}, "Pat Provider", password, organisation="org-bridge-clinic")
    account = accounts.sign_in("prov-1", password, code, now)   # raises SignInRefused

A refusal never says which part was wrong. A locked account is refused without checking the
password at all, so guessing during the lock learns nothing; an unknown name costs the same
hash as a known one. The password is checked outside the database transaction (argon2 takes
tens of milliseconds); the failure count is then changed in one locked transaction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.people.passwords import Passwords, new_totp_secret, totp_step
from pipeline.people.roles import Permission, Role, allowed, parse_roles
from pipeline.storage import Store

# Roles bound to an organisation: a provider to its directory id, outreach to its team's agency, a
# responder to its agency (settings edges.agencies).
BOUND = frozenset({Role.PROVIDER, Role.OUTREACH, Role.RESPONDER})
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class AccountError(ValueError):
    """A bad account change (unknown name, bad roles): the message says what to fix."""


class SignInRefused(Exception):
    """Sign-in refused. `reason` is for the audit record and the log, never for the person."""

    def __init__(self, reason: str, locked: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked = locked


@dataclass(frozen=True)
class Lockout:
    failures: int = 5      # consecutive failures that lock the account
    minutes: float = 15.0  # how long it stays locked


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    roles: frozenset[Role]
    organisation_id: str
    disabled: bool
    has_totp: bool
    failed_count: int = 0
    locked_until: str | None = None

    def may(self, permission: Permission) -> bool:
        return not self.disabled and allowed(self.roles, permission)

    @classmethod
    def of(cls, row: dict) -> "Account":
        return cls(username=row["username"], display_name=row["display_name"], roles=parse_roles(row["roles"]),
                   organisation_id=row["organisation_id"] or "", disabled=bool(row["disabled"]),
                   has_totp=bool(row["totp_secret"]), failed_count=row["failed_count"],
                   locked_until=row["locked_until"])


def _check(roles: frozenset[Role], organisation: str) -> None:
    if not roles:
        raise AccountError("an account needs at least one role")
    if Role.PROVIDER in roles and not organisation:
        raise AccountError("a provider account is bound to one organisation: give --organisation")
    if organisation and not roles & BOUND:
        raise AccountError("only a provider, outreach or responder account is bound to an organisation")
    if Role.RESPONDER in roles and not organisation:
        raise AccountError("a responder account is bound to its agency: give --organisation")


def load_account(store: Store, username: str) -> Account | None:
    with store.transaction() as tx:
        row = tx.fetchone("SELECT * FROM person_account WHERE username = :u", {"u": username})
    return Account.of(row) if row else None


class Accounts:
    def __init__(self, store: Store, passwords: Passwords | None = None, lockout: Lockout | None = None) -> None:
        self.store = store
        self.passwords = passwords or Passwords()
        self.lockout = lockout or Lockout()
        self._dummy = ""

    def get(self, username: str) -> Account | None:
        return load_account(self.store, username)

    def list(self) -> list[Account]:
        with self.store.transaction() as tx:
            return [Account.of(row) for row in tx.fetchall("SELECT * FROM person_account ORDER BY username")]

    def add(self, username: str, roles: frozenset[Role], display_name: str, password: str, now: datetime,
            organisation: str = "", totp: bool = False) -> str | None:
        """Make an account; returns its new TOTP secret when `totp` (shown once), else None."""
        if not USERNAME.match(username):
            raise AccountError("a user name is 1-64 characters: lower-case letters, digits, . _ @ -")
        _check(roles, organisation)
        secret = new_totp_secret() if totp else None
        hashed = self.passwords.hash(password)
        with self.store.transaction(immediate=True) as tx:
            added = tx.execute(
                "INSERT INTO person_account (username, display_name, roles, organisation_id, password_hash,"
                " totp_secret, created_at, updated_at) VALUES (:u, :d, :r, :o, :h, :t, :at, :at)"
                " ON CONFLICT (username) DO NOTHING",
                {"u": username, "d": display_name or username, "r": ",".join(sorted(roles)),
                 "o": organisation or None, "h": hashed, "t": secret, "at": now.isoformat()})
        if not added:
            raise AccountError(f"an account named {username!r} exists already")
        return secret

    def set_roles(self, username: str, roles: frozenset[Role], now: datetime, organisation: str = "") -> Account:
        _check(roles, organisation)
        self._update(username, "roles = :r, organisation_id = :o, updated_at = :at",
                     {"r": ",".join(sorted(roles)), "o": organisation or None, "at": now.isoformat()})
        self.close_sessions(username, now)  # a session never keeps a role its account lost
        return self.get(username)

    def disable(self, username: str, now: datetime) -> None:
        self._update(username, "disabled = 1, updated_at = :at", {"at": now.isoformat()})
        self.close_sessions(username, now)

    def close_sessions(self, username: str, now: datetime) -> None:
        with self.store.transaction() as tx:
            tx.execute("UPDATE person_session SET closed_at = :at WHERE username = :u AND closed_at IS NULL",
                       {"u": username, "at": now.isoformat()})

    def _update(self, username: str, assignments: str, params: dict) -> None:
        with self.store.transaction(immediate=True) as tx:
            if not tx.execute(f"UPDATE person_account SET {assignments} WHERE username = :u",
                              {**params, "u": username}):
                raise AccountError(f"no account named {username!r}")

    def sign_in(self, username: str, password: str, code: str, now: datetime) -> Account:
        """The account, when the password (and the TOTP code, if it has one) is right; else SignInRefused."""
        with self.store.transaction() as tx:
            row = tx.fetchone("SELECT * FROM person_account WHERE username = :u", {"u": username})
        if row is None:
            self._dummy = self._dummy or self.passwords.hash("not-a-password-of-anyone")
            self.passwords.verify(self._dummy, password)  # the same cost as for a real account
            raise SignInRefused("unknown user")
        if row["disabled"]:
            raise SignInRefused("account disabled")
        if row["locked_until"] and datetime.fromisoformat(row["locked_until"]) > now:
            raise SignInRefused("account locked", locked=True)
        if not self.passwords.verify(row["password_hash"], password):
            return self._failed(username, "wrong password", now)
        step = None
        if row["totp_secret"]:
            step = totp_step(row["totp_secret"], code or "", now, row["totp_last_step"])
            if step is None:
                return self._failed(username, "wrong or reused second-factor code", now)
        params = {"u": username, "at": now.isoformat(), "step": step}
        extra = ""
        if self.passwords.needs_rehash(row["password_hash"]):
            extra, params["h"] = ", password_hash = :h", self.passwords.hash(password)
        with self.store.transaction(immediate=True) as tx:
            tx.execute("UPDATE person_account SET failed_count = 0, locked_until = NULL,"
                       f" totp_last_step = COALESCE(:step, totp_last_step){extra} WHERE username = :u", params)
        return Account.of({**row, "failed_count": 0, "locked_until": None})

    def _failed(self, username: str, reason: str, now: datetime) -> Account:
        with self.store.transaction(immediate=True) as tx:
            tx.execute("UPDATE person_account SET failed_count = failed_count + 1 WHERE username = :u",
                       {"u": username})
            count = tx.fetchone("SELECT failed_count FROM person_account WHERE username = :u",
                                {"u": username})["failed_count"]
            locked = count >= self.lockout.failures
            until = now + timedelta(minutes=self.lockout.minutes)
            if locked:
                tx.execute("UPDATE person_account SET failed_count = 0, locked_until = :until WHERE username = :u",
                           {"u": username, "until": until.isoformat()})
        if locked:  # raised after the commit: the lock must stick
            raise SignInRefused(f"{reason}; locked until {until.isoformat()}", locked=True)
        raise SignInRefused(reason)
