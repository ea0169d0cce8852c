"""The worker's faust app takes its consumer settings from `runtime.*` and `kafka.*` (handoff/worker.py)."""
from __future__ import annotations

from handoff.worker import TIER_BUFFER, consumer_options
from pipeline.kafka.faust_app import make_app
from pipeline.settings import Settings


def test_memory_bounds_and_membership_reach_the_app(monkeypatch) -> None:
    monkeypatch.setenv("HANDOFF_RUNTIME__BUFFER_RECORDS", "300")
    monkeypatch.setenv("HANDOFF_RUNTIME__FETCH_BYTES_PER_PARTITION", "131072")
    monkeypatch.setenv("HANDOFF_KAFKA__SESSION_TIMEOUT_SECONDS", "12")
    conf = make_app("127.0.0.1:9", "g-options", **consumer_options(Settings(environment="test"))).conf
    assert (conf.stream_buffer_maxsize, conf.consumer_max_fetch_size) == (300, 131072)  # not the defaults
    assert conf.broker_session_timeout == 12


def test_defaults_bound_memory_below_fausts_own() -> None:
    conf = make_app("127.0.0.1:9", "g-defaults", **consumer_options(Settings(environment="test"))).conf
    assert (conf.stream_buffer_maxsize, conf.consumer_max_fetch_size) == (512, 256 * 1024)  # faust: 4,096, 1 MiB


def test_a_worker_running_a_retry_tier_keeps_a_buffer_a_waiting_tier_cannot_fill_soon() -> None:
    settings = Settings(environment="test")
    assert consumer_options(settings, tiers=True)["stream_buffer_maxsize"] == TIER_BUFFER == 4096
    assert consumer_options(settings)["stream_buffer_maxsize"] == 512
