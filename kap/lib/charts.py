"""Small server-side SVG line charts: the client's Trends page and the charts of the scores a
client shares on their therapist's pages (kap.care.charts). `line_chart` draws one chart;
`responsive_chart` draws it for a wide box and for a phone's, and charts.css shows the one that
fits. What a chart should leave out, a date typed by mistake, is kap.lib.chart_focus; its ticks
are kap.lib.chart_axes; the roster's small lines are kap.lib.sparklines.

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
from datetime import UTC, datetime, tzinfo

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kap.lib.chart_axes import MIN_X_TICK_SPACING, Plot, time_ticks, value_ticks
from kap.lib.chart_text import (
    DAY,
    SVG_NS,
    as_datetime,
    format_date,
    format_moment,
    format_value,
    num,
    timestamp,
    xml_text,
)

__all__ = [
    "MAX_POINT_MARKERS",
    "Band",
    "Marker",
    "Point",
    "Series",
    "line_chart",
    "responsive_chart",
]

#: At most this many point markers (with tooltips) per series; see the module docstring.
MAX_POINT_MARKERS = 400

# Text metrics, in SVG user units. No font is loaded, so widths are estimates used only to
# keep labels from running off the edge or into each other.
FONT_SIZE = 12
SMALL_FONT_SIZE = 11
CHAR_WIDTH = 0.6  # average glyph width as a fraction of the font size (generous)
BAND_LABEL_MAX_CHARS = 22
MARKER_LABEL_MAX_CHARS = 24
# At most this fraction of a chart's width is given to the averages of older entries when they
# are drawn apart from the entries since (line_chart's `averaged_before`).
AVERAGED_SHARE = 0.4
LEGEND_ROW_HEIGHT = 18

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


def _classes(value: str) -> str:
    """Only harmless class tokens from a caller-supplied class string."""
    tokens = (_SAFE_TOKEN.sub("", token) for token in str(value).split())
    return " ".join(token for token in tokens if token)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _text_width(text: str, font_size: float) -> float:
    return len(text) * font_size * CHAR_WIDTH


def _series_number(css_class: str) -> int:
    """1–6 from ``series-N`` (wrapping), or 1 if the class names no series."""
    match = _SERIES_NUMBER.search(css_class)
    return (int(match.group(1)) - 1) % 6 + 1 if match else 1


# --- Bands ----------------------------------------------------------------------------------


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
    shared: dict | None = None,
    averaged_before: datetime | None = None,
) -> SafeString:
    """A complete, accessible inline ``<svg>`` line chart, safe to output as-is.

    ``y_min``/``y_max`` fix the value axis (e.g. 0–27 for PHQ-9); values outside it are drawn
    at the edge but their tooltip keeps the real value. Markers outside the entries' dates
    widen the time axis to include them (kap.lib.chart_focus.focus leaves out those far from the
    entries first).

    The SVG fills the width it is given (``width="100%"``) and scales with its viewBox, so its
    text is ``font_size`` × (rendered width / ``width``) pixels. ``compact`` lays it out for a
    narrow viewBox drawn on a phone: band labels inside the plot, one size of type, and the
    legend below the plot's ``height`` rather than taken from it, and no band labels beside the
    plot (`responsive_chart` names the bands under it).

    ``shared``: what two drawings of the same series share, filled in by the first: the points in
    time order ("lines"), the tooltips of the points, by (id of the series, id of the point), and
    of the markers, by id of the marker (`responsive_chart`).

    ``averaged_before``: the points before this moment are averages of a month, a quarter or a
    year each (kap.progress.change.condense), those after it single entries. When the time
    before it would take more than AVERAGED_SHARE of the width, it is drawn in that share,
    shaded and labelled, and the entries after it have the rest: otherwise ten years of averages
    would leave the last three months' entries a few pixels at the right edge.
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

    tips = {} if shared is None else shared
    # Sort each series by time (linear when already sorted) and drop unplottable values.
    lines: list[tuple[Series, list[tuple[float, Point]]]] | None = tips.get("lines")
    if lines is None:
        lines = tips["lines"] = []
        for s in series:
            points = [(timestamp(p.when), p) for p in s.points if math.isfinite(float(p.value))]
            points.sort(key=lambda item: item[0])
            lines.append((s, points))
    total = sum(len(points) for _s, points in lines)

    zone: tzinfo = UTC
    for _s, points in lines:
        if points and as_datetime(points[0][1].when).tzinfo is not None:
            zone = as_datetime(points[0][1].when).tzinfo
            break

    # --- Layout.
    y_ticks_guess = value_ticks(y_min, y_max, height - 60)
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
        for s, _points in lines:
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
    stamps = [points[0][0] for _s, points in lines if points]
    stamps += [points[-1][0] for _s, points in lines if points]
    if total:
        stamps += [timestamp(m.when) for m in markers]
    t0 = min(stamps, default=0.0)
    t1 = max(stamps, default=DAY)
    split = timestamp(averaged_before) if averaged_before is not None and total else None
    if split is not None and not (t0 < split < t1 and split - t0 > AVERAGED_SHARE * (t1 - t0)):
        split = None  # evenly drawn, the averages take no more than their share
    if split is not None:  # each part padded by its own span
        t0, t1 = t0 - (split - t0) * 0.02, t1 + (t1 - split) * 0.02
    elif t1 - t0 < DAY:  # one entry, or all on the same day
        middle = (t0 + t1) / 2
        t0, t1 = middle - DAY, middle + DAY
    else:
        pad = (t1 - t0) * 0.02
        t0, t1 = t0 - pad, t1 + pad

    plot = Plot(
        left,
        top,
        plot_right,
        plot_bottom,
        t0,
        t1,
        float(y_min),
        float(y_max),
        split,
        left + AVERAGED_SHARE * (plot_right - left),
    )
    y_ticks = value_ticks(y_min, y_max, plot.bottom - plot.top)

    out: list[str] = []
    add = out.append
    classes = " ".join(filter(None, ["chart", _classes(css_class)]))
    # No fixed size: the SVG is as wide as its box and as tall as its viewBox's proportions make
    # it, so it never pushes a phone's page sideways.
    add(
        f'<svg xmlns="{SVG_NS}" class="{classes}" id="{ident}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" '
        f'font-family="system-ui, sans-serif" font-size="{num(kind.size)}">'
    )
    add(f'<title id="{ident}-title">{xml_text(title)}</title>')
    add(f'<desc id="{ident}-desc">{xml_text(_describe(lines))}</desc>')

    if y_label:
        add(
            f'<text class="axis-label" x="4" y="{num(kind.size * 1.4)}" '
            f'fill="currentColor">{xml_text(y_label)}</text>'
        )

    # --- Bands, behind everything else.
    if bands:
        add('<g class="bands">')
        for low, high, number, band in _band_edges(bands):
            low, high = max(low, plot.y_min), min(high, plot.y_max)
            if high <= low:
                continue
            y_top, y_bottom = plot.y(high), plot.y(low)
            label = xml_text(_shorten(str(band.label), BAND_LABEL_MAX_CHARS))
            span = f"{format_value(band.low)}–{format_value(band.high)}"
            where = (
                ""
                if kind.compact
                else (
                    f'<text class="band-label" x="{num(plot.right + 8)}" '
                    f'y="{num((y_top + y_bottom) / 2)}" '
                )
            )
            add(
                f'<g class="band-group"><title>{xml_text(band.label)}: {span}</title>'
                f'<rect class="band band-{number}" x="{num(plot.left)}" y="{num(y_top)}" '
                f'width="{num(plot.width)}" height="{num(y_bottom - y_top)}" '
                f'fill="currentColor" fill-opacity="0.06"/>'
            )
            if where:
                add(
                    f'{where}dominant-baseline="middle" font-size="{num(kind.small)}" '
                    f'fill="currentColor">{label}</text>'
                )
            add("</g>")
        add("</g>")

    reserved = -math.inf  # where the averages' label ends, on the markers' first row
    if plot.split is not None:
        reserved = _averaged_part(add, plot, kind, averaged_before)

    # --- Grid and value axis.
    add('<g class="grid" stroke="currentColor" stroke-opacity="0.15">')
    for tick in y_ticks:
        y = num(plot.y(tick))
        add(f'<line x1="{num(plot.left)}" y1="{y}" x2="{num(plot.right)}" y2="{y}"/>')
    add("</g>")
    add('<g class="axis axis-y" fill="currentColor">')
    add(
        f'<line class="axis-line" x1="{num(plot.left)}" y1="{num(plot.top)}" '
        f'x2="{num(plot.left)}" y2="{num(plot.bottom)}" stroke="currentColor"/>'
    )
    for tick in y_ticks:
        add(
            f'<text class="tick" x="{num(plot.left - 6)}" y="{num(plot.y(tick))}" '
            f'text-anchor="end" dominant-baseline="middle">{tick}</text>'
        )
    add("</g>")

    # --- Time axis.
    add('<g class="axis axis-x" fill="currentColor">')
    add(
        f'<line class="axis-line" x1="{num(plot.left)}" y1="{num(plot.bottom)}" '
        f'x2="{num(plot.right)}" y2="{num(plot.bottom)}" stroke="currentColor"/>'
    )
    if total:
        for x, label, anchor in _time_labels(plot, zone, kind, width):
            add(
                f'<line class="tick-mark" x1="{num(x)}" y1="{num(plot.bottom)}" x2="{num(x)}" '
                f'y2="{num(plot.bottom + 5)}" stroke="currentColor"/>'
                f'<text class="tick" x="{num(x)}" y="{num(plot.bottom + 6 + kind.size)}" '
                f'text-anchor="{anchor}">{xml_text(label)}</text>'
            )
    add("</g>")

    if not total:
        empty = xml_text(_("No entries yet"))
        add(
            f'<text class="empty" x="{num((plot.left + plot.right) / 2)}" '
            f'y="{num((plot.top + plot.bottom) / 2)}" text-anchor="middle" '
            f'dominant-baseline="middle" fill="currentColor">{empty}</text>'
        )
    else:
        _markers(add, plot, markers, kind, tips, reserved)
        for s, points in lines:
            _series(add, plot, s, points, tips)

    if legend_rows:
        _legend(add, plot, legend_rows, height, kind, name_chars)

    add("</svg>")
    return mark_safe("".join(out))  # every interpolated text is escaped above


