"""Workers that start together on a new SQLite file: each opens it (found by the CI fault campaign,
where one of two workers exited with `database is locked` while the other created the file).

Switching a new file to WAL takes it for a moment, and SQLite answers "locked" at once there rather
than through its busy handler. Before the fix, 4 processes opening 100 new files at one instant
failed 12 of 400 opens; the round count below makes a pass on that code unlikely (0.97^160 < 1%)."""
from __future__ import annotations

import multiprocessing

from pipeline.storage._sqlite import SqliteBackend

PROCESSES, ROUNDS = 4, 40


def _open(path: str, barrier, answers) -> None:
    backend = SqliteBackend(f"sqlite:///{path}", timeout=5.0)
    barrier.wait()
    try:
        conn = backend.connect()
        conn.execute("CREATE TABLE IF NOT EXISTS seen (worker INTEGER)")
        conn.close()
        answers.put("opened")
    except Exception as e:  # the answer the test checks
        answers.put(f"{type(e).__name__}: {e}")


def test_workers_opening_a_new_sqlite_file_at_one_instant_all_open_it(tmp_path):
    fork = multiprocessing.get_context("fork")
    answers = []
    for n in range(ROUNDS):
        barrier, queue = fork.Barrier(PROCESSES), fork.Queue()
        procs = [fork.Process(target=_open, args=(str(tmp_path / f"new-{n}.db"), barrier, queue))
                 for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        answers += [queue.get(timeout=30) for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
    assert [a for a in answers if a != "opened"] == []
    assert len(answers) == PROCESSES * ROUNDS
