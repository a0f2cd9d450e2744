"""Small server-side SVG line charts for the Trends page.

Pure Python, no JavaScript and no inline ``style=`` attributes, so the output works under a
strict Content-Security-Policy (``style-src 'self'``). Colours, dashes and type come from
classes styled in ``kap/static/kap/charts.css``; a few presentation attributes (``fill``,
``stroke``, ``font-size``) are set as fallbacks so the SVG still reads if that file is missing.

Accessibility: the ``<svg>`` has ``role="img"`` and is labelled by its ``<title>`` and a
one-sentence ``<desc>`` summary. Each point has a ``<title>`` child (a native tooltip) with the
date, value and label. Series differ by colour *and* by marker shape and line dash, so colour is
never the only cue. Every piece of user- or pack-provided text is escaped.

Cost is O(n) in points (plus Python's sort, which is linear on already-sorted input). Ticks are
chosen from the span, never one per point. A series' line is one ``<path>`` however long it is,
but only its latest :data:`MAX_POINT_MARKERS` points get their own marker element: ten years
of daily entries would otherwise add 3,650 elements (each with a tooltip) to the page's DOM,
which slows every page load and screen reader on modest devices for no visual gain; at that
density the markers overlap into a smear anyway.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from html import escape

from django.utils.safestring import SafeString, mark_safe

__all__ = [
    "MAX_POINT_MARKERS",
    "Band",
    "Focus",
    "Marker",
    "Point",
    "Series",
    "far_markers_note",
    "focus",
    "isolated_before",
    "line_chart",
    "responsive_chart",
    "sparkline",
]

#: At most this many point markers (with tooltips) per series; see the module docstring.
MAX_POINT_MARKERS = 400

SVG_NS = "http://www.w3.org/2000/svg"

# Text metrics, in SVG user units. No font is loaded, so widths are estimates used only to
# keep labels from running off the edge or into each other.
FONT_SIZE = 12
SMALL_FONT_SIZE = 11
CHAR_WIDTH = 0.6  # average glyph width as a fraction of the font size (generous)
BAND_LABEL_MAX_CHARS = 22
MARKER_LABEL_MAX_CHARS = 24
LEGEND_ROW_HEIGHT = 18
MIN_X_TICK_SPACING = 80  # px between time-axis ticks
MIN_Y_TICK_SPACING = 28  # px between value-axis ticks

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = 86_400.0

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_SERIES_NUMBER = re.compile(r"\bseries-(\d+)\b")


@dataclass(frozen=True)
class Point:
    """One entry: when it was made, its value, and an optional label (e.g. "Mild")."""

    when: datetime
    value: float
    label: str = ""


@dataclass(frozen=True)
class Series:
    """A named line. ``css_class`` (``series-1`` … ``series-6``) picks colour, dash and shape."""

    name: str
    points: list[Point]
    css_class: str = "series-1"


@dataclass(frozen=True)
class Band:
    """A shaded horizontal range of values, e.g. PHQ-9 5–9 "Mild"."""

    low: float
    high: float
    label: str


@dataclass(frozen=True)
class Marker:
    """A moment on the time axis, e.g. "Session 3", drawn as a dashed vertical line."""

    when: datetime
    label: str


# --- Small helpers -------------------------------------------------------------------------


def _text(value: object) -> str:
    """Escape text for an element or an attribute, dropping characters XML cannot hold."""
    return escape(_INVALID_XML.sub("", str(value)), quote=True)


def _classes(value: str) -> str:
    """Only harmless class tokens from a caller-supplied class string."""
    tokens = (_SAFE_TOKEN.sub("", token) for token in str(value).split())
    return " ".join(token for token in tokens if token)


def _n(value: float) -> str:
    """A coordinate, to one decimal place (plenty at screen resolution)."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _text_width(text: str, font_size: float) -> float:
    return len(text) * font_size * CHAR_WIDTH


def _as_datetime(when: date) -> datetime:
    return when if isinstance(when, datetime) else datetime.combine(when, time())


def _timestamp(when: date) -> float:
    """Seconds since the epoch; naive datetimes are read as UTC so they compare consistently."""
    moment = _as_datetime(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _format_value(value: float) -> str:
    rounded = round(value, 2)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:g}"


def _format_date(moment: datetime, *, year: bool = True) -> str:
    text = f"{moment.day} {MONTHS[moment.month - 1]}"
    return f"{text} {moment.year}" if year else text


