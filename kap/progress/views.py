"""Progress: trends over time, a summary to bring to therapy, and blank sheets to print.

Trends and summaries show a client's own records only: every query takes `request.user`, and
a therapist or clinic admin (who has no records of their own here) is politely sent home.
The blank sheets hold no one's data, so any signed-in person may print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache

from kap.accounts.decorators import client_required_or_home
from kap.content.models import Instrument
from kap.content.roles import roles_for
from kap.lib import chart_focus, charts, pdf
from kap.lib.chart_text import format_date
from kap.progress import change, summary, trends

STATIC_DIR = (Path(settings.BASE_DIR) / "static").resolve()
PDF_CSS = Path(__file__).resolve().parent.parent / "templates" / "progress" / "pdf.css"
# Lines of writing space under each item of a blank sheet, by the role its instrument plays
# (kap.content.roles): the worksheet asks for more writing than the others.
LINES = {"worksheet": 7}
DEFAULT_LINES = 5


# Trends and summaries are a client's own; other roles are sent home with a word why.
client_only = client_required_or_home(
    gettext_lazy(
        "Progress and summaries show a client's own records, so there is nothing "
        "to show for this account."
    )
)


# --- Trends -----------------------------------------------------------------------------------


def _averaged(period: change.Period, value: float | None, what: str = "") -> charts.Point:
    """A period's average as a point, labelled with how many `what` ("score", "rating",
    "practice"; else entries) it averages."""
    n = period.count
    if what == "score":
        words = ngettext(
            "average of %(count)s score, %(period)s", "average of %(count)s scores, %(period)s", n
        )
    elif what == "rating":
        words = ngettext(
            "average of %(count)s rating, %(period)s",
            "average of %(count)s ratings, %(period)s",
            n,
        )
    elif what == "practice":
        words = ngettext(
            "average of %(count)s practice, %(period)s",
            "average of %(count)s practices, %(period)s",
            n,
        )
    else:
        words = ngettext(
            "average of %(count)s entry, %(period)s", "average of %(count)s entries, %(period)s", n
        )
    return charts.Point(period.when, value, words % {"count": n, "period": period.label})


def _chart(series: list[charts.Series], markers: list[charts.Marker], **options) -> dict:
    """A chart for a phone and a desktop (charts.responsive_chart) whose time axis covers the
    entries, not a date typed by mistake (chart_focus.focus), and the sentence saying what it left
    out: {"svg": …, "note": …}."""
    focused = chart_focus.focus(series, markers)
    return {
        "svg": charts.responsive_chart(focused.series, markers=focused.markers, **options),
        "note": focused.note,
        "far": focused.markers_left_out,
    }


def _score_chart(
    trend: trends.ScoreTrend, shown, markers: list[charts.Marker], cutoff: datetime | None
) -> dict:
    periods, recent = shown
    top = change.number(trend.y_max)
    total = _("%(name)s total") % {"name": trend.name}
    return _chart(
        [
            charts.Series(
                total,
                [_averaged(p, p.mean, "score") for p in periods]
                + [charts.Point(p.when, p.total, p.band) for p in recent],
            )
        ],
        markers,
        title=_("%(name)s totals over time (0 to %(top)s)") % {"name": trend.name, "top": top},
        y_min=0,
        y_max=trend.y_max,
        bands=[charts.Band(b.min, b.max, b.label) for b in trend.bands],
        y_label=total,
        chart_id=f"chart-{trend.key}",
        averaged_before=cutoff if periods else None,
    )


def _outcomes_chart(
    outcomes: trends.OutcomesTrend,
    shown,
    markers: list[charts.Marker],
    cutoff: datetime | None,
) -> dict:
    periods, recent = shown
    series = [
        charts.Series(
            text,
            [_averaged(p, p.means[index], "rating") for p in periods if p.means[index] is not None]
            + [
                charts.Point(row.when, row.values[index])
                for row in recent
                if row.values[index] is not None
            ],
            css_class=f"series-{index + 1}",
        )
        for index, (_key, text) in enumerate(outcomes.items)
    ]
    return _chart(
        series,
        markers,
        title=_("%(title)s: each rated 0 to 10 over time") % {"title": outcomes.title},
        y_min=0,
        y_max=10,
        height=260 + 18 * len(series),
        y_label=_("Rating (0–10)"),
        chart_id="chart-outcomes",
        averaged_before=cutoff if periods else None,
    )


def _settled_chart(shown, markers: list[charts.Marker], cutoff: datetime | None) -> dict:
    periods, rows = shown
    before = [_averaged(p, p.means[0], "practice") for p in periods if p.means[0] is not None]
    before += [charts.Point(r.when, r.before, r.title) for r in rows if r.before is not None]
    after = [_averaged(p, p.means[1], "practice") for p in periods if p.means[1] is not None]
    after += [charts.Point(r.when, r.after, r.title) for r in rows if r.after is not None]
    return _chart(
        [
            charts.Series(_("Before the practice"), before, css_class="series-1"),
            charts.Series(_("After the practice"), after, css_class="series-2"),
        ],
        markers,
        title=_("How settled you felt before and after practices (0 to 10)"),
        y_min=0,
        y_max=10,
        y_label=_("Settled (0–10)"),
        chart_id="chart-settled",
        averaged_before=cutoff if periods else None,
    )


@dataclass(frozen=True)
class TableRow:
    """A row of a chart's table, in words: the entry's date or the period it averages, then a
    cell per column. Written out here (`__html__`) rather than value by value in the template,
    which costs twenty times as much a cell, and ten years of records make a hundred rows."""

    head: str
    cells: list[str]
    iso: str = ""  # a dated row's local moment, for <time datetime>
    note: str = ""  # said after the head, muted: "(average of 12)"

    def __html__(self) -> str:
        head = escape(self.head)
        if self.iso:
            head = f'<time datetime="{escape(self.iso)}">{head}</time>'
        if self.note:
            head += f' <span class="muted">{escape(self.note)}</span>'
        cells = "".join(f"<td>{escape(cell)}</td>" for cell in self.cells)
        return f'<tr><th scope="row">{head}</th>{cells}</tr>'


def _rows(table: list[TableRow]) -> SafeString:
    """The rows of a table's body, escaped (TableRow.__html__)."""
    return mark_safe("\n".join(row.__html__() for row in table))


