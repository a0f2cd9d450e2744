"""Sparklines: a small line of someone's latest scores in a list (the therapist's roster),
with no text to read. Like the charts (kap.lib.charts), plain inline SVG with no script and no
``style=`` attribute, its label escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.safestring import SafeString, mark_safe

from kap.lib.chart_text import SVG_NS, num, xml_text

__all__ = ["sparkline"]


def sparkline(
    values: Sequence[float],
    *,
    label: str,
    y_min: float,
    y_max: float,
    width: int = 96,
    height: int = 28,
) -> SafeString:
    """A small line of the latest values, oldest first, evenly spaced, with no text to read
    (`label` says it all, e.g. "PHQ-9, last 6 scores: 14, 12, 9, 9, 7, 6"). The last value has
    a dot."""
    if not y_max > y_min:
        raise ValueError(f"y_max ({y_max}) must be greater than y_min ({y_min})")
    numbers = [float(v) for v in values if math.isfinite(float(v))]
    pad = 3.0

    def xy(i: int, v: float) -> tuple[float, float]:
        step = (width - 2 * pad) / max(1, len(numbers) - 1)
        x = pad + i * step if len(numbers) > 1 else width / 2
        v = min(max(v, y_min), y_max)
        return x, height - pad - (v - y_min) / (y_max - y_min) * (height - 2 * pad)

    out = [
        f'<svg xmlns="{SVG_NS}" class="sparkline" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{xml_text(label)}">'
    ]
    if len(numbers) > 1:
        d = "M" + "L".join(
            f"{num(x)} {num(y)}" for x, y in (xy(i, v) for i, v in enumerate(numbers))
        )
        out.append(
            f'<path class="spark-line" d="{d}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        )
    if numbers:
        x, y = xy(len(numbers) - 1, numbers[-1])
        out.append(
            f'<circle class="spark-dot" cx="{num(x)}" cy="{num(y)}" r="2.5" fill="currentColor"/>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # the label is escaped; the rest are numbers
