"""Handoff's own inbox: a provider without an interface of its own reads referrals here.

The connector stores exactly the delivered bytes, once per delivery id (a resend after
a crash changes nothing). The provider-facing pages come with the operations issue.
"""
from __future__ import annotations

import asyncio

from pipeline import records as r
from pipeline.deliver import Receipt
from pipeline.storage import Store


class InboxConnector:
    name = "inbox"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def deliver(self, delivery: r.Delivery) -> Receipt:
        return await asyncio.to_thread(self._insert, delivery)

    def _insert(self, delivery: r.Delivery) -> Receipt:
        with self.store.transaction() as tx:
            inserted = tx.execute(
                "INSERT INTO inbox_item (delivery_id, recipient_id, referral_id, message_id, content_type, payload,"
                " received_at) VALUES (:delivery_id, :recipient_id, :referral_id, :message_id, :content_type,"
                " :payload, :received_at) ON CONFLICT (delivery_id) DO NOTHING",
                {"delivery_id": delivery.delivery_id, "recipient_id": delivery.recipient_id,
                 "referral_id": delivery.referral_id, "message_id": delivery.message_id,
                 "content_type": delivery.content_type, "payload": delivery.payload,
                 "received_at": delivery.envelope.ingested_at.isoformat()})
        return Receipt(delivered=True, duplicate=inserted == 0)

    async def aclose(self) -> None:
        return None