def _format_moment(when: date) -> str:
    """A date for a tooltip: "3 Nov 2026", with the time of day when there is one."""
    moment = _as_datetime(when)
    text = _format_date(moment)
    if (moment.hour, moment.minute) != (0, 0):
        text += f", {moment.hour:02d}:{moment.minute:02d}"
    return text


def _series_number(css_class: str) -> int:
    """1–6 from ``series-N`` (wrapping), or 1 if the class names no series."""
    match = _SERIES_NUMBER.search(css_class)
    return (int(match.group(1)) - 1) % 6 + 1 if match else 1


# --- Scales and ticks ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Plot:
    left: float
    top: float
    right: float
    bottom: float
    t0: float
    t1: float
    y_min: float
    y_max: float

    @property
    def width(self) -> float:
        return self.right - self.left

    def x(self, ts: float) -> float:
        return self.left + (ts - self.t0) / (self.t1 - self.t0) * self.width

    def y(self, value: float) -> float:
        value = min(max(value, self.y_min), self.y_max)  # clamp into the plot area
        return self.bottom - (value - self.y_min) / (self.y_max - self.y_min) * (
            self.bottom - self.top
        )


def _y_ticks(y_min: float, y_max: float, plot_height: float) -> list[int]:
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


def _x_ticks(
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
            label = _format_date(day, year=day.year != previous_year)
        elif unit == "month":
            label = f"{MONTHS[day.month - 1]} {day.year}"
        else:
            label = str(day.year)
        previous_year = day.year
        ticks.append((ts, label))
    return ticks


def _band_edges(bands: Sequence[Band]) -> list[tuple[float, float, int, Band]]:
    """(low, high, number, band) with small gaps between neighbours closed at the midpoint.

    Bands for whole-number scores are usually written "0–4, 5–9, …"; shading them exactly
    would leave a bare strip between 4 and 5, so a gap of one unit or less is split evenly.
    """
    ordered = sorted(
        ((min(b.low, b.high), max(b.low, b.high), i, b) for i, b in enumerate(bands, start=1)),
        key=lambda item: (item[0], item[1]),
    )
    edges = [[low, high, i, b] for low, high, i, b in ordered]
    for below, above in zip(edges, edges[1:], strict=False):
        gap = above[0] - below[1]
        if 0 < gap <= 1:
            below[1] = above[0] = below[1] + gap / 2
    return [(low, high, i, b) for low, high, i, b in edges]


# --- The chart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Type:
    """Type sizes of one chart, in its own units (its viewBox), and the spacing they need."""

    size: float = FONT_SIZE  # ticks, legend, axis label
    small: float = SMALL_FONT_SIZE  # band and marker labels
    # A phone's chart: no band labels beside the plot (it cannot spare the width; the page
    # names the bands under it, `responsive_chart`), ticks closer together.
    compact: bool = False

    @property
    def row(self) -> float:
        return max(LEGEND_ROW_HEIGHT, self.size * 1.5)

    @property
    def x_spacing(self) -> float:
        return self.size * 5.5 if self.compact else max(MIN_X_TICK_SPACING, self.size * 7)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_min: float,
    y_max: float,
    bands: Sequence[Band] = (),
    markers: Sequence[Marker] = (),
    width: int = 640,
    height: int = 260,
    y_label: str = "",
    chart_id: str = "chart",
    font_size: float = FONT_SIZE,
    compact: bool = False,
    css_class: str = "",
) -> SafeString:
    """A complete, accessible inline ``<svg>`` line chart, safe to output as-is.

    ``y_min``/``y_max`` fix the value axis (e.g. 0–27 for PHQ-9); values outside it are drawn
    at the edge but their tooltip keeps the real value. Markers outside the entries' dates
    widen the time axis to include them (`focus` leaves out those far from the entries first).

    The SVG fills the width it is given (``width="100%"``) and scales with its viewBox, so its
    text is ``font_size`` × (rendered width / ``width``) pixels. ``compact`` lays it out for a
    narrow viewBox drawn on a phone: band labels inside the plot, one size of type, and the
    legend below the plot's ``height`` rather than taken from it, and no band labels beside the
    plot (`responsive_chart` names the bands under it).
    """
    if not y_max > y_min:
        raise ValueError(f"y_max ({y_max}) must be greater than y_min ({y_min})")
    if width < 120 or height < 80:
        raise ValueError("a chart needs at least 120 × 80 units to be readable")
    kind = _Type(
        size=font_size,
        small=font_size if compact else min(font_size, SMALL_FONT_SIZE + font_size - FONT_SIZE),
        compact=compact,
    )

    ident = _SAFE_TOKEN.sub("-", str(chart_id)) or "chart"
    if not ident[0].isalpha():
        ident = f"chart-{ident}"

    # Sort each series by time (linear when already sorted) and drop unplottable values.
    lines: list[tuple[Series, list[tuple[float, Point]]]] = []
    for s in series:
        points = [(_timestamp(p.when), p) for p in s.points if math.isfinite(float(p.value))]
        points.sort(key=lambda item: item[0])
        lines.append((s, points))
    total = sum(len(points) for _, points in lines)

    zone: tzinfo = UTC
    for _, points in lines:
        if points and _as_datetime(points[0][1].when).tzinfo is not None:
            zone = _as_datetime(points[0][1].when).tzinfo
            break

    # --- Layout.
    y_ticks_guess = _y_ticks(y_min, y_max, height - 60)
    left = max(32.0, max(_text_width(str(t), kind.size) for t in y_ticks_guess or [0]) + 16)
    band_labels = [_shorten(str(b.label), BAND_LABEL_MAX_CHARS) for b in bands]
    longest_band = max((_text_width(label, kind.small) for label in band_labels), default=0)
    right_margin = 14.0 if kind.compact else max(28.0, longest_band + 14)
    top = kind.size * 2.5 if y_label else 12.0

    show_legend = len(lines) > 1
    # Names are shortened to fit one row of the chart (the table and tooltips give them whole).
    name_chars = max(12, min(48, int((width - left - 42) / (kind.size * CHAR_WIDTH))))
    legend_rows: list[list[tuple[Series, float]]] = []
    if show_legend:
        row: list[tuple[Series, float]] = []
        used = 0.0
        for s, _ in lines:
            item = 34 + _text_width(_shorten(str(s.name), name_chars), kind.size) + 20
            if row and used + item > width - left:
                legend_rows.append(row)
                row, used = [], 0.0
            row.append((s, item))
            used += item
        legend_rows.append(row)
    legend_height = kind.row * len(legend_rows) + (6 if legend_rows else 0)
    if compact:
        height = int(height + legend_height)
    bottom_margin = kind.size * 2.4 + legend_height

    plot_right = width - right_margin
    plot_bottom = height - bottom_margin
    if plot_bottom - top < 40 or plot_right - left < 60:
        raise ValueError("the chart is too small for its labels; give it more width or height")

    # --- Time range: entries and markers, at least a day, with a little breathing room.
    stamps = [points[0][0] for _, points in lines if points]
    stamps += [points[-1][0] for _, points in lines if points]
    if total:
        stamps += [_timestamp(m.when) for m in markers]
    t0 = min(stamps, default=0.0)
    t1 = max(stamps, default=DAY)
    if t1 - t0 < DAY:  # one entry, or all on the same day
        middle = (t0 + t1) / 2
        t0, t1 = middle - DAY, middle + DAY
    else:
        pad = (t1 - t0) * 0.02
        t0, t1 = t0 - pad, t1 + pad

    plot = _Plot(left, top, plot_right, plot_bottom, t0, t1, float(y_min), float(y_max))
    y_ticks = _y_ticks(y_min, y_max, plot.bottom - plot.top)

    out: list[str] = []
    add = out.append
    classes = " ".join(filter(None, ["chart", _classes(css_class)]))
    # No fixed size: the SVG is as wide as its box and as tall as its viewBox's proportions make
    # it, so it never pushes a phone's page sideways.
    add(
        f'<svg xmlns="{SVG_NS}" class="{classes}" id="{ident}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="system-ui, sans-serif" font-size="{_n(kind.size)}">'
    )
    add(f'<title id="{ident}-title">{_text(title)}</title>')
    add(f'<desc id="{ident}-desc">{_text(_describe(lines))}</desc>')

    if y_label:
        add(
            f'<text class="axis-label" x="4" y="{_n(kind.size * 1.4)}" '
            f'fill="currentColor">{_text(y_label)}</text>'
        )

    # --- Bands, behind everything else.
    if bands:
        add('<g class="bands">')
        for low, high, number, band in _band_edges(bands):
            low, high = max(low, plot.y_min), min(high, plot.y_max)
            if high <= low:
                continue
            y_top, y_bottom = plot.y(high), plot.y(low)
            label = _text(_shorten(str(band.label), BAND_LABEL_MAX_CHARS))
            span = f"{_format_value(band.low)}–{_format_value(band.high)}"
            where = (
                ""
                if kind.compact
                else (
                    f'<text class="band-label" x="{_n(plot.right + 8)}" '
                    f'y="{_n((y_top + y_bottom) / 2)}" '
                )
            )
            add(
                f'<g class="band-group"><title>{_text(band.label)}: {span}</title>'
                f'<rect class="band band-{number}" x="{_n(plot.left)}" y="{_n(y_top)}" '
                f'width="{_n(plot.width)}" height="{_n(y_bottom - y_top)}" '
                f'fill="currentColor" fill-opacity="0.06"/>'
            )
            if where:
                add(
                    f'{where}dominant-baseline="middle" font-size="{_n(kind.small)}" '
                    f'fill="currentColor">{label}</text>'
                )
            add("</g>")
        add("</g>")

    # --- Grid and value axis.
    add('<g class="grid" stroke="currentColor" stroke-opacity="0.15">')
    for tick in y_ticks:
        y = _n(plot.y(tick))
        add(f'<line x1="{_n(plot.left)}" y1="{y}" x2="{_n(plot.right)}" y2="{y}"/>')
    add("</g>")
    add('<g class="axis axis-y" fill="currentColor">')
    add(
        f'<line class="axis-line" x1="{_n(plot.left)}" y1="{_n(plot.top)}" '
        f'x2="{_n(plot.left)}" y2="{_n(plot.bottom)}" stroke="currentColor"/>'
    )
    for tick in y_ticks:
        add(
            f'<text class="tick" x="{_n(plot.left - 6)}" y="{_n(plot.y(tick))}" '
            f'text-anchor="end" dominant-baseline="middle">{tick}</text>'
        )
    add("</g>")

    # --- Time axis.
    add('<g class="axis axis-x" fill="currentColor">')
    add(
        f'<line class="axis-line" x1="{_n(plot.left)}" y1="{_n(plot.bottom)}" '
        f'x2="{_n(plot.right)}" y2="{_n(plot.bottom)}" stroke="currentColor"/>'
    )
    if total:
        for ts, label in _x_ticks(plot.t0, plot.t1, zone, plot.width, kind.x_spacing):
            x = plot.x(ts)
            half = _text_width(label, kind.size) / 2
            anchor = "end" if x + half > width - 2 else "start" if x - half < 2 else "middle"
            add(
                f'<line class="tick-mark" x1="{_n(x)}" y1="{_n(plot.bottom)}" x2="{_n(x)}" '
                f'y2="{_n(plot.bottom + 5)}" stroke="currentColor"/>'
                f'<text class="tick" x="{_n(x)}" y="{_n(plot.bottom + 6 + kind.size)}" '
                f'text-anchor="{anchor}">{_text(label)}</text>'
            )
    add("</g>")

    if not total:
        add(
            f'<text class="empty" x="{_n((plot.left + plot.right) / 2)}" '
            f'y="{_n((plot.top + plot.bottom) / 2)}" text-anchor="middle" '
            f'dominant-baseline="middle" fill="currentColor">No entries yet</text>'
        )
    else:
        _markers(add, plot, markers, kind)
        for s, points in lines:
            _series(add, plot, s, points)

    if legend_rows:
        _legend(add, plot, legend_rows, height, kind, name_chars)

    add("</svg>")
    return mark_safe("".join(out))  # every interpolated text is escaped above


