"""The charts as the pages use them: the time axis kept to the dates that matter
(kap.lib.chart_focus), one chart drawn for a phone and a desktop (kap.lib.charts.responsive_chart),
and the roster's sparklines (kap.lib.sparklines)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from kap.lib.chart_focus import far_markers_note, focus, isolated_before
from kap.lib.charts import PHONE, WIDE, Band, Marker, Point, Series, line_chart, responsive_chart
from kap.lib.sparklines import sparkline

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
TYPO = datetime(1999, 11, 20, 9, tzinfo=UTC)


def days_ago(*days: float) -> list[datetime]:
    return [NOW - timedelta(days=d) for d in days]


def entries(*whens: datetime) -> list[Series]:
    return [Series("PHQ-9", [Point(w, 10) for w in whens])]


def kept(result) -> list[datetime]:
    return [p.when for s in result.series for p in s.points]


def test_an_entry_alone_decades_before_the_rest_is_left_out_and_named():
    result = focus(entries(TYPO, *days_ago(40, 20, 2)))
    assert kept(result) == days_ago(40, 20, 2)
    assert [p.when for p in result.entries_left_out] == [TYPO]
    assert result.note.startswith("1 entry, from 1999, is not drawn")


def test_an_entry_alone_far_after_the_rest_is_left_out_too():
    late = NOW + timedelta(days=3650)
    result = focus(entries(*days_ago(40, 20, 2), late))
    assert late not in kept(result)


def test_two_entries_are_always_kept_however_far_apart():
    result = focus(entries(TYPO, NOW))
    assert kept(result) == [TYPO, NOW]
    assert result.note == ""


def test_several_older_entries_together_are_a_history_not_a_typo():
    old = [TYPO, TYPO + timedelta(days=14), TYPO + timedelta(days=30)]
    result = focus(entries(*old, *days_ago(20, 2)))
    assert kept(result) == [*old, *days_ago(20, 2)]


def test_a_year_of_steady_entries_is_all_kept():
    whens = days_ago(*range(360, 0, -30))
    assert kept(focus(entries(*whens))) == whens


def test_session_markers_near_the_entries_are_kept_and_far_ones_left_out():
    near = Marker(NOW - timedelta(days=90), "Session 1")
    far = Marker(TYPO, "Session on 20 Nov 1999")
    result = focus(entries(*days_ago(30, 2)), [far, near])
    assert result.markers == [near]
    assert result.markers_left_out == [far]
    assert far_markers_note(result.markers_left_out) == (
        "Session on 20 Nov 1999 is not marked on the charts: far from the dates of the "
        "entries, it would stretch them."
    )


def test_the_sessions_set_apart_are_only_those_before_a_long_gap():
    assert isolated_before([TYPO, *days_ago(30, 10)]) == 1
    assert isolated_before([TYPO, TYPO + timedelta(days=1), *days_ago(30, 10)]) == 0
    assert isolated_before(days_ago(150, 30, 20, 10)) == 0
    assert isolated_before([TYPO, NOW]) == 1  # one is always kept
    assert isolated_before([NOW]) == 0


# --- One chart for a phone and a desktop ------------------------------------------------------


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", html, re.S)]


def test_a_responsive_chart_is_two_drawings_that_fill_their_box():
    html = str(
        responsive_chart(
            entries(*days_ago(40, 20, 2)),
            title="PHQ-9 over time",
            y_min=0,
            y_max=27,
            bands=[Band(0, 4, "Minimal"), Band(5, 27, "More")],
            chart_id="chart-phq9",
        )
    )
    wide, phone = _svgs(html)
    assert (wide.get("id"), phone.get("id")) == ("chart-phq9", "chart-phq9-phone")
    for svg in (wide, phone):
        assert svg.get("width") == "100%" and svg.get("height") is None  # no fixed size
    # The phone's drawing is narrower in its own units with larger type: 13 units drawn at
    # 340-360 px wide are 13 px or more on a 390 px screen.
    assert wide.get("viewBox").split()[2] == "600"
    assert phone.get("viewBox").split()[2] == "340"
    assert phone.get("font-size") == "13"
    sizes = [float(t.get("font-size")) for t in phone.iter() if t.get("font-size")]
    assert min(sizes) >= 13
    # No band label beside the phone's plot: the bands are named under it instead.
    assert "Minimal" not in "".join(t.text or "" for t in phone.iter("{*}text"))
    assert '<p class="chart-key">Shaded bands: 0–4 Minimal · 5–27 More</p>' in html


def test_the_two_drawings_are_each_what_line_chart_draws_alone():
    # The drawings share the work that is the same for both (points in time order, tooltips):
    # each is still exactly the chart drawn on its own, for every marker shape.
    whens = days_ago(40, 20, 9, 2)
    series = [
        Series(
            f"Item <{n}>",
            [Point(w, (n + i) % 11, "a & b") for i, w in enumerate(whens)],
            f"series-{n}",
        )
        for n in range(1, 7)
    ]
    series.append(Series("Same points, another name", series[0].points, "series-2"))
    markers = [Marker(NOW - timedelta(days=30), "Session 1")]
    options = {"title": "Ratings", "y_min": 0, "y_max": 10, "markers": markers}
    html = str(responsive_chart(series, chart_id="c", **options))
    wide = line_chart(
        series, chart_id="c", width=WIDE[0], font_size=WIDE[1], css_class="chart-wide", **options
    )
    phone = line_chart(
        series,
        chart_id="c-phone",
        width=PHONE[0],
        font_size=PHONE[1],
        compact=True,
        css_class="chart-phone",
        **options,
    )
    assert html == f'<div class="chart-box">{wide}{phone}</div>'
    assert html.count("Session 1, ") == 2
    assert html.count("Same points, another name, ") == html.count("Item &lt;1&gt;, ") == 8


def test_a_sparkline_is_a_small_labelled_image_of_the_values():
    svg = ET.fromstring(str(sparkline([14, 12, 9, 6], label="PHQ-9 <last 4>", y_min=0, y_max=27)))
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "PHQ-9 <last 4>"
    (path,) = svg.iter("{http://www.w3.org/2000/svg}path")
    ys = [float(y) for y in re.findall(r"[ML][\d.]+ ([\d.]+)", path.get("d"))]
    assert ys == sorted(ys)  # falling scores sit lower and lower (y grows downwards)
    assert not list(svg.iter("{http://www.w3.org/2000/svg}text"))
