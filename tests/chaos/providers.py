"""The campaign's providers answer, as people at the recipients do: through the real reply edges.

- The inbox organisations' staff use `handoff serve web` (a subprocess on the campaign's broker and
  database, TLS on 127.0.0.1), signed in through its JSON API with accounts made by
  `handoff users add`: they list their referrals, open each new one (a person-level view: the
  service must have audited it before it answered) and answer it: accept, then for some
  "contact made" and "completed", and decline a few (a reason given; track re-routes those).
- The MLLP recipients answer with an RRI^I12 (RF1-1 "A": accepted) over TLS to the replies
  listener (connectors/edge/replies.py), with their own client certificate.

Every answer the service took (HTTP 202, MLLP AA) is written to `replies.jsonl` and every
referral page served (HTTP 200) to `views.jsonl`, for the checker: a referral a provider
answered must end in the state of its last answer, and every view must have its audit record.
Faults hit these too (the broker away, the disk full): an answer or a view not taken is tried
again on the next round, as a person would.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.edge.certs import issue, make_ca
from connectors.edge.tls import client_context

HANDOFF = str(Path(sys.executable).parent / "handoff")
PASSWORD = "a long chaos test password 28"
STUCK = 60.0  # an answer taken but not shown this long after: lost (the checker says so); the staff stop waiting


WALK = 60.0  # the staff read every page of their list this often (a message committed late sorts below newer ones)
LATE = 30.0  # seconds a message may be committed after a later-dated one (a slow batch): the mark is moved back


def _earlier(stamp: str, seconds: float) -> str:
    """An ISO time `seconds` earlier (the list's received_at), in the same form."""
    from datetime import datetime, timedelta

    try:
        return (datetime.fromisoformat(stamp) - timedelta(seconds=seconds)).isoformat()
    except ValueError:
        return ""


def plan(referral_id: str) -> list[str]:
    """What the provider answers to a referral (fixed by its id): mostly accept; a third are also
    reached and completed; one in seven declined."""
    n = int(hashlib.sha256(referral_id.encode()).hexdigest()[:8], 16)
    if n % 7 == 0:
        return ["decline"]
    return ["accept", "contact", "complete"] if n % 3 == 0 else ["accept"]


STATE = {"accept": "accepted", "decline": "rejected", "contact": "in-progress", "complete": "completed"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InboxStaff:
    """`handoff serve web` and one provider account per inbox organisation."""

    def __init__(self, directory: Path, env: dict, organisations: list[str]) -> None:
        self.dir, self.organisations = directory, organisations
        ca = make_ca(directory / "web-ca")
        server = issue(ca, directory / "web-server", "localhost", server=True)
        self.ca = ca.cert
        self.port = _free_port()
        self.env = {**env, "HANDOFF_WEB__PORT": str(self.port), "HANDOFF_WEB__TLS_CERT": str(server.cert),
                    "HANDOFF_WEB__TLS_KEY": str(server.key), "HANDOFF_USER": ""}
        self.base = f"https://127.0.0.1:{self.port}"
        self.replies: list[dict] = []
        self.views: list[dict] = []
        self.answers: dict[str, list[str]] = {}  # referral id -> answers the service took, in order
        self.errors: dict[str, int] = {}
        self.closed: dict[str, str] = {}  # referrals closed before the planned answers (e.g. cancelled)
        self.owner: dict[str, str] = {}  # referral id -> the organisation whose inbox holds it
        self.tokens: dict[str, str] = {}
        self.waiting: dict[str, float] = {}  # referral id -> since when its next answer is not offered
        self.last_at: dict[str, float] = {}  # referral id -> when the service took its last answer
        self.newest: dict[str, str] = {}  # organisation -> the newest message its list showed last round, less LATE
        self.walked: dict[str, float] = {}  # organisation -> when the staff last read every page of its list
        self.proc: subprocess.Popen | None = None

    def user(self, org: str) -> str:
        return f"staff-{org}"

    async def start(self, timeout: float = 300.0) -> None:
        for org in self.organisations:
            done = await asyncio.to_thread(
                subprocess.run, [HANDOFF, "users", "add", self.user(org), "--role", "provider", "--organisation", org,
                                 "--password-stdin"], input=PASSWORD + "\n", env=self.env, capture_output=True,
                text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        self.log = self.dir / "web.log"
        self.proc = subprocess.Popen([HANDOFF, "serve", "web"], env=self.env, stdout=open(self.log, "w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        async with self._client() as http:
            while True:
                assert self.proc.poll() is None, self.log.read_text()
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"handoff serve web did not answer:\n{self.log.read_text()}"
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, verify=client_context(self.ca), timeout=20)

    def _count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def round(self) -> int:
        """One pass over every organisation's inbox; how many answers were taken."""
        taken = 0
        async with self._client() as http:
            for org in self.organisations:
                try:
                    taken += await self._organisation(http, org)
                except (httpx.HTTPError, KeyError, ValueError) as e:  # the service or its broker away: next round
                    self._count(type(e).__name__)
        return taken

    async def _organisation(self, http: httpx.AsyncClient, org: str) -> int:
        user = self.user(org)
        if org not in self.tokens:  # signed in once, again when the session is refused
            signed = await http.post("/api/v1/session", json={"username": user, "password": PASSWORD})
            if signed.status_code != 200:
                self._count(f"session {signed.status_code}")
                return 0
            self.tokens[org] = signed.json()["token"]
        auth = {"Authorization": f"Bearer {self.tokens[org]}"}
        listed_ids = await self._list(http, org, auth)
        if listed_ids is None:
            return 0
        taken = 0
        # the list shows the newest first, a page at a time: referrals seen before and not done are opened by their id
        listed = set(listed_ids)  # (seen before: also one whose view or answer failed before its first answer)
        again = [rid for rid, owner in self.owner.items() if owner == org and rid not in self.closed
                 and len(self.answers.get(rid, [])) < len(plan(rid)) and rid not in listed]
        for rid in listed_ids + again:
            self.owner[rid] = org
            todo = [a for a in plan(rid)[len(self.answers.get(rid, [])):]]
            if not todo or rid in self.closed:
                continue
            path = f"/api/v1/referrals/{rid}"
            page = await http.get(path, headers=auth)
            if page.status_code != 200:
                self._count(f"view {page.status_code}")
                continue
            self.views.append({"view_id": f"{user}:{rid}:{len(self.views)}", "user": user, "referral_id": rid,
                               "query": path, "at": time.time()})
            action, shown = todo[0], page.json()
            if action not in shown["actions"] and shown["state"] == STATE[action]:
                # the service took this answer but its response was lost (a reset, a timeout): it is in
                # the state now, so it was taken (the drain waited its whole limit for these before)
                self._taken(rid, org, action, "the answer's response was lost; the state shows it")
                continue
            if action not in shown["actions"]:  # track has not recorded the last answer yet, or it is over
                waiting = self.waiting.setdefault(rid, time.time())
                if shown["state"] in FINAL:
                    self.closed[rid] = shown["state"]
                elif time.time() - self.last_at.get(rid, waiting) > STUCK:  # the last answer never showed
                    self.closed[rid] = f"{shown['state']} {STUCK:.0f} s after the answer was taken"
                continue
            body = {"action": action, **({"reason": "no capacity this month"} if action == "decline" else {})}
            answered = await http.post(f"{path}/answer", json=body, headers=auth)
            if answered.status_code == 409:  # the machine refuses it from the state the service sees: over
                self.closed[rid] = answered.json().get("error", "refused")
            if answered.status_code != 202:
                self._count(f"answer {answered.status_code}")
                continue
            self._taken(rid, org, action)
            taken += 1
        return taken

    async def _list(self, http: httpx.AsyncClient, org: str, auth: dict) -> list[str] | None:
        """The referral ids of the inbox's list, newest first: its next pages too while they hold referrals
        that came or changed since the newest the last complete walk saw (more than a page of them between two
        rounds), every page until a first walk saw one."""
        ids, page, newest = [], 1, ""
        full = time.time() - self.walked.get(org, 0.0) > WALK  # now and then every page (a late commit missed)
        mark = "" if full else self.newest.get(org, "")
        while page:
            listed = await http.get("/api/v1/referrals", params={"page": page} if page > 1 else None, headers=auth)
            if listed.status_code == 401:
                del self.tokens[org]
            if listed.status_code != 200:  # (the mark stays: the next round walks these pages again)
                self._count(f"list {listed.status_code}")
                return ids or None
            items = listed.json()["referrals"]
            newest = newest or max((item["received_at"] or "" for item in items), default="")
            ids += [item["referral_id"] for item in items]
            more = items and (not mark or min(item["received_at"] or "" for item in items) >= mark)
            page = listed.json()["next_page"] if more else None
        if full or newest:  # the walk got every page that changed since the last mark (less a late commit's margin)
            self.newest[org] = _earlier(newest, LATE) if newest else self.newest.get(org, "")
        if full:
            self.walked[org] = time.time()
        return ids

    def _taken(self, rid: str, org: str, action: str, note: str = "") -> None:
        self.answers.setdefault(rid, []).append(action)
        self.last_at[rid] = time.time()
        self.waiting.pop(rid, None)
        self.replies.append({"referral_id": rid, "recipient_id": org, "action": action, "state": STATE[action],
                             "channel": "inbox", "at": time.time(), **({"note": note} if note else {})})

    def pending(self, held: set[tuple[str, str]]) -> int:
        """Referrals held in an inbox whose planned answers are not all taken yet."""
        return sum(1 for rid, org in held if org in self.organisations and rid not in self.closed
                   and len(self.answers.get(rid, [])) < len(plan(rid)))


RRI = {"accept": "A", "decline": "R"}  # RF1-1: A accepted, R rejected (P, pending, is no state: refused)
LAG = 5.0  # an EHR answers a few seconds after it took the message (not before Handoff saw its ACK)
FINAL = {"cancelled", "completed", "rejected", "entered-in-error", "revoked"}


class MllpStaff:
    """The MLLP recipients' EHRs: an RRI for each referral they hold, from their own certificate,
    with a control id fixed by the referral and the step (a resend repeats the event id)."""

    def __init__(self, edges, peer, organisations: list[str], received_at: dict[str, float]) -> None:
        self.edges, self.peer, self.organisations, self.received_at = edges, peer, organisations, received_at
        self.replies: list[dict] = []
        self.answers: dict[str, list[str]] = {}
        self.memo: dict = {}  # the held messages read so far (a long run's receiver holds tens of thousands)

    async def round(self) -> int:
        from tests.chaos.collect import held_messages
        taken = 0
        for m in held_messages("", self.peer, self.received_at, self.memo):
            rid, org = m["referral_id"], m["recipient_id"]
            if m["action"] != "create" or org not in self.organisations or not 0 < m["at"] < time.time() - LAG:
                continue
            if rid in self.answers:
                continue
            action = plan(rid)[0]
            control = "R" + hashlib.sha256(f"{rid}/{action}".encode()).hexdigest()[:18]
            code = await self.edges.reply(org, rid, RRI[action], control)
            if code in ("AE", "AR"):  # refused for good: not an answer the edge took (counted in the edge answers)
                self.answers[rid] = []
            if code == "AA":
                self.answers[rid] = [action]
                self.replies.append({"referral_id": rid, "recipient_id": org, "action": action, "state": STATE[action],
                                     "channel": "mllp", "at": time.time()})
                taken += 1
        return taken

    def pending(self, held: set[tuple[str, str]]) -> int:
        return sum(1 for rid, org in held if org in self.organisations and rid not in self.answers)


class Silent:
    """No answering party: a broken run's count (duplicates, permits, audit records) needs no answers,
    and starting the web service and waiting for every planned answer cost a CI run most of its time."""

    def __init__(self) -> None:
        self.replies: list[dict] = []
        self.views: list[dict] = []
        self.errors: dict[str, int] = {}

    async def round(self) -> int:
        return 0

    def pending(self, held: set[tuple[str, str]]) -> int:
        return 0


def write(dump: Path, *sources) -> None:
    """replies.jsonl and views.jsonl from every answering party."""
    (dump / "replies.jsonl").write_text("".join(json.dumps(x) + "\n" for s in sources for x in s.replies))
    (dump / "views.jsonl").write_text("".join(json.dumps(x) + "\n" for s in sources for x in getattr(s, "views", [])))
