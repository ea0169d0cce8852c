"""Progress on long work (ingest of a folder, dead-letter replay) for a person at a terminal.

    with progress("replay", total=len(letters)) as advance:
        for ...: ...; advance(1)

A bar (rich, when installed) on stderr while stdout is a terminal; without rich a plain counter
(`replay: 12/40`) rewritten in place; when stdout is not a terminal (a pipe, a log file, CI)
nothing at all, so scripted output stays clean.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator


def _noop(n: int = 1) -> None:
    return None


@contextmanager
def progress(label: str, total: int, min_total: int = 2) -> Iterator[Callable[[int], None]]:
    if total < min_total or not sys.stdout.isatty():
        yield _noop
        return
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:
        yield from _counter(label, total)
        return
    from rich.console import Console

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


def _counter(label: str, total: int) -> Iterator[Callable[[int], None]]:
    done = 0

    def advance(n: int = 1) -> None:
        nonlocal done
        done += n
        print(f"\r{label}: {done}/{total}", end="", file=sys.stderr, flush=True)
    try:
        yield advance
    finally:
        print(file=sys.stderr)