def _describe(lines: Sequence[tuple[Series, list[tuple[float, Point]]]]) -> str:
    """One sentence: how many entries, over what dates, and first and latest per series."""
    all_points = [points for _, points in lines if points]
    total = sum(len(points) for points in all_points)
    if not total:
        return "No entries yet."
    first = min(all_points, key=lambda points: points[0][0])[0][1].when
    last = max(all_points, key=lambda points: points[-1][0])[-1][1].when
    first_day, last_day = _format_date(_as_datetime(first)), _format_date(_as_datetime(last))
    when = f"on {first_day}" if first_day == last_day else f"from {first_day} to {last_day}"
    parts = [f"{total} {'entry' if total == 1 else 'entries'} {when}"]

    def value(point: Point) -> str:
        text = _format_value(float(point.value))
        return f"{text} ({point.label})" if point.label else text

    for s, points in lines:
        if not points:
            parts.append(f"{s.name}: no entries")
        elif len(points) == 1:
            parts.append(f"{s.name}: {value(points[0][1])}")
        else:
            parts.append(f"{s.name}: first {value(points[0][1])}, latest {value(points[-1][1])}")
    return "; ".join(parts) + "."


def _markers(add, plot: _Plot, markers: Sequence[Marker], kind: _Type) -> None:
    """Dashed vertical lines with small labels, staggered over three rows when crowded."""
    if not markers:
        return
    add('<g class="markers">')
    row_ends = [-math.inf, -math.inf, -math.inf]  # where the last label in each row ends
    placed = sorted(((_timestamp(m.when), m) for m in markers), key=lambda item: item[0])
    for ts, marker in placed:
        x = plot.x(ts)
        label = _shorten(str(marker.label), MARKER_LABEL_MAX_CHARS)
        label_width = _text_width(label, kind.small)
        if x + 4 + label_width > plot.right:
            anchor, start, end, text_x = "end", x - 4 - label_width, x, x - 4
        else:
            anchor, start, end, text_x = "start", x, x + 4 + label_width, x + 4
        row = next((i for i, edge in enumerate(row_ends) if start > edge + 6), 0)
        row_ends[row] = max(row_ends[row], end)
        add(
            f'<g class="marker-group"><title>{_text(marker.label)}, '
            f"{_format_moment(marker.when)}</title>"
            f'<line class="marker" x1="{_n(x)}" y1="{_n(plot.top)}" x2="{_n(x)}" '
            f'y2="{_n(plot.bottom)}" stroke="currentColor" stroke-dasharray="4 4"/>'
            f'<text class="marker-label" x="{_n(text_x)}" y="{_n(plot.top + kind.small + (kind.small + 2) * row)}" '
            f'text-anchor="{anchor}" font-size="{_n(kind.small)}" '
            f'fill="currentColor">{_text(label)}</text></g>'
        )
    add("</g>")


