"""The Trends page's server-side SVG charts (kap.lib.charts)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils.safestring import SafeString

from kap.lib.charts import MAX_POINT_MARKERS, Band, Marker, Point, Series, line_chart

NS = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 3, 9, 30)
CSS = Path(__file__).resolve().parents[2] / "kap" / "static" / "kap" / "charts.css"
PHQ9_BANDS = [
    Band(0, 4, "Minimal"),
    Band(5, 9, "Mild"),
    Band(10, 14, "Moderate"),
    Band(15, 19, "Moderately severe"),
    Band(20, 27, "Severe"),
]


def weekly(values, *, start=START, label="") -> list[Point]:
    return [Point(start + timedelta(weeks=i), v, label) for i, v in enumerate(values)]


def render(series, **options) -> ET.Element:
    options.setdefault("title", "PHQ-9 over time")
    options.setdefault("y_min", 0)
    options.setdefault("y_max", 27)
    return ET.fromstring(str(line_chart(series, **options)))


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def points(root: ET.Element) -> list[ET.Element]:
    return with_class(root, "point")


def centre(e: ET.Element) -> tuple[float, float]:
    """The middle of a point marker, whichever shape it is."""
    if e.tag == NS + "circle":
        return float(e.get("cx")), float(e.get("cy"))
    if e.tag == NS + "rect":
        return (
            float(e.get("x")) + float(e.get("width")) / 2,
            float(e.get("y")) + float(e.get("height")) / 2,
        )
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", e.get("d"))]
    return numbers[0], sum(numbers[1::2]) / len(numbers[1::2])


def tooltip(e: ET.Element) -> str:
    return e.find(NS + "title").text


def text_of(root: ET.Element, css_class: str) -> list[str]:
    return ["".join(e.itertext()) for e in with_class(root, css_class)]


# --- The whole picture -------------------------------------------------------------------------


def test_the_chart_is_well_formed_svg_with_a_title_a_summary_and_the_image_role():
    svg = line_chart(
        [Series("PHQ-9", weekly([14, 11, 8], label="Mild"))],
        title="PHQ-9 over time",
        y_min=0,
        y_max=27,
        chart_id="phq9",
    )
    assert isinstance(svg, SafeString)
    root = ET.fromstring(str(svg))
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("class") == "chart"
    assert root.get("viewBox") == "0 0 640 260"
    assert root.get("aria-labelledby") == "phq9-title phq9-desc"
    title, desc = root.find(NS + "title"), root.find(NS + "desc")
    assert (title.get("id"), title.text) == ("phq9-title", "PHQ-9 over time")
    assert desc.get("id") == "phq9-desc"
    assert desc.text == (
        "3 entries from 3 Nov 2026 to 17 Nov 2026; PHQ-9: first 14 (Mild), latest 8 (Mild)."
    )


def test_the_summary_covers_every_series_in_one_sentence():
    root = render(
        [
            Series("Mood", weekly([4, 6, 7])),
            Series("Sleep", weekly([5.5]), "series-2"),
            Series("Energy", [], "series-3"),
        ],
        y_max=10,
    )
    desc = root.find(NS + "desc").text
    assert desc == (
        "4 entries from 3 Nov 2026 to 17 Nov 2026; Mood: first 4, latest 7; Sleep: 5.5; "
        "Energy: no entries."
    )
    assert desc.count(".") == 2  # the decimal point, and the full stop at the end


def test_nothing_is_styled_inline_so_a_strict_content_security_policy_allows_it():
    root = render(
        [Series("PHQ-9", weekly([3, 12, 22, 30])), Series("GAD-7", weekly([1, 5]), "series-2")],
        bands=PHQ9_BANDS,
        markers=[Marker(START + timedelta(days=3), "Session 1")],
        y_label="Score",
    )
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert element.tag not in (NS + "style", NS + "script", NS + "foreignObject")
        assert not any(name.startswith("on") for name in element.attrib)
        assert "href" not in " ".join(element.attrib)  # nothing fetched from anywhere


# --- Points and lines --------------------------------------------------------------------------


def test_every_entry_gets_a_point_with_a_tooltip_giving_its_date_value_and_label():
    root = render([Series("PHQ-9", weekly([14, 11, 8], label="Moderate"))])
    found = points(root)
    assert len(found) == 3
    assert tooltip(found[0]) == "PHQ-9, 3 Nov 2026, 09:30: 14 (Moderate)"
    assert tooltip(found[2]) == "PHQ-9, 17 Nov 2026, 09:30: 8 (Moderate)"


def test_a_tooltip_leaves_out_a_midnight_time_and_an_empty_label():
    root = render([Series("Mood", [Point(datetime(2026, 11, 3), 6.25)])], y_max=10)
    assert tooltip(points(root)[0]) == "Mood, 3 Nov 2026: 6.25"


def test_later_entries_sit_further_right_and_higher_values_sit_higher_up():
    root = render([Series("Mood", weekly([2, 5, 9, 7]))], y_max=10)
    xs, ys = zip(*(centre(p) for p in points(root)), strict=True)
    assert xs[0] < xs[1] < xs[2] < xs[3]
    # SVG's y grows downwards: a higher value has a smaller y.
    assert ys[0] > ys[1] > ys[2]
    assert ys[3] > ys[2]


def test_the_line_joins_the_points_in_time_order_even_when_given_out_of_order():
    given = weekly([2, 5, 9, 7])
    root = render([Series("Mood", [given[2], given[0], given[3], given[1]])], y_max=10)
    (line,) = with_class(root, "line")
    vertices = re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", line.get("d"))
    xs = [float(x) for x, _ in vertices]
    assert len(vertices) == 4
    assert xs == sorted(xs)
    assert [centre(p)[0] for p in points(root)] == pytest.approx(xs)
    assert line.get("fill") == "none"


def test_y_ticks_are_whole_numbers_inside_the_range_and_ordered_up_the_axis():
    root = render([Series("PHQ-9", weekly([3]))])
    (axis,) = with_class(root, "axis-y")
    ticks = [e for e in axis.iter(NS + "text")]
    labels = [int(t.text) for t in ticks]
    assert labels == [0, 5, 10, 15, 20, 25]
    ys = [float(t.get("y")) for t in ticks]
    assert ys == sorted(ys, reverse=True)


def test_series_differ_by_colour_class_dash_and_marker_shape_and_are_named_in_a_legend():
    root = render(
        [
            Series("PHQ-9", weekly([10, 8])),
            Series("GAD-7", weekly([9, 7]), "series-2"),
            Series("Mood", weekly([3, 4]), "series-3"),
        ]
    )
    groups = [g for g in with_class(root, "series") if "legend-item" not in g.get("class")]
    assert [g.get("class") for g in groups] == [
        "series series-1",
        "series series-2",
        "series series-3",
    ]
    shapes = [{p.tag for p in points(g)} for g in groups]
    assert shapes == [{NS + "circle"}, {NS + "rect"}, {NS + "path"}]
    assert text_of(root, "legend-label") == ["PHQ-9", "GAD-7", "Mood"]
    css = CSS.read_text()
    for n in range(1, 7):
        assert f".series-{n}" in css
    dashes = re.findall(r"\.series-\d \.line \{ stroke-dasharray: ([^;]+);", css)
    assert len(dashes) == len(set(dashes)) == 5  # series-1 is solid


def test_a_single_series_needs_no_legend():
    assert not with_class(render([Series("PHQ-9", weekly([10, 8]))]), "legend")


# --- Bands and markers -------------------------------------------------------------------------


def test_bands_are_shaded_over_their_values_with_their_label_beside_them():
    root = render([Series("PHQ-9", weekly([2, 7, 12, 17, 23]))], bands=PHQ9_BANDS)
    rects = with_class(root, "band")
    assert [r.get("class") for r in rects] == [f"band band-{i}" for i in range(1, 6)]
    assert text_of(root, "band-label") == [b.label for b in PHQ9_BANDS]
    label_ys = [float(t.get("y")) for t in with_class(root, "band-label")]
    point_ys = [centre(p)[1] for p in points(root)]
    for rect, label_y, point_y in zip(rects, label_ys, point_ys, strict=True):
        top = float(rect.get("y"))
        bottom = top + float(rect.get("height"))
        assert top < label_y < bottom
        assert top < point_y < bottom  # 2 is Minimal, 7 Mild, 12 Moderate …
    # Labels sit to the right of the plot.
    right_edge = float(rects[0].get("x")) + float(rects[0].get("width"))
    assert all(float(t.get("x")) > right_edge for t in with_class(root, "band-label"))


def test_neighbouring_whole_number_bands_meet_without_a_bare_strip():
    root = render([Series("PHQ-9", weekly([3]))], bands=PHQ9_BANDS)
    rects = with_class(root, "band")
    for lower, upper in zip(rects, rects[1:], strict=False):
        assert float(upper.get("y")) + float(upper.get("height")) == pytest.approx(
            float(lower.get("y")),
            abs=0.15,  # coordinates are rounded to 0.1
        )
    y_axis = with_class(root, "axis-line")[0]
    assert float(rects[-1].get("y")) == float(y_axis.get("y1"))  # "Severe" reaches the top
    assert float(rects[0].get("y")) + float(rects[0].get("height")) == pytest.approx(
        float(y_axis.get("y2")), abs=0.15
    )


def test_a_session_marker_is_a_dashed_line_at_its_date():
    root = render(
        [Series("PHQ-9", weekly([14, 10, 7]))],  # 3 Nov, 10 Nov, 17 Nov
        markers=[Marker(START + timedelta(days=7), "Session 3")],
    )
    (line,) = with_class(root, "marker")
    first, middle, last = (centre(p)[0] for p in points(root))
    assert float(line.get("x1")) == float(line.get("x2")) == pytest.approx(middle, abs=0.1)
    assert first < float(line.get("x1")) < last
    assert line.get("stroke-dasharray")
    assert text_of(root, "marker-label") == ["Session 3"]


def test_markers_outside_the_entries_widen_the_time_axis_to_include_them():
    before, after = START - timedelta(days=30), START + timedelta(days=60)
    root = render(
        [Series("PHQ-9", weekly([14, 10, 7]))],
        markers=[Marker(before, "Preparation"), Marker(after, "Follow-up")],
    )
    early, late = (float(m.get("x1")) for m in with_class(root, "marker"))
    xs = [centre(p)[0] for p in points(root)]
    assert early < min(xs) and late > max(xs)
    (axis,) = with_class(root, "axis-line")[:1]
    assert float(axis.get("x1")) <= early < late <= float(root.get("viewBox").split()[2])


def test_crowded_marker_labels_are_staggered_rather_than_drawn_on_top_of_each_other():
    root = render(
        [Series("PHQ-9", weekly([14, 10, 7, 5, 4, 3, 3, 2, 2]))],
        markers=[Marker(START + timedelta(days=d), f"Session {d}") for d in (10, 11, 12)],
    )
    assert len({t.get("y") for t in with_class(root, "marker-label")}) == 3


# --- Escaping ----------------------------------------------------------------------------------


def test_user_and_pack_text_is_escaped_and_reads_back_as_plain_text():
    evil = "<script>alert(\"x\")</script> & 'friends'"
    svg = str(
        line_chart(
            [Series(evil, weekly([3, 4], label=evil), css_class='series-2" onload="x')],
            title=evil,
            y_min=0,
            y_max=10,
            y_label=evil,
            bands=[Band(0, 5, evil)],
            markers=[Marker(START + timedelta(days=2), evil)],
            chart_id='x" onload="alert(1)',
        )
    )
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    root = ET.fromstring(svg)
    assert root.find(NS + "title").text == evil
    assert evil in root.find(NS + "desc").text
    assert text_of(root, "axis-label") == [evil]
    assert text_of(root, "band-label")[0].startswith("<script>")  # shortened, still text
    assert tooltip(points(root)[0]).startswith(evil)
    assert not any(e.tag.endswith("script") for e in root.iter())
    assert not any(name.startswith("on") for e in root.iter() for name in e.attrib)
    assert re.fullmatch(r"[A-Za-z][\w-]*", root.get("id"))
    (group,) = [g for g in with_class(root, "series") if g.find(f"{NS}g") is not None]
    assert group.get("class") == "series series-2 onloadx"


def test_characters_xml_cannot_hold_are_dropped():
    root = render([Series("Mood\x00\x1b", weekly([3]), "series-1")], title="Bell\x07", y_max=5)
    assert root.find(NS + "title").text == "Bell"


# --- Edge cases --------------------------------------------------------------------------------


def test_no_entries_shows_a_clear_message_instead_of_an_empty_plot():
    for series in ([], [Series("PHQ-9", [])]):
        root = render(series, markers=[Marker(START, "Session 1")])
        assert text_of(root, "empty") == ["No entries yet"]
        assert root.find(NS + "desc").text == "No entries yet."
        assert not points(root) and not with_class(root, "line")
        assert not with_class(root, "marker")


def test_one_entry_is_a_single_point_without_a_line_and_with_a_readable_date():
    root = render([Series("PHQ-9", [Point(START, 9, "Mild")])])
    (point,) = points(root)
    assert not with_class(root, "line")
    assert root.find(NS + "desc").text == "1 entry on 3 Nov 2026; PHQ-9: 9 (Mild)."
    (axis,) = with_class(root, "axis-x")
    labels = [t.text for t in axis.iter(NS + "text")]
    assert labels and all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2}( \d{4})?", t) for t in labels)
    # The point sits inside the plot, not on its edge.
    x_axis = with_class(root, "axis-line")[1]
    assert float(x_axis.get("x1")) < centre(point)[0] < float(x_axis.get("x2"))


def test_entries_all_on_one_day_still_get_a_time_axis_a_day_either_side():
    day = [Point(START + timedelta(hours=h), v) for h, v in ((0, 3), (4, 5), (8, 4))]
    root = render([Series("Mood", day)], y_max=10)
    xs = [centre(p)[0] for p in points(root)]
    assert xs[0] < xs[1] < xs[2]
    (axis,) = with_class(root, "axis-x")
    assert [t.text for t in axis.iter(NS + "text")] == ["3 Nov 2026", "4 Nov"]


def test_values_outside_the_range_are_drawn_at_the_edge_but_keep_their_real_value():
    root = render([Series("Mood", weekly([-3, 5, 14]))], y_max=10)
    low, middle, high = points(root)
    grid = [float(line.get("y1")) for line in with_class(root, "grid")[0]]
    assert centre(low)[1] == pytest.approx(max(grid))  # the 0 line
    assert centre(high)[1] == pytest.approx(min(grid))  # the 10 line
    assert "clamped" in low.get("class") and "clamped" in high.get("class")
    assert "clamped" not in middle.get("class")
    assert tooltip(high).endswith(": 14")


def test_values_that_are_not_numbers_are_left_out():
    root = render([Series("Mood", weekly([3, float("nan"), 5, float("inf")]))], y_max=10)
    assert len(points(root)) == 2


def test_an_empty_value_range_is_refused():
    with pytest.raises(ValueError, match="y_max"):
        line_chart([], title="Broken", y_min=5, y_max=5)


def test_timezone_aware_entries_get_ticks_at_local_midnight():
    zone = ZoneInfo("Australia/Sydney")
    entries = [
        Point(datetime(2026, 11, 3, 8, tzinfo=zone) + timedelta(days=i), i) for i in range(4)
    ]
    root = render([Series("Mood", entries)], y_max=10)
    (axis,) = with_class(root, "axis-x")
    assert [t.text for t in axis.iter(NS + "text")] == ["4 Nov 2026", "5 Nov", "6 Nov"]
    assert tooltip(points(root)[0]) == "Mood, 3 Nov 2026, 08:00: 0"


# --- Time axis labels --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "pattern"),
    [
        (6, r"\d{1,2} [A-Z][a-z]{2}( \d{4})?"),  # days: "3 Nov"
        (60, r"\d{1,2} [A-Z][a-z]{2}( \d{4})?"),  # weeks, on Mondays
        (300, r"[A-Z][a-z]{2} \d{4}"),  # months: "Nov 2026"
        (2000, r"\d{4}"),  # years
    ],
)
def test_time_axis_labels_suit_the_span_and_stay_few(days, pattern):
    entries = [
        Point(START + timedelta(days=d), d % 10) for d in range(0, days + 1, max(1, days // 30))
    ]
    root = render([Series("Mood", entries)], y_max=10)
    (axis,) = with_class(root, "axis-x")
    labels = [t.text for t in axis.iter(NS + "text")]
    assert 2 <= len(labels) <= 7
    assert all(re.fullmatch(pattern, label) for label in labels), labels
    assert labels[0][-4:].isdigit()  # the first tick always says which year


def test_weekly_ticks_fall_on_mondays():
    entries = [Point(START + timedelta(days=d), 5) for d in range(60)]
    root = render([Series("Mood", entries)], y_max=10)
    (axis,) = with_class(root, "axis-x")
    for label in (t.text for t in axis.iter(NS + "text")):
        day, month = label.split()[:2]
        year = 2027 if month == "Jan" else 2026
        assert datetime.strptime(f"{day} {month} {year}", "%d %b %Y").weekday() == 0


# --- Size --------------------------------------------------------------------------------------


def test_ten_years_of_daily_entries_keep_the_chart_small():
    start = datetime(2016, 1, 1, 8, tzinfo=UTC)
    entries = [Point(start + timedelta(days=d), d % 11) for d in range(3650)]
    root = render([Series("Mood", entries)], y_max=10)
    found = points(root)
    assert len(found) == MAX_POINT_MARKERS == 400
    # The markers are the latest entries; the line still covers them all.
    assert tooltip(found[-1]).startswith("Mood, 28 Dec 2025")
    (line,) = with_class(root, "line")
    assert line.get("d").count("L") > 400
    (axis,) = with_class(root, "axis-x")
    assert len(list(axis.iter(NS + "text"))) <= 7
    assert sum(1 for _ in root.iter()) < 1000


# --- Labels that do not fit, and averages drawn apart -------------------------------------------


def _label_extents(root: ET.Element, css_class: str, size: float) -> list[tuple[float, float, str]]:
    """(left, right, y) of each text of `css_class`, by the width the chart estimates (0.6 of the
    type size per character) and its anchor."""
    out = []
    for e in with_class(root, css_class):
        width = len("".join(e.itertext())) * size * 0.6
        x = float(e.get("x"))
        anchor = e.get("text-anchor") or "start"
        left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        out.append((left, left + width, e.get("y")))
    return out


def test_marker_labels_with_no_room_are_left_out_the_newest_kept_and_none_overlap():
    markers = [Marker(START + timedelta(hours=6 * d), f"Session {d}") for d in range(1, 13)]
    root = render([Series("PHQ-9", weekly([14, 10, 7, 5, 4]))], markers=markers)
    lines = with_class(root, "marker")
    assert len(lines) == 12  # every session keeps its line and its tooltip
    assert [tooltip(g).split(",")[0] for g in with_class(root, "marker-group")] == [
        m.label for m in markers
    ]
    labels = text_of(root, "marker-label")
    assert "Session 12" in labels and len(labels) < 12
    placed = _label_extents(root, "marker-label", 11)
    for i, (left, right, y) in enumerate(placed):
        for other_left, other_right, other_y in placed[i + 1 :]:
            if y == other_y:
                assert right <= other_left or other_right <= left, labels


def ten_years_then_three_months():
    """An average a year for ten years, then an entry a week for three months."""
    cutoff = datetime(2026, 9, 1, tzinfo=UTC)
    years = [Point(datetime(2016 + n, 7, 1, tzinfo=UTC), 10 + n % 3, "avg") for n in range(10)]
    weeks = [Point(cutoff + timedelta(days=3 + 7 * n), 5 + n % 4) for n in range(13)]
    return cutoff, years, weeks


def test_averages_of_older_years_take_a_share_of_the_width_and_recent_entries_the_rest():
    cutoff, years, weeks = ten_years_then_three_months()
    series = [Series("PHQ-9", years + weeks)]
    split = render(series, averaged_before=cutoff, width=600)
    even = render(series, width=600)

    (area,) = with_class(split, "averaged-area")
    left, right = float(area.get("x")), float(area.get("x")) + float(area.get("width"))
    (edge,) = with_class(split, "averaged-edge")
    assert float(edge.get("x1")) == pytest.approx(right, abs=0.1)
    axis = with_class(split, "axis-line")[1]  # the time axis
    plot_width = float(axis.get("x2")) - float(axis.get("x1"))
    assert right - left == pytest.approx(0.4 * plot_width, abs=0.2)
    assert text_of(split, "averaged-label") == ["Averages"]

    xs = [centre(p)[0] for p in points(split)]
    assert all(left < x < right for x in xs[:10])
    assert all(right < x for x in xs[10:])
    assert xs == sorted(xs)
    # Three months of entries spread over more than half the plot, not a few units at its end.
    assert xs[-1] - xs[10] > 0.5 * plot_width
    even_xs = [centre(p)[0] for p in points(even)]
    assert even_xs[-1] - even_xs[10] < 0.05 * plot_width
    assert not with_class(even, "averaged")


def test_averages_that_need_no_more_than_their_share_are_drawn_evenly_as_before():
    cutoff = datetime(2026, 9, 1, tzinfo=UTC)
    older = [Point(cutoff - timedelta(days=15), 9, "avg")]
    weeks = [Point(cutoff + timedelta(days=3 + 7 * n), 5 + n % 4) for n in range(13)]
    series = [Series("PHQ-9", older + weeks)]
    assert str(line_chart(series, title="t", y_min=0, y_max=27, averaged_before=cutoff)) == str(
        line_chart(series, title="t", y_min=0, y_max=27)
    )


def test_sessions_among_the_averages_are_ticks_with_a_tooltip_and_no_label():
    cutoff, years, weeks = ten_years_then_three_months()
    markers = [
        Marker(datetime(2026, 5, 1, 10, tzinfo=UTC), "Session 7"),
        Marker(cutoff + timedelta(days=20), "Session 8"),
    ]
    root = render([Series("PHQ-9", years + weeks)], markers=markers, averaged_before=cutoff)
    early, late = with_class(root, "marker-group")
    (tick,) = with_class(early, "marker-early")
    assert tooltip(early).startswith("Session 7, 1 May 2026")
    assert float(tick.get("y2")) - float(tick.get("y1")) == pytest.approx(8)
    assert not with_class(early, "marker-label")
    assert text_of(late, "marker-label") == ["Session 8"]
    (edge,) = with_class(root, "averaged-edge")
    assert (
        float(tick.get("x1"))
        < float(edge.get("x1"))
        < float(with_class(late, "marker")[0].get("x1"))
    )


def test_time_labels_of_both_parts_never_run_into_each_other():
    cutoff, years, weeks = ten_years_then_three_months()
    for width, size, compact in ((600, 12, False), (340, 13, True)):
        root = render(
            [Series("PHQ-9", years + weeks)],
            averaged_before=cutoff,
            width=width,
            font_size=size,
            compact=compact,
        )
        (axis,) = with_class(root, "axis-x")
        (edge,) = with_class(root, "averaged-edge")
        labels = [float(e.get("x")) for e in with_class(axis, "tick")]
        assert any(x < float(edge.get("x1")) for x in labels)  # a year among the averages
        assert any(x > float(edge.get("x1")) for x in labels)  # and months after them
        placed = sorted(_label_extents(axis, "tick", size))
        for (_left, right, _y), (left, _right, _y2) in zip(placed, placed[1:], strict=False):
            assert right + 6 <= left
