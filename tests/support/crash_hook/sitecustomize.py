"""Test-only: one stage batch of a `handoff worker` raises, as a bug in a stage would (never a switch in
the product). tests/integration/test_worker_crash.py puts this directory on the worker's PYTHONPATH;
Python imports this module at start-up (site). With HANDOFF_TEST_CRASH_STAGE naming a stage, the first
batch of that stage that any process sees raises RuntimeError, once (claimed with the marker file
HANDOFF_TEST_CRASH_MARK, so the restarted worker replays the batch and goes on).
Without HANDOFF_TEST_CRASH_STAGE this module does nothing."""
from __future__ import annotations

import os

STAGE = os.environ.get("HANDOFF_TEST_CRASH_STAGE")


def _patch() -> None:
    from pipeline import stage

    original = stage.StageRunner.handle_batch

    async def handle_batch(self, batch):
        if self.stage.name == STAGE:
            try:
                os.close(os.open(os.environ["HANDOFF_TEST_CRASH_MARK"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                raise RuntimeError("a bug in the stage (test hook) while handling run 4711-secret")
        return await original(self, batch)

    stage.StageRunner.handle_batch = handle_batch


if STAGE:
    _patch()