def _describe(lines: Sequence[tuple[Series, list[tuple[float, Point]]]]) -> str:
    """One sentence: how many entries, over what dates, and first and latest per series."""
    all_points = [points for _s, points in lines if points]
    total = sum(len(points) for points in all_points)
    if not total:
        return _("No entries yet.")
    first = min(all_points, key=lambda points: points[0][0])[0][1].when
    last = max(all_points, key=lambda points: points[-1][0])[-1][1].when
    first_day, last_day = format_date(as_datetime(first)), format_date(as_datetime(last))
    if first_day == last_day:
        when = ngettext("%(count)s entry on %(day)s", "%(count)s entries on %(day)s", total)
    else:
        when = ngettext(
            "%(count)s entry from %(first)s to %(last)s",
            "%(count)s entries from %(first)s to %(last)s",
            total,
        )
    parts = [when % {"count": total, "day": first_day, "first": first_day, "last": last_day}]

    def value(point: Point) -> str:
        text = format_value(float(point.value))
        return f"{text} ({point.label})" if point.label else text

    for s, points in lines:
        if not points:
            parts.append(_("%(name)s: no entries") % {"name": s.name})
        elif len(points) == 1:
            parts.append(f"{s.name}: {value(points[0][1])}")
        else:
            parts.append(
                _("%(name)s: first %(first)s, latest %(latest)s")
                % {"name": s.name, "first": value(points[0][1]), "latest": value(points[-1][1])}
            )
    return "; ".join(parts) + "."


