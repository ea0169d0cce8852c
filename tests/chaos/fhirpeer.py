"""The HAPI FHIR server as one of the campaign's peers (CHAOS_FHIR=1): what it holds, read from the
server itself, and its provider answering on the referrals' Tasks.

- What it holds: each message Handoff's `$process-message` left carries a Provenance under an id
  derived from the message id (`uuid_of(message_id, "provenance")`), its target the referral's Task
  (`resource_uuid(referral, "task")`) and its activity the action (CREATE, UPDATE, CANCEL); the server
  keeps one per message (a repeated MessageHeader id is processed once: FHIR messaging's own
  de-duplication). `messages` turns them into the checker's `delivered` rows, naming each message by
  the outbox's message id (a Provenance no decision names keeps its own id: without a permit).
- The provider: its system sets the Task's status as it works the referral (accepted; in-progress and
  completed for a third; rejected for one in seven: the campaign's `providers.plan`), one step at a time,
  the next once Handoff's state shows the last (its task poll reads the Task back); each Task write the
  server took is an answer (`replies.jsonl`, channel "fhir").
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx

from connectors.fhir_rest import FhirRestConnector
from pipeline.render.ids import resource_uuid, uuid_of
from pipeline.storage import open_store
from tests.chaos.providers import FINAL, STATE, STUCK, plan

ACTIONS = {"CREATE": "create", "UPDATE": "update", "CANCEL": "cancel"}
SEARCH = 100_000  # resources a search asks for at once
TASK = {"accept": "accepted", "decline": "rejected", "contact": "in-progress", "complete": "completed"}


def _uuid(reference: str) -> str:
    return reference.rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def messages(recipient_id: str, provenances: list[dict], message_ids: dict[str, str], referrals: dict[str, str]
             ) -> list[dict]:
    """The checker's rows for what the server holds; `message_ids`: Provenance id -> message id,
    `referrals`: Task id -> referral id (both from the outbox)."""
    out = []
    for p in provenances:
        task = next((_uuid(t.get("reference", "")) for t in p.get("target", [])), "")
        activity = next((c.get("code", "") for c in p.get("activity", {}).get("coding", [])), "")
        updated = p.get("meta", {}).get("lastUpdated", "")
        out.append({"recipient_id": recipient_id, "referral_id": referrals.get(task, task),
                    "message_id": message_ids.get(p["id"], p["id"]), "action": ACTIONS.get(activity, "?"),
                    "at": _epoch(updated)})
    return out


def index(outbox) -> tuple[dict[str, str], dict[str, str]]:
    """(Provenance id -> message id, Task id -> referral id) for the outbox's deliveries."""
    return ({uuid_of(d.message_id, "provenance"): d.message_id for d in outbox},
            {resource_uuid(d.referral_id, "task"): d.referral_id for d in outbox})


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


class FhirPeer:
    """A client of the campaign's FHIR server (the SMART client the workers use: the test's stand-in for
    the provider's own system on its own server)."""

    def __init__(self, settings, base: str, recipient_id: str) -> None:
        self.settings, self.base, self.recipient_id = settings, base.rstrip("/"), recipient_id

    async def __aenter__(self) -> "FhirPeer":
        self.connector = FhirRestConnector(self.settings)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.connector.aclose()

    async def _get(self, url: str, **params) -> dict:
        headers = await self.connector.auth.header(self.connector.http)
        response = await self.connector.http.get(url, params=params or None, headers=headers)
        response.raise_for_status()
        return response.json()

    async def search(self, kind: str) -> list[dict]:
        """Every resource of this type the server holds (each page of the search; the test server has no
        paging, so it answers all at once: a full page of the size asked is refused, not taken as all)."""
        out, url, params = [], f"{self.base}/{kind}", {"_count": SEARCH}
        while url:
            bundle = await self._get(url, **params)
            page = [e["resource"] for e in bundle.get("entry", [])]
            out += page
            url, params = next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), ""), {}
            assert url or len(page) < SEARCH, f"{kind}: a full page of {SEARCH} and no next link"
        return out

    async def tasks(self) -> dict[str, dict]:
        """The referrals' Tasks the server holds, by referral id (the Task's placer identifier)."""
        return {next((i["value"] for i in task.get("identifier", []) if i.get("system") == "urn:handoff:referral"), ""):
                task for task in await self.search("Task")}

    async def put_task(self, task: dict) -> int:
        headers = await self.connector.auth.header(self.connector.http)
        response = await self.connector.http.put(f"{self.base}/Task/{task['id']}", json=task,
                                                 headers={**headers, "content-type": "application/fhir+json"})
        return response.status_code


