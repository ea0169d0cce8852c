"""Handoff's own inbox: a provider without an interface of its own reads referrals here.

The connector stores exactly the delivered bytes, once per delivery id (a resend after
a crash changes nothing). A round of the deliver stage's batch goes in one transaction
(`deliver_many`). The provider-facing pages come with the operations issue.
"""
from __future__ import annotations

import asyncio
from typing import Sequence

from pipeline import records as r
from pipeline.deliver import Receipt
from pipeline.storage import Store

INSERT = ("INSERT INTO inbox_item (delivery_id, recipient_id, referral_id, message_id, content_type, payload,"
          " received_at) VALUES (:delivery_id, :recipient_id, :referral_id, :message_id, :content_type, :payload,"
          " :received_at) ON CONFLICT (delivery_id) DO NOTHING")


class InboxConnector:
    name = "inbox"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        return (await self.deliver_many([delivery]))[0]

    async def deliver_many(self, deliveries: Sequence[r.Delivery]) -> list[Receipt]:
        """Every delivery stored in one transaction (all or none: a failure is every one's)."""
        return await asyncio.to_thread(self._insert, deliveries)

    def _insert(self, deliveries: Sequence[r.Delivery]) -> list[Receipt]:
        with self.store.transaction() as tx:
            return [Receipt(delivered=True, duplicate=tx.execute(INSERT, {
                "delivery_id": d.delivery_id, "recipient_id": d.recipient_id, "referral_id": d.referral_id,
                "message_id": d.message_id, "content_type": d.content_type, "payload": d.payload,
                "received_at": d.envelope.ingested_at.isoformat()}) == 0) for d in deliveries]

    async def aclose(self) -> None:
        return None
