"""Small line charts drawn on the server as inline SVG: no script, no CDN, nothing fetched.

    line_chart([(t, v), ...], start, end, label="lag, messages")   # Markup: <svg role="img" ...>

The x axis runs from `start` to `end` (epoch seconds), the y axis from 0 to the largest value
(at least 1). Presentation attributes only (no style attribute), so the page's strict
Content-Security-Policy (style-src 'self') holds. The title and aria-label name the last value
and the largest, so the chart reads without sight.
"""
from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 240, 48, 2


def line_chart(points: Sequence[tuple[float, float]], start: float, end: float, label: str,
               width: int = WIDTH, height: int = HEIGHT) -> Markup:
    top = max([v for _, v in points] + [1])
    span = max(end - start, 1.0)

    def xy(t: float, v: float) -> str:
        x = PAD + (min(max(t, start), end) - start) / span * (width - 2 * PAD)
        y = height - PAD - v / top * (height - 2 * PAD)
        return f"{x:.1f},{y:.1f}"
    last = f"{points[-1][1]:.3g}" if points else "no data yet"
    text = f"{label}: now {last}, at most {top:.3g} in the last {span / 60:.0f} min"
    line = (f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" '
            f'points="{" ".join(xy(t, v) for t, v in points)}"/>') if len(points) > 1 else ""
    cx, cy = xy(*points[-1]).split(",") if points else ("", "")
    dot = f'<circle r="2" fill="currentColor" cx="{cx}" cy="{cy}"/>' if points else ""
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(text)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" data-points="{len(points)}" data-max="{top:.3g}">'
        f'<title>{escape(text)}</title>'
        f'<line x1="{PAD}" y1="{height - PAD}" x2="{width - PAD}" y2="{height - PAD}" stroke="#999" '
        f'stroke-width="0.5"/>{line}{dot}'
        f'<text x="{PAD}" y="10" font-size="9" fill="currentColor">max {top:.3g}</text></svg>')
