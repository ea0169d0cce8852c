"""The dashboard's history (throughput and lag per group and topic) and its inline SVG charts."""
from __future__ import annotations

import re

from connectors.web.charts import line_chart
from pipeline.monitor import History, PartitionLag, TopicEnds


def ends(*rows: tuple[str, str, int, int, int | None]) -> TopicEnds:
    return TopicEnds({}, [PartitionLag(g, t, p, end, committed) for g, t, p, end, committed in rows])


def test_throughput_is_committed_per_minute_and_lag_is_summed_over_partitions():
    h = History(window=3600)
    h.add(ends(("w", "ems", 0, 10, 10), ("w", "ems", 1, 5, None), ("other", "ems", 0, 10, 0)), at=1000)
    h.add(ends(("w", "ems", 0, 40, 20), ("w", "ems", 1, 5, 5)), at=1060)      # 15 more in 60 s
    h.add(ends(("w", "ems", 0, 40, 40), ("w", "ems", 1, 5, 5)), at=1090)      # 20 more in 30 s
    h.add(ends(("w", "ems", 0, 40, 0), ("w", "ems", 1, 5, 0)), at=1120)       # a reset: not negative
    [w] = h.series(lambda g: g == "w")
    assert (w.group, w.topic) == ("w", "ems")
    assert w.lag == [(1000, 5), (1060, 20), (1090, 0), (1120, 45)]
    assert w.throughput == [(1060, 15.0), (1090, 40.0), (1120, 0.0)]
    assert [x.group for x in h.series()] == ["other", "w"]


def test_samples_older_than_the_window_are_dropped():
    h = History(window=60)
    for at in (0, 30, 61, 100):
        h.add(ends(("w", "t", 0, at, 0)), at=at)
    assert [at for at, _ in h.series()[0].lag] == [61, 100] and h.latest() == 100


def test_a_chart_is_inline_svg_with_its_values_in_words_and_no_style_attribute():
    svg = str(line_chart([(0, 0), (1800, 12), (3600, 3)], 0, 3600, "lag, messages"))
    assert svg.startswith("<svg") and 'role="img"' in svg and "style=" not in svg and "<script" not in svg
    assert 'aria-label="lag, messages: now 3, at most 12 in the last 60 min"' in svg
    points = re.search(r'<polyline [^>]*points="([^"]+)"', svg)[1].split()
    assert [tuple(map(float, p.split(","))) for p in points] == [(2.0, 46.0), (120.0, 2.0), (238.0, 35.0)]
    assert 'data-points="3"' in svg and 'data-max="12"' in svg


def test_an_empty_chart_says_so():
    svg = str(line_chart([], 0, 3600, "processed per minute"))
    assert "no data yet" in svg and "<polyline" not in svg and 'data-max="1"' in svg