def _time_labels(plot: Plot, zone: tzinfo, kind: _Type, width: float) -> list:
    """(x, label, text-anchor) of the time axis' ticks, calendar-aligned in each part of the
    plot (chart_axes.Plot.parts); where two parts' labels would meet, the later part's stay."""
    placed: list[tuple[float, str, str, float, float]] = []
    parts = plot.parts()
    for number, (t0, t1, part_width) in reversed(list(enumerate(parts))):
        # The averages' part is narrow for its years: its ticks a little closer, a year or two.
        spacing = kind.x_spacing * (0.6 if number == 0 and len(parts) > 1 else 1)
        for ts, label in reversed(time_ticks(t0, t1, zone, part_width, spacing)):
            x = plot.x(ts)
            size = _text_width(label, kind.size)
            anchor = (
                "end" if x + size / 2 > width - 2 else "start" if x - size / 2 < 2 else "middle"
            )
            start = x - size if anchor == "end" else x if anchor == "start" else x - size / 2
            if placed and start + size + 6 > placed[-1][3]:
                continue  # it would run into the label after it
            placed.append((x, label, anchor, start, start + size))
    return [(x, label, anchor) for x, label, anchor, _start, _end in reversed(placed)]


def _averaged_part(add, plot: Plot, kind: _Type, before: datetime | None) -> float:
    """The part of the plot drawn for the averages (Plot.split): shaded, labelled "Averages",
    with the day they end in its tooltip. Returns where the label ends."""
    label = _("Averages")
    day = format_date(as_datetime(before)) if before else ""
    title = _("Averages per month, quarter or year, before %(day)s") % {"day": day}
    add(
        f'<g class="averaged"><title>{xml_text(title)}</title>'
        f'<rect class="averaged-area" x="{num(plot.left)}" y="{num(plot.top)}" '
        f'width="{num(plot.split_x - plot.left)}" height="{num(plot.bottom - plot.top)}" '
        f'fill="currentColor" fill-opacity="0.04"/>'
        f'<line class="averaged-edge" x1="{num(plot.split_x)}" y1="{num(plot.top)}" '
        f'x2="{num(plot.split_x)}" y2="{num(plot.bottom)}" stroke="currentColor"/>'
        f'<text class="averaged-label" x="{num(plot.left + 4)}" y="{num(plot.top + kind.small)}" '
        f'font-size="{num(kind.small)}" fill="currentColor">{xml_text(label)}</text></g>'
    )
    return plot.left + 4 + _text_width(label, kind.small)


