"""The episode purge spares what an unsettled delivery or an open hold still needs."""
from __future__ import annotations

from datetime import timedelta

from pipeline.deliver import ledger
from pipeline.episode import DEFAULT_WINDOW, incident_requests
from pipeline.episode import state as episodes
from tests.support.delivery import delivery
from tests.unit.test_episode_route import KEY, KEYS, OPIOID, RULES, T0, detected, run


def test_an_unsettled_delivery_keeps_its_sources_until_it_settles(migrated):
    old = run("PCR-OLD")
    episodes.save_record(migrated, "ems.run", old, old.key, T0)
    [request, _] = incident_requests([(old, detected(old, *OPIOID))], RULES, KEYS)
    episodes.merge_request(migrated, request, DEFAULT_WINDOW, T0)
    d = delivery("hl7v2-mllp", "mllp://127.0.0.1:1").model_copy(update={"person": request.person})
    ledger.claim(migrated, d, T0, 30)  # sent, not yet settled (a crash, or no ACK yet)
    later = T0 + timedelta(days=1)
    keep = ledger.needed_persons(migrated)
    assert keep == {request.person.person_token}
    assert episodes.purge(migrated, later, keep) == {"episode_record": 0, "person_episode": 0, "episode_request": 0}
    assert episodes.incident_records(migrated, KEY)[0] == [old]  # a resend can still be rendered
    ledger.settle(migrated, d, "sent", later)
    assert ledger.needed_persons(migrated) == frozenset()
    assert episodes.purge(migrated, later, ledger.needed_persons(migrated)) == {
        "episode_record": 1, "person_episode": 1, "episode_request": 1}


def test_message_send_states_go_with_the_episode_state_but_not_while_unsettled(migrated):
    settled, unsettled, recent = (delivery("inbox", "inbox", pid=f"org-{n}") for n in ("a", "b", "c"))
    for d in (settled, unsettled):
        ledger.claim(migrated, d, T0, 30)
    ledger.settle(migrated, settled, "sent", T0)
    later = T0 + timedelta(days=100)
    ledger.claim(migrated, recent, later, 30)
    ledger.settle(migrated, recent, "sent", later)
    assert ledger.purge_messages(migrated, T0 + timedelta(days=10)) == 1
    with migrated.transaction() as tx:
        left = {row["message_id"] for row in tx.fetchall("SELECT message_id FROM delivery_message")}
    assert left == {unsettled.message_id, recent.message_id}
    assert ledger.claim(migrated, settled, later, 30).outcome == ledger.UNCHANGED  # the ledger still names it