def _dated(when: datetime, cells: list[str], *, clock: bool = False) -> TableRow:
    """A row for one entry, dated as "3 Nov 2026" (with the time of day when `clock`)."""
    local = timezone.localtime(when)
    day = format_date(local)
    if clock:
        day = f"{day}, {local:%H:%M}"
    return TableRow(day, cells, iso=local.isoformat())


def _averages(period: change.Period, cells: list[str]) -> TableRow:
    note = _("(average of %(n)s)") % {"n": period.count}
    return TableRow(period.label, cells, note=note)


def _values(values, none: str = "–") -> list[str]:
    return [none if v is None else change.number(v) for v in values]


def _score_table(shown) -> SafeString:
    periods, recent = shown
    return _rows(
        [_averages(p, [*_values([p.mean]), "–"]) for p in periods]
        + [_dated(p.when, [change.number(p.total), p.band or "–"]) for p in recent]
    )


def _outcomes_table(shown) -> SafeString:
    periods, recent = shown
    return _rows(
        [_averages(p, _values(p.means)) for p in periods]
        + [_dated(r.when, _values([*r.values, r.mean])) for r in recent]
    )


def _settled_table(shown) -> SafeString:
    periods, rows = shown
    table = []
    for p in periods:
        words = ngettext("Average of %(n)s practice", "Average of %(n)s practices", p.count)
        table.append(TableRow(p.label, [words % {"n": p.count}, *_values(p.means)]))
    for r in rows:
        before, after = (("–" if v is None else str(v)) for v in (r.before, r.after))
        table.append(_dated(r.when, [r.title, before, after], clock=True))
    return _rows(table)


