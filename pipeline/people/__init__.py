"""People: local accounts, roles, password and TOTP checks, lockout, server-side sessions.

Pure logic over the Store; the web service (connectors/web) and the command line
(`handoff users`, and `--user` on commands that print person-level data) use it.
"""
from pipeline.people.access import AccessDenied, cli_account
from pipeline.people.accounts import (Account, AccountError, Accounts, Lockout, SignInRefused, load_account)
from pipeline.people.passwords import Passwords, WeakPassword, totp_uri
from pipeline.people.roles import Permission, Role, allowed, holders, parse_roles
from pipeline.people.sessions import Session, Sessions

__all__ = ["AccessDenied", "Account", "AccountError", "Accounts", "Lockout", "Passwords", "Permission", "Role",
           "Session", "Sessions", "SignInRefused", "WeakPassword", "allowed", "cli_account", "holders",
           "load_account", "parse_roles", "totp_uri"]
