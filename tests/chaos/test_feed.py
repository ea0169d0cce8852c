"""The campaign's feed plan and senders (tests/chaos/feed.py), and the held-message memo: pure, no broker."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from tests.chaos import feed
from tests.chaos.collect import held_messages


def _runs(n: int) -> list:
    return [SimpleNamespace(pcr_number=f"P{i}", pcr_uuid=f"U{i}" if i % 3 else "") for i in range(n)]


def test_the_plan_of_ten_run_documents_alternates_as_before():
    batches = feed.plan(_runs(45))
    assert [(b.kind, len(b.runs), list(b.chunks)) for b in batches] == [
        ("nemsis", 10, [0]), ("hl7", 10, [1]), ("nemsis", 10, [2]), ("hl7", 10, [3]), ("nemsis", 5, [4])]


@pytest.mark.parametrize("document", [10, 50, 200])
def test_every_run_once_and_half_each_way_whatever_the_document(document):
    runs = _runs(2000)  # 200 chunks: whole groups of every size here
    batches = feed.plan(runs, document)
    assert [r for b in batches for r in b.runs] == runs  # in order, each once
    assert sum(len(b.runs) for b in batches if b.kind == "nemsis") == 1000
    assert all(len(b.runs) == 10 for b in batches if b.kind == "hl7")
    assert max(len(b.runs) for b in batches if b.kind == "nemsis") == document
    assert [j for b in batches for j in b.chunks] == list(range(200))  # the chunks that time the other inputs
    ids = feed.source_ids(batches)  # NEMSIS: the UUID, else the number; HL7: the number
    assert "U1" in ids and "P0" in ids and len(ids) == 2000


async def test_senders_work_at_once_and_a_behind_schedule_does_not_sleep():
    batches, flying, most, done = feed.plan(_runs(200)), 0, 0, []

    async def send(batch):
        nonlocal flying, most
        flying += 1
        most = max(most, flying)
        await asyncio.sleep(0.05)
        flying -= 1
        done.append(batch.chunks.start)

    await asyncio.wait_for(feed.paced(batches, 0.0, 4, send), timeout=20)
    assert most == 4 and sorted(done) == list(range(20))
    done.clear()
    await asyncio.wait_for(feed.paced(batches, 0.0, 1, send), timeout=20)
    assert done == list(range(20))  # one sender: the plan's order


async def test_the_schedule_holds_a_sender_ahead_of_it():
    batches, started = feed.plan(_runs(40)), []
    loop = asyncio.get_running_loop()

    async def send(batch):
        started.append(loop.time())

    await asyncio.wait_for(feed.paced(batches, 0.4, 4, send), timeout=20)
    assert len(started) == 4 and started[-1] - started[0] >= 0.29  # chunk 3 of 4 is due at 0.3 s


async def test_a_sender_failure_is_raised_and_stops_the_others():
    sent = []

    async def send(batch):
        if batch.chunks.start == 3:
            raise AssertionError("MLLP: not taken")
        await asyncio.sleep(0.01)
        sent.append(batch.chunks.start)

    with pytest.raises(AssertionError, match="not taken"):
        await asyncio.wait_for(feed.paced(feed.plan(_runs(1000)), 0.0, 2, send), timeout=20)
    assert len(sent) < 100


def test_the_memo_reads_each_held_message_once_and_answers_the_same():
    peer = SimpleNamespace(held={
        "M1": b"MSH|^~\\&|HANDOFF|HANDOFF|EHR|clinic-a|20260101||REF^I12^REF_I12|M1|P|2.5.1\rRF1|P|||||ref-1^HANDOFF\r",
        "<M2@handoff>": b"Subject: Updated referral ref-2\r\n\r\nbody"})
    memo = {}
    plain = held_messages("hisp", peer, {"M1": 5.0})
    assert held_messages("hisp", peer, {"M1": 5.0}, memo) == plain == held_messages("hisp", peer, {"M1": 5.0}, memo)
    assert [(m["recipient_id"], m["referral_id"], m["action"]) for m in plain] == [
        ("clinic-a", "ref-1", "create"), ("hisp", "ref-2", "update")]
    peer.held["M1"] = peer.held["M1"].replace(b"ref-1", b"ref-9")  # a key held again with other bytes: read again
    assert held_messages("hisp", peer, {}, memo)[0]["referral_id"] == "ref-9"


def test_distinct_copies_are_other_people_with_the_same_recurrences():
    from tests.chaos.sample import campaign_runs

    runs = campaign_runs(2300, seed=28, distinct=0.5)  # the sample (1,000), copy 1 of others, copy 2 of the same
    base, first, second = runs[:1000], runs[1000:2000], runs[2000:]
    named = [i for i, run in enumerate(base) if run.patient.family]
    assert named and all(first[i].patient.family == base[i].patient.family + "xb" for i in named)
    assert all(second[i].patient == base[i].patient for i in range(300))
    assert len({r.pcr_number for r in runs}) == 2300
    families = lambda rs: {r.patient.family for r in rs if r.patient.family}  # noqa: E731
    assert len(families(first)) == len(families(base)) and not families(first) & families(base)
    assert campaign_runs(1200, seed=28)[1000:][0].patient == base[0].patient  # the default: the sample's people


async def test_the_gate_holds_the_senders_and_the_budget_stops_them():
    batches, sent, opened = feed.plan(_runs(2000)), [], asyncio.Event()

    async def gate():
        await opened.wait()

    async def send(batch):
        sent.append(batch.chunks.start)
        await asyncio.sleep(0.01)

    feeding = asyncio.create_task(feed.paced(batches, 0.0, 2, send, gate, within=0.5))
    await asyncio.sleep(0.2)
    assert sent == []  # held by the gate
    opened.set()
    await asyncio.wait_for(feeding, timeout=20)
    assert sent == sorted(sent) and 0 < len(sent) < 200  # some sent, then no batch taken after 0.5 s
