"""The topology table's companions: periodic tasks, picking stages by name, and the diagram
`handoff topology` prints (generated from the table in pipeline/app.py, never drawn by hand).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from pipeline.errors import classify

log = logging.getLogger(__name__)

IMPLICIT = "audit"  # every stage and task writes audit records; the wrapper adds them


@dataclass(frozen=True)
class Periodic:
    """A clock-driven task: one pass of `fn(deps, writer)` every `every(deps)` seconds."""

    name: str
    fn: Callable[[Any, Any], Awaitable[None]]
    outputs: tuple[str, ...]
    every: Callable[[Any], float]
    period: str = ""  # for the diagram: how often, and which setting says so
    doc: str = ""


Row = TypeVar("Row")


def select(rows: Sequence[Row], names: Sequence[str] | None) -> list[Row]:
    """The rows named (all when `names` is empty); an unknown name is an error that lists the known ones."""
    if not names:
        return list(rows)
    known = [row.name for row in rows]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"no stage {', '.join(unknown)}; the stages are {', '.join(known)}")
    return [row for row in rows if row.name in names]


async def run_periodic(task: Periodic, deps: Any, writer: Any) -> None:
    """Run `task` until cancelled; a failed pass is logged and the next one catches up."""
    while True:
        try:
            in_force = getattr(deps, "in_force", None)  # the configuration versions in force (pipeline/config)
            await task.fn(await asyncio.to_thread(in_force) if in_force else deps, writer)
        except Exception as e:  # classified: a transient one is routine, a permanent one a bug to look at
            error = classify(e)
            level = logging.WARNING if error.transient else logging.ERROR
            log.log(level, "%s: pass failed (%s: %s); next pass in %.0fs", task.name, error.cause_type,
                    error.dependency or "-", task.every(deps))
        await asyncio.sleep(task.every(deps))


def diagram(stages: Sequence[Any], periodic: Sequence[Periodic]) -> str:
    """The topology as text: a tree from each entry topic (one no stage produces) through the
    stages that consume it, then the periodic tasks and every stage's row."""
    consumers: dict[str, list[Any]] = {}
    for stage in stages:
        consumers.setdefault(stage.source, []).append(stage)
    produced = {t for s in (*stages, *periodic) for t in s.outputs}
    entries = [s.source for s in stages if s.source not in produced and s.source != IMPLICIT]
    entries = list(dict.fromkeys(entries))
    lines = ["Flow (topic, then the stage consuming it and what it produces):", ""]
    shown: set[str] = set()

    def walk(topic: str, depth: int) -> None:
        pad = "    " * depth
        if topic in shown:
            lines.append(f"{pad}{topic}  (see above)")
            return
        shown.add(topic)
        lines.append(f"{pad}{topic}" + ("" if topic in consumers else "  (no stage consumes it)"))
        for stage in consumers.get(topic, []):
            lines.append(f"{pad}  └─ {stage.name} ─► {', '.join(stage.outputs) or '(storage)'}")
            for out in stage.outputs:
                walk(out, depth + 1)

    for topic in entries:
        walk(topic, 0)
    for task in periodic:
        lines.append(f"({task.period})")
        lines.append(f"  └─ {task.name} ─► {', '.join(task.outputs) or '(storage)'}")
        for out in task.outputs:
            walk(out, 1)
    lines.append(f"{IMPLICIT}")
    for stage in consumers.get(IMPLICIT, []):
        lines.append(f"  └─ {stage.name} ─► (storage)")
    lines += ["", "Every stage also writes audit records first and dead-letters to its source's .dlq topic.", "",
              "Stages:"]
    width = max(len(s.name) for s in (*stages, *periodic))
    for stage in stages:
        fn = getattr(stage.fn, "func", stage.fn)
        lines.append(f"  {stage.name:{width}}  {stage.source} → {', '.join(stage.outputs) or '-'}")
        lines.append(f"  {'':{width}}  {fn.__module__}.{fn.__name__}; on error: {stage.on_error.value}")
        if stage.doc:
            lines.append(f"  {'':{width}}  {stage.doc}")
    lines += ["", "Periodic tasks:"]
    for task in periodic:
        fn = getattr(task.fn, "func", task.fn)
        lines.append(f"  {task.name:{width}}  → {', '.join(task.outputs) or '-'}  ({fn.__module__}.{fn.__name__})")
        if task.doc:
            lines.append(f"  {'':{width}}  {task.doc}")
    return "\n".join(lines) + "\n"