def _markers(
    add, plot: Plot, markers: Sequence[Marker], kind: _Type, tips: dict, reserved: float
) -> None:
    """Dashed vertical lines with small labels, staggered over three rows when crowded. Labels
    are placed newest first, and one with no room on any row is left out (its line keeps its
    tooltip) rather than drawn over another. `reserved`: the first row is taken up to there.

    Where the plot's time is split (Plot.split), a session among the averages is a short tick
    on the time axis, with its tooltip and no label: months or years to a few pixels, full lines
    would be a block of dashes."""
    if not markers:
        return
    placed = sorted(((timestamp(m.when), m) for m in markers), key=lambda item: item[0])
    row_starts = [math.inf, math.inf, math.inf]  # where the leftmost label in each row starts
    drawn = []
    for ts, marker in reversed(placed):
        x = plot.x(ts)
        title = tips.get(id(marker))
        if title is None:
            title = tips[id(marker)] = f"{xml_text(marker.label)}, {format_moment(marker.when)}"
        if plot.split is not None and ts < plot.split:
            drawn.append(
                f'<g class="marker-group"><title>{title}</title>'
                f'<line class="marker marker-early" x1="{num(x)}" y1="{num(plot.bottom - 8)}" '
                f'x2="{num(x)}" y2="{num(plot.bottom)}" stroke="currentColor"/></g>'
            )
            continue
        label = _shorten(str(marker.label), MARKER_LABEL_MAX_CHARS)
        label_width = _text_width(label, kind.small)
        if x + 4 + label_width > plot.right:
            anchor, start, end, text_x = "end", x - 4 - label_width, x, x - 4
        else:
            anchor, start, end, text_x = "start", x, x + 4 + label_width, x + 4
        row = next(
            (
                i
                for i, edge in enumerate(row_starts)
                if end + 6 < edge and (i or start > reserved + 6)
            ),
            None,
        )
        text = ""
        if row is not None:
            row_starts[row] = start
            text = (
                f'<text class="marker-label" x="{num(text_x)}" '
                f'y="{num(plot.top + kind.small + (kind.small + 2) * row)}" '
                f'text-anchor="{anchor}" font-size="{num(kind.small)}" '
                f'fill="currentColor">{xml_text(label)}</text>'
            )
        drawn.append(
            f'<g class="marker-group"><title>{title}</title>'
            f'<line class="marker" x1="{num(x)}" y1="{num(plot.top)}" x2="{num(x)}" '
            f'y2="{num(plot.bottom)}" stroke="currentColor" stroke-dasharray="4 4"/>{text}</g>'
        )
    add('<g class="markers">')
    add("".join(reversed(drawn)))  # oldest first, as they are read
    add("</g>")


