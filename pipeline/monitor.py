"""What IT staff watch, read from the broker and the database: lag, ages, counts. No person data.

    lag = await consumer_lag(bootstrap, prefix)        # [PartitionLag(group, topic, partition, end, committed)]
    state = database_state(store, now)                 # referral counts by state, holds, unsealed audit
    registry.register(MonitorCollector(...))           # the same as Prometheus gauges, computed per scrape
    history.add(ends, at); history.series(groups)      # the last hour of samples: throughput and lag per stage

Lag is the broker's end offset of a partition minus the group's committed offset (a group that
never committed on a partition lags by the whole partition). Only groups that committed on a
topic of this catalogue (`prefix`) are listed.
"""
from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

from prometheus_client.core import GaugeMetricFamily


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    end: int
    committed: int | None          # None: the group never committed here

    @property
    def lag(self) -> int:
        return max(0, self.end - (self.committed or 0))


@dataclass(frozen=True)
class TopicEnds:
    ends: dict[tuple[str, int], int]     # (topic, partition) -> end offset
    lags: list[PartitionLag] = field(default_factory=list)


async def topic_ends(bootstrap: str, prefix: str, timeout_ms: int = 5000) -> TopicEnds:
    """End offsets of every topic under `prefix`, and the lag of every consumer group on them."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        partitions = [TopicPartition(d["topic"], p["partition"]) for d in
                      (await admin.describe_topics(topics) if topics else []) for p in d["partitions"]]
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    request_timeout_ms=timeout_ms)
        await consumer.start()
        try:
            ends = {(tp.topic, tp.partition): off for tp, off in
                    (await consumer.end_offsets(partitions) if partitions else {}).items()}
        finally:
            await consumer.stop()
        lags = []
        for group, _kind in sorted(await admin.list_consumer_groups()):
            committed = {(tp.topic, tp.partition): meta.offset
                         for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
            mine = {t for t, _ in committed if t.startswith(prefix)}
            lags += [PartitionLag(group, t, p, end, committed.get((t, p)) if committed.get((t, p), -1) >= 0 else None)
                     for (t, p), end in sorted(ends.items()) if t in mine]
        return TopicEnds(ends, lags)
    finally:
        await admin.close()


@dataclass(frozen=True)
class Series:
    """One consumer group on one topic over the window: messages committed per minute, and lag."""

    group: str
    topic: str
    throughput: list[tuple[float, float]]   # (epoch seconds, messages per minute since the sample before)
    lag: list[tuple[float, int]]             # (epoch seconds, lag summed over the topic's partitions)


class History:
    """The last `window` seconds of `topic_ends` samples, in memory (the IT dashboard's charts):
    per consumer group and topic, the committed offsets and the lag, summed over partitions."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self.samples: deque[tuple[float, dict[tuple[str, str], tuple[int, int]]]] = deque()

    def add(self, ends: TopicEnds, at: float) -> None:
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for x in ends.lags:
            committed, lag = totals.get((x.group, x.topic), (0, 0))
            totals[(x.group, x.topic)] = (committed + (x.committed or 0), lag + x.lag)
        self.samples.append((at, totals))
        while self.samples and self.samples[0][0] < at - self.window:
            self.samples.popleft()

    def latest(self) -> float | None:
        return self.samples[-1][0] if self.samples else None

    def series(self, wanted=lambda group: True) -> list[Series]:
        """Every (group, topic) seen in the window whose group is `wanted`, by group then topic. A
        throughput point needs two samples; committed offsets that went back (a reset) count as 0."""
        keys = sorted({k for _, totals in self.samples for k in totals if wanted(k[0])})
        found = []
        for key in keys:
            points = [(at, totals[key]) for at, totals in self.samples if key in totals]
            rates = [(at, max(0, c - c0) * 60.0 / (at - at0)) for (at0, (c0, _)), (at, (c, _))
                     in zip(points, points[1:]) if at > at0]
            found.append(Series(key[0], key[1], rates, [(at, lag) for at, (_, lag) in points]))
        return found


def _age(now: datetime, iso: str | None) -> float:
    if not iso:
        return 0.0
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return max(0.0, (now - (then if then.tzinfo else then.replace(tzinfo=timezone.utc))).total_seconds())


@dataclass(frozen=True)
class DatabaseState:
    referrals_by_state: dict[str, int]
    holds_open: int
    oldest_hold_seconds: float
    audit_unsealed: int                  # audit records past the last sealed segment of their chain
    oldest_unsealed_seconds: float


def database_state(store, now: datetime) -> DatabaseState:
    """Counts and ages from the database; aggregates only (no row leaves this function)."""
    with store.transaction() as tx:
        states = {r["state"]: int(r["n"]) for r in
                  tx.fetchall("SELECT state, COUNT(*) AS n FROM referral_state GROUP BY state ORDER BY state")}
        hold = tx.fetchone("SELECT COUNT(*) AS n, MIN(held_at) AS oldest FROM consent_hold WHERE status = 'held'")
        unsealed = tx.fetchone(
            "SELECT COUNT(*) AS n, MIN(r.recorded_at) AS oldest FROM audit_record r"
            " WHERE r.chain_seq IS NOT NULL AND r.chain_seq > COALESCE((SELECT MAX(c.last_seq) FROM audit_checkpoint c"
            " WHERE c.kafka_partition = r.kafka_partition AND c.kind = 'seal'), -1)")
    return DatabaseState(states, int(hold["n"]), _age(now, hold["oldest"]),
                         int(unsealed["n"]), _age(now, unsealed["oldest"]))


class MonitorCollector:
    """Prometheus gauges computed at each scrape: lag per group and partition, end offsets,
    and the database state. A source that is away yields `handoff_monitor_up{source} 0`."""

    def __init__(self, bootstrap: str = "", prefix: str = "", store=None, clock=None) -> None:
        self.bootstrap, self.prefix, self.store, self.clock = bootstrap, prefix, store, clock

    def _now(self) -> datetime:
        return self.clock.now() if self.clock else datetime.now(timezone.utc)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families' names without reading anything (prometheus_client calls this on register)."""
        yield from _lag_families(TopicEnds({}))
        yield from _letter_families([], datetime.now(timezone.utc))
        yield from _state_families(DatabaseState({}, 0, 0.0, 0, 0.0))
        yield GaugeMetricFamily("handoff_monitor_up", "1 when the monitor could read the source", labels=["source"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("handoff_monitor_up", "1 when the monitor could read the source", labels=["source"])
        if self.bootstrap:
            try:
                ends = asyncio.run(topic_ends(self.bootstrap, self.prefix))
                letters = asyncio.run(_dead_letters(self.bootstrap, self.prefix))
                up.add_metric(["broker"], 1)
                yield from _lag_families(ends)
                yield from _letter_families(letters, self._now())
            except Exception:  # the broker is away: say so, keep serving the rest
                up.add_metric(["broker"], 0)
        if self.store is not None:
            try:
                yield from _state_families(database_state(self.store, self._now()))
                up.add_metric(["database"], 1)
            except Exception:
                up.add_metric(["database"], 0)
        yield up


def _lag_families(ends: TopicEnds) -> Iterator[GaugeMetricFamily]:
    end = GaugeMetricFamily("handoff_topic_end_offset", "End offset of a partition", labels=["topic", "partition"])
    for (t, p), off in sorted(ends.ends.items()):
        end.add_metric([t, str(p)], off)
    lag = GaugeMetricFamily("handoff_consumer_lag", "Messages not yet committed by a consumer group",
                            labels=["group", "topic", "partition"])
    for x in ends.lags:
        lag.add_metric([x.group, x.topic, str(x.partition)], x.lag)
    yield end
    yield lag


async def _dead_letters(bootstrap: str, prefix: str) -> list:
    from pipeline.deadletters import find
    from pipeline.topics import Catalogue

    return await find(bootstrap, Catalogue(prefix))


def _letter_families(letters: list, now: datetime) -> Iterator[GaugeMetricFamily]:
    count = GaugeMetricFamily("handoff_dead_letters", "Dead letters waiting, by stage", labels=["stage"])
    by_stage: dict[str, int] = {}
    for x in letters:
        by_stage[x.letter.stage] = by_stage.get(x.letter.stage, 0) + 1
    for stage, n in sorted(by_stage.items()):
        count.add_metric([stage], n)
    yield count
    oldest = min((x.letter.failed_at for x in letters), default=None)
    yield GaugeMetricFamily("handoff_oldest_dead_letter_age_seconds", "Age of the oldest dead letter (0: none)",
                            value=(now - oldest).total_seconds() if oldest else 0.0)


def _state_families(state: DatabaseState) -> Iterator[GaugeMetricFamily]:
    referrals = GaugeMetricFamily("handoff_referrals", "Referrals by state", labels=["state"])
    for name, n in sorted(state.referrals_by_state.items()):
        referrals.add_metric([name], n)
    yield referrals
    yield GaugeMetricFamily("handoff_holds_open", "Referrals held for want of a legal basis", value=state.holds_open)
    yield GaugeMetricFamily("handoff_oldest_hold_age_seconds", "Age of the oldest open hold (0: none)",
                            value=state.oldest_hold_seconds)
    yield GaugeMetricFamily("handoff_audit_unsealed_records", "Audit records not yet in a sealed segment",
                            value=state.audit_unsealed)
    yield GaugeMetricFamily("handoff_audit_oldest_unsealed_age_seconds",
                            "Age of the oldest audit record not yet sealed (0: none)",
                            value=state.oldest_unsealed_seconds)