def _shape(number: int, x: float, y: float, r: float) -> str:
    """A point marker; the shape differs per series so colour is not the only cue."""
    if number == 2:  # square
        return f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}"'
    if number == 3:  # triangle, pointing up
        h = r * 1.2
        return f'<path d="M{_n(x)} {_n(y - h)}L{_n(x + h)} {_n(y + h * 0.8)}H{_n(x - h)}Z"'
    if number == 4:  # diamond
        h = r * 1.3
        d = f"M{_n(x)} {_n(y - h)}L{_n(x + h)} {_n(y)}L{_n(x)} {_n(y + h)}L{_n(x - h)} {_n(y)}Z"
        return f'<path d="{d}"'
    if number == 5:  # triangle, pointing down
        h = r * 1.2
        return f'<path d="M{_n(x)} {_n(y + h)}L{_n(x + h)} {_n(y - h * 0.8)}H{_n(x - h)}Z"'
    # 1: filled circle; 6: a ring (charts.css fills it with the background colour)
    return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}"'


def _series(add, plot: _Plot, s: Series, points: list[tuple[float, Point]]) -> None:
    classes = _classes(s.css_class) or "series-1"
    number = _series_number(classes)
    name = _text(s.name)
    add(f'<g class="series {classes}" fill="currentColor" stroke="currentColor">')
    if len(points) > 1:
        # One path for the whole series; consecutive points that land on the same spot (common
        # with years of daily entries) are written once.
        coords: list[str] = []
        for ts, p in points:
            xy = f"{_n(plot.x(ts))} {_n(plot.y(float(p.value)))}"
            if not coords or coords[-1] != xy:
                coords.append(xy)
        d = "M" + "L".join(coords)
        add(f'<path class="line" d="{d}" fill="none" stroke-width="2"/>')
    shown = points[-MAX_POINT_MARKERS:]
    # Smaller markers when they would crowd each other.
    radius = 4.0 if len(shown) * 10 <= plot.width else 3.0 if len(shown) * 4 <= plot.width else 2.0
    add(f'<g class="points{" dense" if radius < 3 else ""}">')
    for ts, p in shown:
        value = float(p.value)
        clamped = not plot.y_min <= value <= plot.y_max
        tip = f"{_text(_format_moment(p.when))}: {_text(_format_value(value))}"
        if name:
            tip = f"{name}, {tip}"
        if p.label:
            tip += f" ({_text(p.label)})"
        shape = _shape(number, plot.x(ts), plot.y(value), radius)
        extra = " clamped" if clamped else ""
        add(f'{shape} class="point{extra}"><title>{tip}</title></{shape[1 : shape.index(" ")]}>')
    add("</g></g>")


