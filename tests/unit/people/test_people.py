"""Accounts, sign-in, lockout, TOTP and sessions on a real database (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from pipeline.people import (AccessDenied, AccountError, Accounts, Lockout, Passwords, Permission, Role, Sessions,
                             SignInRefused, WeakPassword, allowed, cli_account, parse_roles)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
FAST = Passwords(time_cost=1, memory_cost=8 * 1024, parallelism=1)  # cheap argon2id for tests only
PW = "correct horse battery"


@pytest.fixture
def accounts(migrated) -> Accounts:
    return Accounts(migrated, FAST, Lockout(failures=3, minutes=15))


def test_roles_grant_only_what_the_design_table_allows() -> None:
    assert Role.PROVIDER in parse_roles("provider, outreach")
    with pytest.raises(ValueError, match="unknown role 'nurse'"):
        parse_roles("provider,nurse")
    for role in (Role.IT_OPERATOR, Role.PROGRAMME_LEAD):  # no person-level data at all
        assert [p for p in Permission if allowed({role}, p)] == ([Permission.OPERATIONS] if role == Role.IT_OPERATOR
                                                                else [Permission.REPORTS])  # aggregates only
    assert [p for p in Permission if allowed({Role.PROVIDER}, p)] == [Permission.INBOX]
    assert not allowed({Role.PROVIDER}, Permission.DISCLOSURES) and allowed({Role.PRIVACY_OFFICER},
                                                                            Permission.DISCLOSURES)


def test_password_is_argon2id_and_a_short_one_is_refused() -> None:
    stored = FAST.hash(PW)
    assert stored.startswith("$argon2id$") and PW not in stored
    assert FAST.verify(stored, PW) and not FAST.verify(stored, PW + "x") and not FAST.verify("junk", PW)
    with pytest.raises(WeakPassword):
        FAST.hash("short")


def test_provider_is_bound_to_one_organisation(accounts) -> None:
    with pytest.raises(AccountError, match="bound to one organisation"):
        accounts.add("prov-1", frozenset({Role.PROVIDER}), "Pat", PW, T0)
    with pytest.raises(AccountError, match="only a provider"):
        accounts.add("po-1", frozenset({Role.PRIVACY_OFFICER}), "Po", PW, T0, organisation="org-a")
    accounts.add("prov-1", frozenset({Role.PROVIDER}), "Pat", PW, T0, organisation="org-a")
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("prov-1", frozenset({Role.PROVIDER}), "Pat", PW, T0, organisation="org-b")
    assert accounts.get("prov-1").organisation_id == "org-a"


def test_lockout_after_repeated_failures_refuses_even_the_right_password(accounts) -> None:
    accounts.add("prov-1", frozenset({Role.PROVIDER}), "Pat", PW, T0, organisation="org-a")
    for n in range(2):
        with pytest.raises(SignInRefused) as refused:
            accounts.sign_in("prov-1", "wrong password!", "", T0)
        assert not refused.value.locked
    with pytest.raises(SignInRefused) as refused:
        accounts.sign_in("prov-1", "wrong password!", "", T0)
    assert refused.value.locked
    with pytest.raises(SignInRefused, match="account locked"):
        accounts.sign_in("prov-1", PW, "", T0 + timedelta(minutes=14))
    assert accounts.sign_in("prov-1", PW, "", T0 + timedelta(minutes=16)).username == "prov-1"
    assert accounts.get("prov-1").failed_count == 0


def test_unknown_and_disabled_accounts_are_refused(accounts) -> None:
    with pytest.raises(SignInRefused, match="unknown user"):
        accounts.sign_in("nobody", PW, "", T0)
    accounts.add("po-1", frozenset({Role.PRIVACY_OFFICER}), "Po", PW, T0)
    accounts.disable("po-1", T0)
    with pytest.raises(SignInRefused, match="disabled"):
        accounts.sign_in("po-1", PW, "", T0)


def test_totp_code_is_needed_and_never_accepted_twice(accounts) -> None:
    secret = accounts.add("po-1", frozenset({Role.PRIVACY_OFFICER}), "Po", PW, T0, totp=True)
    code = pyotp.TOTP(secret).at(T0)
    with pytest.raises(SignInRefused, match="second-factor"):
        accounts.sign_in("po-1", PW, "", T0)
    assert accounts.sign_in("po-1", PW, code, T0).has_totp
    with pytest.raises(SignInRefused, match="second-factor"):  # the same code again: a replay
        accounts.sign_in("po-1", PW, code, T0 + timedelta(seconds=5))
    assert accounts.sign_in("po-1", PW, pyotp.TOTP(secret).at(T0 + timedelta(seconds=30)), T0 + timedelta(seconds=31))


def test_sessions_expire_idle_and_end_when_roles_change(accounts, migrated) -> None:
    sessions = Sessions(migrated, idle=timedelta(minutes=30), lifetime=timedelta(hours=2))
    accounts.add("prov-1", frozenset({Role.PROVIDER}), "Pat", PW, T0, organisation="org-a")
    account = accounts.get("prov-1")
    opened = sessions.open(account, T0)
    assert len(opened.token) >= 40 and opened.csrf_token != opened.token
    found = sessions.find(opened.token, T0 + timedelta(minutes=20))
    assert found.account.organisation_id == "org-a" and found.csrf_token == opened.csrf_token and found.token == ""
    assert sessions.find(opened.token, T0 + timedelta(minutes=49)) is not None  # touched at 20 minutes
    assert sessions.find(opened.token, T0 + timedelta(minutes=50 + 30)) is None  # idle
    second = sessions.open(account, T0)
    assert sessions.find(second.token, T0 + timedelta(hours=2)) is None  # past its lifetime
    third = sessions.open(account, T0)
    accounts.set_roles("prov-1", frozenset({Role.OUTREACH}), T0)
    assert sessions.find(third.token, T0) is None
    assert sessions.find("made-up-token", T0) is None
    with migrated.transaction() as tx:  # only the token's hash is kept
        assert tx.fetchone("SELECT COUNT(*) AS n FROM person_session WHERE token_hash = :t",
                           {"t": third.token})["n"] == 0


def test_cli_user_must_be_an_enabled_account_with_the_role(accounts, migrated) -> None:
    accounts.add("po-1", frozenset({Role.PRIVACY_OFFICER}), "Po", PW, T0)
    accounts.add("ops-1", frozenset({Role.IT_OPERATOR}), "Ops", PW, T0)
    assert cli_account(migrated, "po-1", Permission.DISCLOSURES).username == "po-1"
    with pytest.raises(AccessDenied, match="--user"):
        cli_account(migrated, None, Permission.DISCLOSURES)
    with pytest.raises(AccessDenied, match="needs the privacy-officer role"):
        cli_account(migrated, "ops-1", Permission.DISCLOSURES)
    with pytest.raises(AccessDenied, match="no enabled local account"):
        cli_account(migrated, "ghost", Permission.DISCLOSURES)
