"""How the campaign's EMS runs go through the edges: a plan of batches (ten-run chunks, alternately
NEMSIS XML over HTTP and HL7 over MLLP), sent by several concurrent senders and paced by a schedule.

- `CHAOS_NEMSIS_DOC` (default 10): PCRs per NEMSIS document. Real ePCR exports hold many PCRs per
  file; a document of k x 10 runs is followed by k HL7 batches of ten, so half of the runs go each
  way whatever the size (10: one document of ten, then one HL7 batch of ten, in turn, as before).
- `CHAOS_SENDERS` (default 1): senders working at once, each taking the next batch of the plan (an
  HTTP request, or its own MLLP connection). One sender waits for each answer before the next input,
  which bounded the edges at ~7.5 events/s in round 6.
- Pacing: batch b is not sent before its chunk's place in the schedule (`seconds` spread over the
  chunks: the fault schedule's length, so the faults meet the inputs); a sender behind the schedule
  does not sleep at all.
- `CHAOS_MAX_LAG` (default 0: off): no batch is sent while the workers' group has more than this many
  messages to read on the topics its stages read (the edges outrun the pipeline under faults: 2,000
  runs went in in 86 s and took the workers ~160 s); `CHAOS_INPUT_SECONDS` (default 0: off): feeding stops taking batches
  after this long (a long run sends as many as fit in its time; the rest are not sent and not expected).
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from tests.chaos import wire

CHUNK = 10  # runs in one HL7 batch (one MLLP connection) and in the smallest NEMSIS document


def senders() -> int:
    return max(1, int(os.environ.get("CHAOS_SENDERS", "1")))


def per_document() -> int:
    return max(CHUNK, int(os.environ.get("CHAOS_NEMSIS_DOC", str(CHUNK))))


@dataclass(frozen=True)
class Batch:
    kind: str  # "nemsis" (one EMSDataSet over HTTP) or "hl7" (ORU^R01s on one MLLP connection)
    runs: list
    chunks: range  # the ten-run chunks it holds: their numbers time the 911 calls, CAD exports, field referrals


def plan(runs: list, document: int = CHUNK) -> list[Batch]:
    """The runs in ten-run chunks; chunk groups of `document // 10` alternate: one NEMSIS document of
    the whole group, then each chunk of the next group as an HL7 batch."""
    k, chunks = max(1, document // CHUNK), -(-len(runs) // CHUNK)
    out, j = [], 0
    while j < chunks:
        if (j // k) % 2 == 0:
            end = min(chunks, (j // k + 1) * k)
            out.append(Batch("nemsis", runs[j * CHUNK:end * CHUNK], range(j, end)))
        else:
            end = j + 1
            out.append(Batch("hl7", runs[j * CHUNK:end * CHUNK], range(j, end)))
        j = end
    return out


def source_ids(batches: list[Batch]) -> set[str]:
    """The record ids the edges' parsers give the runs (NEMSIS: the PCR's UUID or number; HL7: OBR-3)."""
    return {wire.nemsis_id(run) if b.kind == "nemsis" else run.pcr_number for b in batches for run in b.runs}


def budget() -> float | None:
    """CHAOS_INPUT_SECONDS: no batch is taken after this many seconds of feeding (a long run sends as
    many as fit; what was sent is what the drain and the checker expect)."""
    value = float(os.environ.get("CHAOS_INPUT_SECONDS", "0"))
    return value or None


async def paced(batches: list[Batch], seconds: float, workers: int, send: Callable[[Batch], Awaitable[None]],
                gate: Callable[[], Awaitable[None]] | None = None, within: float | None = None) -> None:
    """`send` each batch, `workers` at a time, none before its place in `seconds` nor before `gate` lets it
    (the campaign's backpressure), none taken after `within` seconds; the first failure stops the others
    and is raised."""
    chunks = max(1, batches[-1].chunks.stop) if batches else 1
    start, queue = time.monotonic(), iter(batches)

    async def sender() -> None:
        for batch in queue:  # shared: each sender takes the next batch when it is free
            ahead = start + batch.chunks.start * seconds / chunks - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            if gate is not None:
                await gate()
            if within is not None and time.monotonic() - start > within:
                return
            await send(batch)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(sender())
    except BaseExceptionGroup as e:  # one sender's failure (an input not taken) is the campaign's
        raise e.exceptions[0] from None
