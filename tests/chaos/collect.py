"""After a campaign run: read what the recipients hold (the peers themselves), what Handoff decided
(the outbox and the re-check denials), the audit sink's stored log, states and dead letters, and
write them as a dump for tests/chaos/checker.py."""
from __future__ import annotations

import json
import re
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.audit.sink import audit_codec
from pipeline.kafka.read import read_topic
from pipeline.storage import open_store
from pipeline.topics import Catalogue

DLQ = ("ems.run.dlq", "dispatch.incident.dlq", "field.referral.dlq", "referral.request.dlq", "consent.pending.dlq",
       "delivery.dlq", "referral.status.dlq", "detection.dlq", "audit.dlq")
TRIGGER = {"I12": "create", "I13": "update", "I14": "cancel"}
SUBJECT = {"New referral": "create", "Updated referral": "update", "Referral cancelled": "cancel"}


def _fields(message: bytes, segment: str) -> list[str]:
    for line in message.decode("utf-8", "replace").split("\r"):
        if line.startswith(segment + "|"):
            return line.split("|")
    return []


def _when(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


def held_message(recipient_id: str, key: str, message: bytes, received_at: dict[str, float]) -> dict:
    """One message a peer holds, read from the message itself: an MLLP receiver's (MSH-10, RF1-6, the
    trigger; MSH-6, the receiving facility, is the recipient: one receiver, several) or a Direct HISP's
    (Message-ID, the Subject's action and referral id)."""
    to = recipient_id
    if message.startswith(b"MSH|"):
        rf1, msh = _fields(message, "RF1"), _fields(message, "MSH")
        referral, message_id, action = rf1[6].split("^")[0], key, TRIGGER.get(msh[8].split("^")[1], "?")
        to = msh[5] or recipient_id
    else:
        subject = BytesHeaderParser().parsebytes(message)["Subject"] or ""
        found = re.match(r"(.*) (\S+)$", subject)
        referral, action = (found[2], SUBJECT.get(found[1], "?")) if found else (subject, "?")
        message_id = key.strip("<>").removesuffix("@handoff")
    return {"recipient_id": to, "referral_id": referral, "message_id": message_id, "action": action,
            "at": received_at.get(key, 0.0)}


def held_messages(recipient_id: str, peer, received_at: dict[str, float], memo: dict | None = None) -> list[dict]:
    """What a peer holds (`held_message` of each); `memo`, kept by the caller across calls, spares reading
    a message again (a long run's peers hold tens of thousands, read every second or two)."""
    if memo is None:
        return [held_message(recipient_id, key, message, received_at) for key, message in peer.held.items()]
    out = []
    for key, message in list(peer.held.items()):
        seen = memo.get((recipient_id, key))
        if seen is None or seen[0] is not message:
            seen = memo[(recipient_id, key)] = (message, held_message(recipient_id, key, message, {}))
        out.append({**seen[1], "at": received_at.get(key, 0.0)})
    return out


class Tail:
    """A topic read on: each `read` returns the records (decoded) added since the last one."""

    def __init__(self, bootstrap: str, topic) -> None:
        self.bootstrap, self.topic = bootstrap, topic

    async def __aenter__(self) -> "Tail":
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_topics([self.topic.full_name])
        finally:
            await admin.close()
        self.partitions = [TopicPartition(self.topic.full_name, p["partition"]) for p in described["partitions"]]
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                         auto_offset_reset="earliest")
        await self.consumer.start()
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def read(self) -> list:
        ends = await self.consumer.end_offsets(self.partitions)
        out = []
        while left := [tp for tp in self.partitions if await self.consumer.position(tp) < ends[tp]]:
            for tp, messages in (await self.consumer.getmany(*left, timeout_ms=500)).items():
                out += [self.topic.value.decode(m.value) for m in messages]  # past the end too: read once
        return out


