"""The command line's check of `--user`: commands that print person-level data name a local
account (`--user NAME`, or HANDOFF_USER), which must exist, be enabled and hold a role that
grants the permission. The OS user is recorded beside it in the view's audit record.
"""
from __future__ import annotations

from pipeline.people.accounts import Account, load_account
from pipeline.people.roles import Permission, holders
from pipeline.storage import Store


class AccessDenied(PermissionError):
    pass


def cli_account(store: Store, username: str | None, permission: Permission) -> Account:
    if not username:
        raise AccessDenied(f"this prints person-level data: name your account with --user "
                           f"(a local account with the {' or '.join(holders(permission))} role)")
    found = load_account(store, username)
    if found is None or found.disabled:
        raise AccessDenied(f"--user {username}: no enabled local account of that name (`handoff users add`)")
    if not found.may(permission):
        raise AccessDenied(f"--user {username}: the {permission.value} view needs the "
                           f"{' or '.join(holders(permission))} role")
    return found