def _legend(
    add,
    plot: _Plot,
    rows: list[list[tuple[Series, float]]],
    height: float,
    kind: _Type,
    name_chars: int,
) -> None:
    """Series names with a sample of each line and marker, under the time axis."""
    add('<g class="legend">')
    y = height - kind.row * len(rows) + kind.row / 2 - 4
    for row in rows:
        x = plot.left
        for s, item_width in row:
            classes = _classes(s.css_class) or "series-1"
            number = _series_number(classes)
            add(
                f'<g class="legend-item series {classes}" fill="currentColor" '
                f'stroke="currentColor">'
                f'<line class="line" x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 28)}" y2="{_n(y)}" '
                f'stroke-width="2"/>'
            )
            shape = _shape(number, x + 14, y, 3.5)
            add(f'{shape} class="point"/>')
            add(
                f'<text class="legend-label" x="{_n(x + 34)}" y="{_n(y)}" stroke="none" '
                f'dominant-baseline="middle">{_text(_shorten(str(s.name), name_chars))}</text></g>'
            )
            x += item_width
        y += kind.row
    add("</g>")


# --- On a phone and on a desktop ---------------------------------------------------------------

#: The two drawings `responsive_chart` makes: (viewBox width, type size). A wide chart is drawn
#: at about its own size on a desktop; the phone's is drawn about 340–360 px wide, so its 13
#: units of type are 13 px or more on a 390 px screen. charts.css shows the one that fits.
WIDE = (600, 12)
PHONE = (340, 13)


