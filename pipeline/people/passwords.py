"""Password hashing with argon2id (argon2-cffi), and TOTP second factors (pyotp, RFC 6238).

The hash is a PHC string that names its own parameters, so stronger settings later still
verify older hashes (and `needs_rehash` upgrades them at the next sign-in).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12


class WeakPassword(ValueError):
    pass


@dataclass(frozen=True)
class Passwords:
    """argon2id with RFC 9106's second recommended profile by default (t=3, 64 MiB, p=4)."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024
    parallelism: int = 4
    _hasher: PasswordHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hasher", PasswordHasher(self.time_cost, self.memory_cost, self.parallelism))

    def hash(self, password: str) -> str:
        if len(password) < MIN_LENGTH:
            raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, issuer: str = "Handoff") -> str:
    """The otpauth:// URI an authenticator app reads (shown once, when the account is made)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to (this one or a neighbour, for clock drift), or None when it
    matches none or was already used (a step not after `last_step`)."""
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    now_step = totp.timecode(at)
    for offset in (0, -1, 1):
        step = now_step + offset
        if hmac.compare_digest(totp.generate_otp(step), code) and (last_step is None or step > last_step):
            return step
    return None