async def collect(out: Path, bootstrap: str, catalogue: Catalogue, db_url: str, peers: dict,
                  received_at: dict[str, float], faults: list[dict], fhir=None) -> Path:
    """Write the dump; `peers`: recipient id → its peer (MLLP, SMTP); `received_at`: the peer's
    message key → when the campaign first saw it held (epoch s); `fhir`: the FHIR server's client
    (tests/chaos/fhirpeer.py), when the campaign has one."""
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {name: [] for name in ("expected", "delivered", "decisions", "audit", "status",
                                                          "deadletters", "requests")}
    delivery = catalogue["delivery"]
    outbox = [delivery.value.decode(m.value) for m in await read_topic(bootstrap, delivery.full_name)]
    for d in outbox:
        rows["decisions"].append({"referral_id": d.referral_id, "recipient_id": d.recipient_id,
                                  "message_id": d.message_id, "outcome": d.decision.outcome.value,
                                  "basis": d.decision.basis.value, "consent_id": d.decision.consent_id})
    for recipient_id, peer in peers.items():
        rows["delivered"] += held_messages(recipient_id, peer, received_at)
    if fhir is not None:
        from tests.chaos import fhirpeer

        rows["delivered"] += fhirpeer.messages(fhir.recipient_id, await fhir.search("Provenance"), *fhirpeer.index(outbox))
    store = open_store(db_url)
    try:
        with store.transaction() as tx:
            inbox = tx.fetchall("SELECT recipient_id, referral_id, message_id, received_at FROM inbox_item")
            audits = tx.fetchall("SELECT body FROM audit_record")
            states = tx.fetchall("SELECT referral_id, to_state, recorded_at, occurred_at, source, outcome, reason"
                                 " FROM referral_status_history")
            current = tx.fetchall("SELECT referral_id, state, recipient_id FROM referral_state")
            deadlines = tx.fetchall("SELECT referral_id, name, started_at, due_at, status FROM referral_deadline")
    finally:
        store.close()
    creates: set[tuple[str, str]] = set()
    for row in sorted(inbox, key=lambda x: x["received_at"] or ""):
        key = (row["referral_id"], row["recipient_id"])
        action = "update" if key in creates else "create"
        creates.add(key)
        rows["delivered"].append({"recipient_id": row["recipient_id"], "referral_id": row["referral_id"],
                                  "message_id": row["message_id"], "action": action, "at": _when(row["received_at"])})
    codec = audit_codec()
    for row in audits:
        a = codec.decode(bytes(row["body"]))
        rows["audit"].append({"audit_id": a.audit_id, "kind": a.kind.value, "outcome": a.outcome,
                              "referral_id": a.referral_id or "", "recipient_id": a.recipient_id or "",
                              "message_id": a.detail.get("message_id", ""), "actor": a.actor or "",
                              "query": a.detail.get("query", ""),
                              "sources": [e.record_id for e in a.entities] if a.kind.value == "decision" else []})
        if a.kind.value == "decision" and a.outcome == "deny" and a.detail.get("message_id"):
            rows["decisions"].append({"referral_id": a.referral_id, "recipient_id": a.recipient_id,
                                      "message_id": a.detail["message_id"], "outcome": "deny"})
    # expected: every (referral, recipient) Handoff permitted a create for, less those a re-check just before
    # the send denied (a consent revoked meanwhile). The inputs' oracle is upstream: every run fed must have been
    # detected (the campaign checks it), and tests/chaos/test_wire.py ties each run sent to its detection.
    denied = {(d["referral_id"], d["recipient_id"]) for d in rows["decisions"] if d["outcome"] == "deny"}
    rows["expected"] = [{"referral_id": r, "recipient_id": p} for r, p in
                        sorted({(d.referral_id, d.recipient_id) for d in outbox if d.action.value == "create"} - denied)]
    rows["status"] = [{"referral_id": s["referral_id"], "state": s["to_state"], "at": s["recorded_at"],
                       "occurred_at": s["occurred_at"], "source": s["source"], "outcome": s["outcome"],
                       "reason": (s["reason"] or "")[:200]} for s in states]
    rows["deadlines"] = [dict(d) for d in deadlines]
    rows["states"] = [dict(s) for s in current]
    for name in DLQ:
        topic = catalogue[name]
        for m in await read_topic(bootstrap, topic.full_name):
            letter = topic.value.decode(m.value)
            rows["deadletters"].append({"topic": name, "stage": letter.stage, "reason": letter.reason[:200]})
    requests = catalogue["referral.request"]
    rows["requests"] = [{"request_id": q.envelope.source_record_id, "revision": q.revision,
                         "sources": [s.record_id for s in q.source_records],
                         "incident": q.incident.incident_number if q.incident else ""} for q in
                        (requests.value.decode(m.value) for m in await read_topic(bootstrap, requests.full_name))]
    rows["faults"] = faults
    for name, items in rows.items():
        (out / f"{name}.jsonl").write_text("".join(json.dumps(x, default=str) + "\n" for x in items))
    return out