def responsive_chart(
    series: Sequence[Series], *, chart_id: str = "chart", height: int = 260, **options
) -> SafeString:
    """The chart drawn twice, for a wide box and for a phone's, in one ``.chart-box``: a
    container query in charts.css shows the one that fits (the other is ``display: none``, so
    neither a screen reader nor a search reads both). Without the stylesheet, the wide one."""
    wide = line_chart(
        series,
        chart_id=chart_id,
        width=WIDE[0],
        height=height,
        font_size=WIDE[1],
        css_class="chart-wide",
        **options,
    )
    phone = line_chart(
        series,
        chart_id=f"{chart_id}-phone",
        width=PHONE[0],
        height=height,
        font_size=PHONE[1],
        compact=True,
        css_class="chart-phone",
        **options,
    )
    key = ""
    if bands := options.get("bands"):
        # The phone's chart has no room for the band names beside it: they are listed under it
        # (as the wide chart's are, hidden with it by charts.css).
        ranges = " · ".join(
            f"{_format_value(b.low)}–{_format_value(b.high)} {_text(b.label)}" for b in bands
        )
        key = f'<p class="chart-key">Shaded bands: {ranges}</p>'
    return mark_safe(f'<div class="chart-box">{wide}{phone}{key}</div>')  # escaped above


# --- Keeping the axis to the dates that matter --------------------------------------------------

#: An entry or a session this much (or more) away from all the others, at either end of a
#: history, is far enough to be a mistyped date (1999 for 2026): see `focus`.
ISOLATED = timedelta(days=180)


@dataclass(frozen=True)
class Focus:
    """What `focus` keeps for the chart, and what it leaves out (to be said under the chart)."""

    series: list[Series]
    markers: list[Marker]
    entries_left_out: list[Point]
    markers_left_out: list[Marker]

    @property
    def note(self) -> str:
        """One sentence naming the entries not drawn, or "" when every entry is."""
        # Counted by moment, as `focus` weighs them: a practice's before and after are one.
        n = len({_timestamp(p.when) for p in self.entries_left_out})
        if not n:
            return ""
        # By year: an entry before the page's cutoff is an average over a month, a quarter or a
        # year (kap.progress.change), dated in its middle; its year is right either way.
        years = sorted({_as_datetime(p.when).year for p in self.entries_left_out})
        listed = ", ".join(str(y) for y in years[:3]) + (", …" if len(years) > 3 else "")
        if n == 1:
            return (
                f"1 entry, from {listed}, is not drawn: it is far from all the others and "
                "would stretch the chart."
            )
        return (
            f"{n} entries, from {listed}, are not drawn: they are far from all the others and "
            "would stretch the chart."
        )