@client_only
def trends_view(request: HttpRequest) -> HttpResponse:
    data = trends.trends(request.user)
    # Before the cutoff (two to three months before the latest entry), averages per period:
    # the page shows a whole history at about the size of three months of it.
    cutoff = data.cutoff
    markers = [charts.Marker(s.when, s.label) for s in data.sessions]
    scores = []
    for trend in data.scores.values():
        shown = (trend.periods, trend.points)  # averaged in SQL before the cutoff
        scores.append(
            {
                "trend": trend,
                "periods": shown[0],
                "table": _score_table(shown),
                "chart": _score_chart(trend, shown, markers, cutoff) if trend.count else None,
                "change": trend.change.sentences() if trend.change else [],
            }
        )
    outcomes = data.outcomes
    outcomes_shown = ([], [])
    if outcomes and outcomes.rows:
        values = [lambda r, i=i: r.values[i] for i in range(len(outcomes.items))]
        outcomes_shown = change.condense(outcomes.rows, cutoff, [*values, lambda r: r.mean])
    settled = (data.practice_periods, data.practices)  # averaged in SQL before the cutoff
    outcomes_chart = (
        _outcomes_chart(outcomes, outcomes_shown, markers, cutoff)
        if outcomes and outcomes.rows
        else None
    )
    settled_chart = _settled_chart(settled, markers, cutoff) if data.practices_last else None
    drawn = [s["chart"] for s in scores if s["chart"]] + [
        c for c in (outcomes_chart, settled_chart) if c
    ]
    # Sessions some chart could not mark, once for the page; one set apart from the others (a
    # mistyped year?) has a note of its own.
    apart = {s.when for s in data.set_apart}
    far = [m for c in drawn for m in c["far"] if m.when not in apart]
    return render(
        request,
        "progress/trends.html",
        {
            "data": data,
            "scores": scores,
            "cutoff": cutoff,
            "outcomes": outcomes,
            "outcome_periods": outcomes_shown[0],
            "outcome_table": _outcomes_table(outcomes_shown),
            "outcomes_chart": outcomes_chart,
            "practice_periods": settled[0],
            "practice_table": _settled_table(settled),
            "settled_chart": settled_chart,
            "far_sessions": chart_focus.far_markers_note(far),
        },
    )


# --- Summary ----------------------------------------------------------------------------------


@client_only
def summary_form(request: HttpRequest) -> HttpResponse:
    session = summary.last_session(request.user)
    form = summary.SummaryForm(last_session=session)
    return render(request, "progress/summary_form.html", {"form": form, "session": session})


def _chosen(request: HttpRequest):
    """(form, summary): the summary is None when the choice needs correcting."""
    session = summary.last_session(request.user)
    form = summary.form_from_query(request.GET, last_session=session)
    if not form.is_valid():
        return form, None
    period = summary.period_for(form.cleaned_data["since"], session)
    return form, summary.build_summary(
        request.user, period=period, sections=form.cleaned_data["sections"]
    )


def _form_again(request: HttpRequest, form) -> HttpResponse:
    return render(request, "progress/summary_form.html", {"form": form}, status=400)


@client_only
@never_cache
def summary_view(request: HttpRequest) -> HttpResponse:
    form, made = _chosen(request)
    if made is None:
        return _form_again(request, form)
    return render(
        request,
        "progress/summary.html",
        {"summary": made, "query": request.GET.urlencode()},
    )


@client_only
@never_cache
def summary_pdf(request: HttpRequest) -> HttpResponse:
    form, made = _chosen(request)
    if made is None:
        return _form_again(request, form)
    return _pdf(
        request, "progress/summary_pdf.html", {"summary": made}, summary.filename(made.made_on)
    )


# --- Blank sheets -----------------------------------------------------------------------------


def _lines_for(roles, key: str) -> int:
    """Lines of writing space for the sheet `key`: by the role it plays, if it plays one."""
    role = next((r for r in LINES if roles.key(r) == key), None)
    return LINES[role] if role else DEFAULT_LINES


def _blank_context(request: HttpRequest, key: str) -> dict:
    roles = roles_for(request.user)
    if key not in trends.blank_sheet_keys(roles):
        raise Http404("There is no blank version of that sheet.")
    instrument = Instrument.objects.resolve(request.user, key)
    if instrument is None:
        raise Http404("The guide has not been loaded yet.")
    if not instrument.parsed.has_free_text:
        raise Http404("There is no blank version of that sheet.")
    return {
        "instrument": instrument,
        "spec": instrument.parsed,
        "lines": range(_lines_for(roles, key)),
    }


def blank(request: HttpRequest, key: str) -> HttpResponse:
    return render(request, "progress/blank.html", _blank_context(request, key))


def blank_pdf(request: HttpRequest, key: str) -> HttpResponse:
    return _pdf(request, "progress/blank_pdf.html", _blank_context(request, key), f"kap-{key}.pdf")


# --- PDF --------------------------------------------------------------------------------------


def _pdf(request: HttpRequest, template: str, context: dict, name: str) -> HttpResponse:
    """`template` as a PDF download; it may use the static folder's files, and nothing else."""
    context = {**context, "made_at": timezone.localtime(), "page_css": pdf.page_footer_css()}
    html = render_to_string(template, context, request=request)
    return pdf.pdf_response(html, name, PDF_CSS, STATIC_DIR)
