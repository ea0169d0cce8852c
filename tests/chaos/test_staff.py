"""The inbox staff's walk through their paged list (tests/chaos/providers.py): pure, a list served from memory."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from tests.chaos.providers import InboxStaff

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)


class Inbox:
    """GET /api/v1/referrals as the service pages it: referrals by their newest message, 100 a page."""

    def __init__(self) -> None:
        self.items: dict[str, datetime] = {}
        self.pages = 0

    def add(self, rid: str, seconds: float) -> None:
        self.items[rid] = T0 + timedelta(seconds=seconds)

    async def get(self, path, params=None, headers=None):
        self.pages += 1
        page = int((params or {}).get("page", 1))
        ordered = sorted(self.items.items(), key=lambda x: (x[1], x[0]), reverse=True)
        shown = ordered[(page - 1) * 100:page * 100]
        body = {"referrals": [{"referral_id": rid, "received_at": at.isoformat()} for rid, at in shown],
                "next_page": page + 1 if len(ordered) > page * 100 else None}
        return SimpleNamespace(status_code=200, json=lambda: body)


def test_a_message_committed_after_a_later_one_is_still_found(tmp_path):
    staff, inbox = InboxStaff(tmp_path, {}, ["org-a"]), Inbox()
    for i in range(50):
        inbox.add(f"old-{i:03d}", i)
    for i in range(49):  # between the late one and the newest the walk sees
        inbox.add(f"mid-{i:03d}", 50.1 + i * 0.2)
    inbox.add("newer", 60)
    assert len(asyncio.run(staff._list(inbox, "org-a", {}))) == 100  # the first walk: every page
    inbox.add("late", 50)  # dated before "newer" (a slow batch), committed after the walk
    for i in range(250):  # a burst: 300 referrals sort above the late one (on page 4; page 3 ends below the mark)
        inbox.add(f"new-{i:03d}", 100 + i)
    seen = asyncio.run(staff._list(inbox, "org-a", {}))
    assert "late" in seen and {f"new-{i:03d}" for i in range(250)} <= set(seen)


def test_a_quiet_round_reads_one_page_and_every_page_now_and_then(tmp_path):
    staff, inbox = InboxStaff(tmp_path, {}, ["org-a"]), Inbox()
    for i in range(450):
        inbox.add(f"r-{i:03d}", i)
    asyncio.run(staff._list(inbox, "org-a", {}))
    assert inbox.pages == 5
    inbox.pages = 0
    inbox.add("r-new", 1000)
    assert "r-new" in asyncio.run(staff._list(inbox, "org-a", {})) and inbox.pages == 1
    staff.walked["org-a"] -= 3600  # a minute and more since the last full walk
    inbox.pages = 0
    assert len(asyncio.run(staff._list(inbox, "org-a", {}))) == 451 and inbox.pages == 5