def far_markers_note(markers: Sequence[Marker]) -> str:
    """One sentence naming the session markers `focus` left out of the charts, or "" for none."""
    if not markers:
        return ""
    ordered = sorted(set(markers), key=lambda m: _timestamp(m.when))
    named = []
    for m in ordered[:3]:
        day = _format_date(_as_datetime(m.when))
        named.append(m.label if day in m.label else f"{m.label} ({day})")
    if len(ordered) > 3:
        named.append(f"{len(ordered) - 3} more")
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    verb = "is" if len(ordered) == 1 else "are"
    return (
        f"{listed} {verb} not marked on the charts: far from the dates of the entries, "
        f"{'it' if len(ordered) == 1 else 'they'} would stretch them."
    )


def _core(stamps: list[float], *, keep: int) -> tuple[float, float] | None:
    """The first and last of `stamps` (sorted) once isolated ones at either end are set aside:
    one is isolated when the gap to its neighbour is longer than ISOLATED and longer than all
    the others together span. At least `keep` are kept."""
    if not stamps:
        return None
    gap = ISOLATED.total_seconds()
    lo, hi = 0, len(stamps) - 1
    while hi - lo >= keep:
        if stamps[lo + 1] - stamps[lo] > max(gap, stamps[hi] - stamps[lo + 1]):
            lo += 1
        elif stamps[hi] - stamps[hi - 1] > max(gap, stamps[hi - 1] - stamps[lo]):
            hi -= 1
        else:
            break
    return stamps[lo], stamps[hi]


def focus(series: Sequence[Series], markers: Sequence[Marker] = ()) -> Focus:
    """The entries and session markers a chart should draw so that its time axis covers the
    period the data is from, not a date typed by mistake.

    - The axis comes from the entries. An entry alone at either end of the history, more than
      ISOLATED from the next and further from it than the rest span, is left out (at least two
      are always kept): one mistyped year cannot stretch the chart over decades.
    - A session marker widens the axis only when it is within ISOLATED of the entries; one
      further away is left out.
    What is left out is named in `Focus.note`, and stays in the page's tables.
    """
    # Each moment once: the before and after of one practice are one entry in time.
    stamps = sorted({_timestamp(p.when) for s in series for p in s.points})
    core = _core(stamps, keep=2)
    if core is None:
        return Focus(list(series), [], [], list(markers))
    first, last = core
    kept_series = [
        Series(s.name, [p for p in s.points if first <= _timestamp(p.when) <= last], s.css_class)
        for s in series
    ]
    left_out = [p for s in series for p in s.points if not first <= _timestamp(p.when) <= last]
    reach = ISOLATED.total_seconds()
    near = [m for m in markers if first - reach <= _timestamp(m.when) <= last + reach]
    far = [m for m in markers if m not in near]
    return Focus(kept_series, near, left_out, far)


def isolated_before(stamps: Sequence[datetime]) -> int:
    """How many of the earliest `stamps` (sorted, oldest first) stand apart from the rest as a
    mistyped date would (see `_core`); one is always kept. For numbering sessions."""
    values = [_timestamp(s) for s in stamps]
    core = _core(values, keep=1)
    return 0 if core is None else sum(1 for v in values if v < core[0])


# --- Sparklines ---------------------------------------------------------------------------------


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
        f'width="{width}" height="{height}" role="img" aria-label="{_text(label)}">'
    ]
    if len(numbers) > 1:
        d = "M" + "L".join(f"{_n(x)} {_n(y)}" for x, y in (xy(i, v) for i, v in enumerate(numbers)))
        out.append(
            f'<path class="spark-line" d="{d}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>'
        )
    if numbers:
        x, y = xy(len(numbers) - 1, numbers[-1])
        out.append(
            f'<circle class="spark-dot" cx="{_n(x)}" cy="{_n(y)}" r="2.5" fill="currentColor"/>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # the label is escaped; the rest are numbers
