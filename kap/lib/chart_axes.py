"""The line chart's scales and ticks (kap.lib.charts): where a moment and a value fall in the
plot area, whole-number ticks for the value axis, and calendar-aligned ticks (midnights, Mondays,
month or year starts) for the time axis. Ticks are chosen from the span, never one per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from kap.lib.chart_text import DAY, format_date, format_month

MIN_X_TICK_SPACING = 80  # px between time-axis ticks
MIN_Y_TICK_SPACING = 28  # px between value-axis ticks


@dataclass(frozen=True)
class Plot:
    """The plot area (in the chart's units) and the moments and values at its edges.

    With a `split` (a moment strictly between t0 and t1), time is drawn in two parts: t0 to the
    split in the plot's left part, up to `split_x`, and the split to t1 in the rest, each part
    evenly; without one, evenly across the whole width."""

    left: float
    top: float
    right: float
    bottom: float
    t0: float
    t1: float
    y_min: float
    y_max: float
    split: float | None = None
    split_x: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    def x(self, ts: float) -> float:
        split = self.split
        if split is None:
            return self.left + (ts - self.t0) / (self.t1 - self.t0) * self.width
        if ts < split:
            return self.left + (ts - self.t0) / (split - self.t0) * (self.split_x - self.left)
        return self.split_x + (ts - split) / (self.t1 - split) * (self.right - self.split_x)

    def parts(self) -> list[tuple[float, float, float]]:
        """(first moment, last moment, width) of each part drawn evenly: one, or two split."""
        if self.split is None:
            return [(self.t0, self.t1, self.width)]
        return [
            (self.t0, self.split, self.split_x - self.left),
            (self.split, self.t1, self.right - self.split_x),
        ]

    def y(self, value: float) -> float:
        value = min(max(value, self.y_min), self.y_max)  # clamp into the plot area
        return self.bottom - (value - self.y_min) / (self.y_max - self.y_min) * (
            self.bottom - self.top
        )


def value_ticks(y_min: float, y_max: float, plot_height: float) -> list[int]:
    """Whole numbers at a 1-2-5 step, as many as fit comfortably."""
    most = max(2, int(plot_height // MIN_Y_TICK_SPACING) + 1)
    span = y_max - y_min
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if span / step + 1 <= most:
                first = math.ceil(y_min / step) * step
                return list(range(first, math.floor(y_max) + 1, step))
        magnitude *= 10


# (unit, how many of them, rough length in days) — from fine to coarse.
_X_STEPS: tuple[tuple[str, int, float], ...] = (
    ("day", 1, 1),
    ("day", 2, 2),
    ("week", 1, 7),
    ("week", 2, 14),
    ("month", 1, 30.44),
    ("month", 2, 60.88),
    ("month", 3, 91.31),
    ("month", 6, 182.6),
    ("year", 1, 365.25),
    ("year", 2, 730.5),
    ("year", 5, 1826.25),
    ("year", 10, 3652.5),
    ("year", 25, 9131.25),
    ("year", 50, 18262.5),
    ("year", 100, 36525),
)


def time_ticks(
    t0: float, t1: float, zone: tzinfo, plot_width: float, spacing: float = MIN_X_TICK_SPACING
) -> list[tuple[float, str]]:
    """Calendar-aligned ticks (midnights, Mondays, month or year starts) and their labels."""
    most = max(2, int(plot_width // spacing))
    span_days = (t1 - t0) / DAY
    unit, count = next(
        ((unit, count) for unit, count, days in _X_STEPS if span_days / days + 1 <= most),
        _X_STEPS[-1][:2],
    )

    first = datetime.fromtimestamp(t0, zone)
    start = first.date()
    if first.time() != time():  # the first midnight inside the range
        start += timedelta(days=1)
    end = datetime.fromtimestamp(t1, zone).date()
    days_: list[date] = []
    if unit == "day":
        day = start
        while day.toordinal() % count:
            day += timedelta(days=1)
        while day <= end:
            days_.append(day)
            day += timedelta(days=count)
    elif unit == "week":
        day = start + timedelta(days=(7 - start.weekday()) % 7)  # the next Monday
        while day <= end:
            days_.append(day)
            day += timedelta(days=7 * count)
    else:
        months = 12 * count if unit == "year" else count
        index = start.year * 12 + start.month - 1  # months since year 0
        index += -index % months
        while True:
            day = date(index // 12, index % 12 + 1, 1)
            if day > end:
                break
            days_.append(day)
            index += months

    ticks: list[tuple[float, str]] = []
    previous_year = None
    for day in days_:
        ts = datetime.combine(day, time(), tzinfo=zone).timestamp()
        if not t0 <= ts <= t1:
            continue
        if unit in ("day", "week"):
            # "3 Nov", with the year on the first tick and whenever it changes.
            label = format_date(day, year=day.year != previous_year)
        elif unit == "month":
            label = format_month(day)
        else:
            label = str(day.year)
        previous_year = day.year
        ticks.append((ts, label))
    return ticks