def _shape(number: int, x: float, y: float, r: float, xy: tuple[str, str, str]) -> str:
    """A point marker; the shape differs per series so colour is not the only cue. `xy`: x, y and
    r as written already."""
    if number == 2:  # square
        return f'<rect x="{num(x - r)}" y="{num(y - r)}" width="{num(2 * r)}" height="{num(2 * r)}"'
    if number == 3:  # triangle, pointing up
        h = r * 1.2
        return f'<path d="M{xy[0]} {num(y - h)}L{num(x + h)} {num(y + h * 0.8)}H{num(x - h)}Z"'
    if number == 4:  # diamond
        h = r * 1.3
        d = f"M{xy[0]} {num(y - h)}L{num(x + h)} {xy[1]}"
        d += f"L{xy[0]} {num(y + h)}L{num(x - h)} {xy[1]}Z"
        return f'<path d="{d}"'
    if number == 5:  # triangle, pointing down
        h = r * 1.2
        return f'<path d="M{xy[0]} {num(y + h)}L{num(x + h)} {num(y - h * 0.8)}H{num(x - h)}Z"'
    # 1: filled circle; 6: a ring (charts.css fills it with the background colour)
    return f'<circle cx="{xy[0]}" cy="{xy[1]}" r="{xy[2]}"'


# The element each series' marker shape is (_shape).
_SHAPE_TAG = {2: "rect", 3: "path", 4: "path", 5: "path"}


def _series(add, plot: Plot, s: Series, points: list[tuple[float, Point]], tips: dict) -> None:
    classes = _classes(s.css_class) or "series-1"
    number = _series_number(classes)
    name = xml_text(s.name)
    add(f'<g class="series {classes}" fill="currentColor" stroke="currentColor">')
    placed = []
    for ts, p in points:
        x, y = plot.x(ts), plot.y(float(p.value))
        placed.append((x, y, num(x), num(y), p))
    if len(placed) > 1:
        # One path for the whole series; consecutive points that land on the same spot (common
        # with years of daily entries) are written once.
        coords: list[str] = []
        for _x, _y, sx, sy, _p in placed:
            xy = f"{sx} {sy}"
            if not coords or coords[-1] != xy:
                coords.append(xy)
        d = "M" + "L".join(coords)
        add(f'<path class="line" d="{d}" fill="none" stroke-width="2"/>')
    shown = placed[-MAX_POINT_MARKERS:]
    # Smaller markers when they would crowd each other.
    radius = 4.0 if len(shown) * 10 <= plot.width else 3.0 if len(shown) * 4 <= plot.width else 2.0
    sr, tag = num(radius), _SHAPE_TAG.get(number, "circle")
    add(f'<g class="points{" dense" if radius < 3 else ""}">')
    for x, y, sx, sy, p in shown:
        value = float(p.value)
        extra = "" if plot.y_min <= value <= plot.y_max else " clamped"
        tip = tips.get((id(s), id(p)))
        if tip is None:
            tip = tips[id(s), id(p)] = _tip(name, p, value)
        shape = _shape(number, x, y, radius, (sx, sy, sr))
        add(f'{shape} class="point{extra}"><title>{tip}</title></{tag}>')
    add("</g></g>")


def _tip(name: str, p: Point, value: float) -> str:
    """A point's tooltip, escaped: the series' name (escaped already), date, value and label."""
    tip = f"{xml_text(format_moment(p.when))}: {xml_text(format_value(value))}"
    if name:
        tip = f"{name}, {tip}"
    if p.label:
        tip += f" ({xml_text(p.label)})"
    return tip


def _legend(
    add,
    plot: Plot,
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
                f'<line class="line" x1="{num(x)}" y1="{num(y)}" x2="{num(x + 28)}" y2="{num(y)}" '
                f'stroke-width="2"/>'
            )
            shape = _shape(number, x + 14, y, 3.5, (num(x + 14), num(y), "3.5"))
            add(f'{shape} class="point"/>')
            add(
                f'<text class="legend-label" x="{num(x + 34)}" y="{num(y)}" stroke="none" '
                f'dominant-baseline="middle">'
                f"{xml_text(_shorten(str(s.name), name_chars))}</text></g>"
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
    shared: dict = {}  # the same points in order, and their tooltips, made once for both
    wide = line_chart(
        series,
        shared=shared,
        chart_id=chart_id,
        width=WIDE[0],
        height=height,
        font_size=WIDE[1],
        css_class="chart-wide",
        **options,
    )
    phone = line_chart(
        series,
        shared=shared,
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
            f"{format_value(b.low)}–{format_value(b.high)} {xml_text(b.label)}" for b in bands
        )
        # The words escaped, then the ranges (escaped above) put in.
        words = xml_text(_("Shaded bands: %(bands)s")) % {"bands": ranges}
        key = f'<p class="chart-key">{words}</p>'
    return mark_safe(f'<div class="chart-box">{wide}{phone}{key}</div>')  # escaped above
