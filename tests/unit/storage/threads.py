"""Run a function on several threads at once and collect what they raised."""
from __future__ import annotations

import threading
from typing import Any, Callable, Sequence


def run_concurrently(target: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[BaseException]:
    """One thread per argument tuple, released together by a barrier; returns the exceptions raised."""
    start = threading.Barrier(len(args))
    failures: list[BaseException] = []

    def run(*a: Any) -> None:
        start.wait()
        try:
            target(*a)
        except BaseException as e:  # noqa: BLE001 - returned to the test
            failures.append(e)

    workers = [threading.Thread(target=run, args=a) for a in args]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return failures