class FhirStaff:
    """The FHIR recipient's provider: answers on the Tasks of the referrals the server holds."""

    def __init__(self, peer: FhirPeer, db_url: str) -> None:
        self.peer, self.db_url = peer, db_url
        self.replies: list[dict] = []
        self.answers: dict[str, list[str]] = {}
        self.closed: dict[str, str] = {}
        self.last_at: dict[str, float] = {}
        self.seen_at: dict[str, float] = {}  # referral id -> when its Task was first seen unanswerable
        self.errors: dict[str, int] = {}

    def _states(self) -> dict[str, str]:
        store = open_store(self.db_url)
        try:
            with store.transaction() as tx:
                return {row["referral_id"]: row["state"] for row in tx.fetchall(
                    "SELECT referral_id, state FROM referral_state WHERE recipient_id = :r", {"r": self.peer.recipient_id})}
        except Exception:  # noqa: BLE001 (the table is not there before the first worker migrated; the disk full)
            return {}
        finally:
            store.close()

    async def round(self) -> int:
        """One pass over the referrals' Tasks the server holds; how many answers it took."""
        try:
            tasks = await self.peer.tasks()
        except (httpx.HTTPError, KeyError, ValueError) as e:
            self.errors[f"list {type(e).__name__}"] = self.errors.get(f"list {type(e).__name__}", 0) + 1
            return 0
        states, taken = await asyncio.to_thread(self._states), 0
        for rid, task in sorted(tasks.items()):
            done, state = self.answers.get(rid, []), states.get(rid, "")
            todo = plan(rid)[len(done):]
            if not todo or rid in self.closed:
                continue
            if state in FINAL:
                self.closed[rid] = state
                continue
            if done and state != STATE[done[-1]]:  # Handoff has not read the last answer yet
                if time.time() - self.last_at[rid] > STUCK:
                    self.closed[rid] = f"{state or 'no state'} {STUCK:.0f} s after the answer was taken"
                continue
            if not done and state != "requested":  # not sent yet as Handoff sees it (or in a state no answer fits)
                if time.time() - self.seen_at.setdefault(rid, time.time()) > 2 * STUCK:
                    self.closed[rid] = f"{state or 'no state'} {2 * STUCK:.0f} s after its Task was seen"
                continue
            if task.get("status") == TASK[todo[0]]:  # written before, its response lost: the server holds it
                code = 200
            else:
                try:
                    code = await self.peer.put_task({**task, "status": TASK[todo[0]]})
                except httpx.HTTPError as e:
                    self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                    continue
            if code not in (200, 201):
                self.errors[f"task {code}"] = self.errors.get(f"task {code}", 0) + 1
                continue
            self.answers.setdefault(rid, []).append(todo[0])
            self.last_at[rid] = time.time()
            self.replies.append({"referral_id": rid, "recipient_id": self.peer.recipient_id, "action": todo[0],
                                 "state": STATE[todo[0]], "channel": "fhir", "at": time.time()})
            taken += 1
        return taken

    def pending(self, held: set[tuple[str, str]]) -> int:
        return sum(1 for rid, org in held if org == self.peer.recipient_id and rid not in self.closed
                   and len(self.answers.get(rid, [])) < len(plan(rid)))
