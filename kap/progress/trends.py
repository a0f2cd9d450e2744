"""What a person's records look like over time: scores, their ratings of the packs' outcomes, how
settled they felt around practices, and what they wrote after each session.

Pure data assembly for the Trends page and the summary. `trends()` takes a fixed number of
queries however much a person has recorded; drawing is left to the views (kap.lib.charts).
Words about change are chosen here so that they are tested in one place, and they describe,
never diagnose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    Count,
    Expression,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kap.accounts.models import Scope as Sharing
from kap.content.models import Instrument, Scope
from kap.content.roles import Followed, Roles, imported_measures, roles_for
from kap.content.specs import Band, InstrumentSpec, Measure
from kap.journal.models import ActionStep, Insight, KapSession, Response
from kap.journal.scores import ScorePoint, scored
from kap.lib.chart_focus import isolated_before
from kap.lib.chart_text import format_date
from kap.practices.models import PracticeLog
from kap.progress.change import (
    Change,
    Period,
    and_join,
    change_between,
    cutoff_for,
    periods_before,
)

# Which instruments are which (the measures followed over time, the outcomes, the worksheet) is
# said by the packs (kap.content.roles), and so are the published rules for the words
# "response" and "remission" (each measure's response_fraction and remission_below). Neither
# word is a diagnosis.
# The latest completed sessions described after the charts and marked on them.
SHOWN_SESSIONS = 12


# --- What the Trends page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class ScoreTrend:
    key: str  # the instrument key its responses are stored under
    name: str  # "PHQ-9", or an imported questionnaire's title
    title: str  # the instrument's title
    y_max: float
    bands: list[Band]
    points: list[ScorePoint]  # those from the cutoff on (TrendsData.cutoff), one by one
    measure: Measure | None = None
    periods: list[Period] = field(default_factory=list)  # before the cutoff, averaged
    first: ScorePoint | None = None
    last: ScorePoint | None = None
    count: int = 0  # how many scores in all

    @property
    def change(self) -> Change | None:
        if not (self.first and self.last):
            return None
        return change_between(
            self.name, self.measure, self.first.total, self.last.total, self.count
        )


@dataclass(frozen=True)
class OutcomeRow:
    when: datetime
    values: list[float | None]  # one per item, in the spec's order
    mean: float | None


@dataclass(frozen=True)
class OutcomesTrend:
    key: str  # the outcomes instrument (the packs' role "outcomes"), to link to its form
    title: str
    items: list[tuple[str, str]]  # (key, text)
    rows: list[OutcomeRow]


@dataclass(frozen=True)
class PracticeRow:
    when: datetime
    title: str
    before: int | None
    after: int | None


@dataclass(frozen=True)
class SessionCounts:
    """A completed KAP session (numbered from the first) and what was written about it.

    A session dated far before all the others (see `session_counts`) has no number: it is
    named by its date, so that a mistyped year does not renumber every other session."""

    number: int | None
    pk: int
    when: datetime
    insights: int
    worksheets: int
    steps: int
    steps_done: int

    @property
    def label(self) -> str:
        if self.number is None:
            day = format_date(timezone.localtime(self.when))
            return _("Session on %(day)s") % {"day": day}
        return _("Session %(number)s") % {"number": self.number}

    @property
    def link_words(self) -> SafeString:
        """The words of a link to the session, its day in a <time> element."""
        local = timezone.localtime(self.when)
        words = {
            "number": self.number,
            "iso": local.isoformat(),
            "day": format_date(local, long=True),
        }
        if self.number is None:
            text = _('Open the session on <time datetime="%(iso)s">%(day)s</time>')
        else:
            text = _('Open session %(number)s (<time datetime="%(iso)s">%(day)s</time>)')
        return mark_safe(text % {key: escape(value) for key, value in words.items()})

    @property
    def set_apart(self) -> bool:
        return self.number is None

    @property
    def sentence(self) -> str:
        wrote = []
        if self.insights:
            wrote.append(
                ngettext("%(count)s insight", "%(count)s insights", self.insights)
                % {"count": self.insights}
            )
        if self.worksheets:
            wrote.append(
                ngettext(
                    "%(count)s integration worksheet",
                    "%(count)s integration worksheets",
                    self.worksheets,
                )
                % {"count": self.worksheets}
            )
        steps = ""
        if self.steps == 1 and self.steps_done:
            steps = _("your action step is done")
        elif self.steps and self.steps_done:
            steps = ngettext(
                "%(done)s of %(count)s action step are done",
                "%(done)s of %(count)s action steps are done",
                self.steps,
            ) % {"done": self.steps_done, "count": self.steps}
        elif self.steps:
            steps = ngettext(
                "you set %(count)s action step", "you set %(count)s action steps", self.steps
            ) % {"count": self.steps}
        if self.number is None:
            day = format_date(timezone.localtime(self.when), long=True)
            opening = _("After the session on %(day)s") % {"day": day}
        else:
            opening = _("After session %(number)s") % {"number": self.number}
        words = {"opening": opening, "wrote": and_join(wrote), "steps": steps}
        if wrote and steps:
            if len(wrote) > 1:
                return _("%(opening)s you wrote %(wrote)s, and %(steps)s.") % words
            return _("%(opening)s you wrote %(wrote)s and %(steps)s.") % words
        if wrote:
            return _("%(opening)s you wrote %(wrote)s.") % words
        if steps:
            return _("%(opening)s, %(steps)s.") % words
        return (
            _("%(opening)s nothing is written yet. A few words are enough, whenever you like.")
            % words
        )


@dataclass(frozen=True)
class TrendsData:
    scores: dict[str, ScoreTrend]  # by instrument key: the measures followed (measures_for)
    outcomes: OutcomesTrend | None
    practices: list[PracticeRow]  # rated practices from the cutoff on, one by one
    sessions: list[SessionCounts]  # the latest SHOWN_SESSIONS completed, oldest first
    blank_sheets: list[tuple[str, str]] = field(default_factory=list)  # (key, title)
    practice_periods: list[Period] = field(default_factory=list)  # before the cutoff, averaged
    practices_last: datetime | None = None  # the latest rated practice

    sessions_in_all: int = 0  # completed sessions in all, numbered or not

    @property
    def sessions_total(self) -> int:
        """How many sessions were completed in all."""
        return self.sessions_in_all or len(self.sessions)

    @property
    def earlier_sessions(self) -> int:
        return self.sessions_total - len(self.sessions)

    @property
    def numbered(self) -> list[SessionCounts]:
        return [s for s in self.sessions if s.number is not None]

    @property
    def set_apart(self) -> list[SessionCounts]:
        """Sessions dated far before the others: not numbered (a mistyped year?)."""
        return [s for s in self.sessions if s.number is None]

    @property
    def latest(self) -> datetime | None:
        whens = [t.last.when for t in self.scores.values() if t.last]
        if self.outcomes and self.outcomes.rows:
            whens.append(self.outcomes.rows[-1].when)
        if self.practices_last:
            whens.append(self.practices_last)
        return max(whens, default=None)

    @property
    def cutoff(self) -> datetime | None:
        """Before this, the page shows averages per period (see condense)."""
        return cutoff_for(self.latest)

    @property
    def is_empty(self) -> bool:
        return (
            not any(t.count for t in self.scores.values())
            and not (self.outcomes and self.outcomes.rows)
            and not self.practices_last
        )


# Sheets that can be printed blank (see kap.progress.views.blank): the instruments of these roles,
# then the other written reflections the packs share under "worksheets".
BLANK_ROLES = ("preparation", "intention", "worksheet")


def blank_sheet_keys(roles: Roles) -> list[str]:
    """Keys of the instruments that can be printed blank to write on by hand, in this order:
    the preparation, the intention and the worksheet, then the packs' other reflections (what
    they share under "worksheets"). Whether each has something to write is checked against its
    spec (`blank_sheets`)."""
    keys = roles.keys(*BLANK_ROLES) + roles.shared_keys(Sharing.WORKSHEETS)
    return list(dict.fromkeys(keys))


def blank_sheets(roles: Roles, specs) -> list[tuple[str, str]]:
    """(key, title) of the blank sheets this person can print: those loaded, with free text."""
    return [
        (key, specs[key][0].title)
        for key in blank_sheet_keys(roles)
        if key in specs and specs[key][1].has_free_text
    ]


def current_specs(
    client, keys: tuple[str, ...] | list[str], *, with_imports: bool = False
) -> dict[str, tuple[Instrument, InstrumentSpec]]:
    """What each key asked for means for this person (Instrument.objects.for_person), in one
    query; `with_imports` adds the questionnaires they imported themselves (personal), so that
    those that are a known measure can be found (kap.content.roles.imported_measures)."""
    wanted = Q(key__in=keys)
    if with_imports:
        wanted |= Q(scope=Scope.PERSONAL)
    return {i.key: (i, i.parsed) for i in Instrument.objects.for_person(client).filter(wanted)}


def followed_in(roles: Roles, specs) -> list[Followed]:
    """The measures followed for this person (as kap.content.roles.measures_for finds them),
    from instruments already loaded with `current_specs(..., with_imports=True)`: the packs'
    measures that are loaded, then the person's imports that are one of them."""
    packs = [Followed(m.instrument, m.label, m) for m in roles.measures if m.instrument in specs]
    return packs + imported_measures(roles, [i for i, _ in specs.values()])


def bands_of(followed: Followed, specs) -> tuple[float | None, list[Band], object]:
    """(scale maximum, bands, scoring that names a total's band) of a followed measure: its own,
    or, for an import that has none, those of the pack's instrument for the same measure."""
    own = specs[followed.key][1].scoring
    pack = specs.get(followed.measure.instrument)
    borrowed = pack[1].scoring if pack else None
    rule = own if own and own.bands else (borrowed or own)
    top = own.max if own and own.max is not None else (rule.max if rule else None)
    return top, list(rule.bands) if rule else [], rule


def banded(point: ScorePoint, rule) -> ScorePoint:
    """A score with its band: an import without bands of its own takes its measure's, by the
    scoring `rule` that `bands_of` found (None: none to take)."""
    if point.band or rule is None:
        return point
    band = rule.band_for(point.total)
    return ScorePoint(point.when, point.total, band.label if band else "")


def _per_session(model, **match) -> Coalesce:
    """How many rows of `model` belong to the session of the outer query (a correlated count).

    A subquery per count keeps the joins from multiplying each other's rows.
    """
    rows = (
        model.objects.filter(session=OuterRef("pk"), client=OuterRef("client"), **match)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


# The earliest sessions looked at for one dated far before the rest (kap.lib.chart_focus: a
# mistyped year): more than this many such sessions in a row would be a history, not a typo.
PROBED_SESSIONS = 4


def session_counts(
    client, latest: int | None = None, *, worksheet: str | None = None
) -> list[SessionCounts]:
    """Completed sessions, oldest first, numbered from the first, with what was written about
    each: one query. With `latest`, only the newest `latest` of them (still numbered from the
    first), so that the work stays the same however many sessions there were. `worksheet` is the
    key of the packs' worksheet (roles "worksheet"); without one, none is counted.

    A session dated far before all the others (1999, typed for 2026: see
    kap.lib.chart_focus.isolated_before) is not numbered, and the numbers start after it, so that
    one mistyped year does not renumber every session. The dates of the earliest few sessions and of
    the latest come with every row (subqueries), so this costs no query of its own."""
    counts, _in_all = _session_counts(client, latest, worksheet=worksheet)
    return counts


def session_markers(client, latest: int = SHOWN_SESSIONS) -> list[SessionCounts]:
    """The latest completed sessions, numbered as `session_counts` numbers them, without
    looking at anything else: for whom the sessions are shared with but not what was written
    about them (a therapist's charts). Their counts are all 0."""
    found, _in_all = _session_counts(client, latest, counted=False)
    return found


def _session_counts(
    client, latest: int | None = None, *, worksheet: str | None = None, counted: bool = True
) -> tuple[list[SessionCounts], int]:
    """session_counts, and how many sessions were completed in all. Not `counted`: no other
    table is read (every count is 0).

    Newest first by the index on (client, start), so that with `latest` the database reads those
    sessions and counts what was written about them only: each session's number is how many
    there are in all less its place from the newest, and how many there are and the earliest few
    dates are subqueries read once."""
    sessions = KapSession.objects.for_client(client).filter(status=KapSession.Status.COMPLETED)
    worksheets = (
        _per_session(Response, status=Response.Status.SUBMITTED, instrument__key=worksheet)
        if worksheet and counted
        else Value(0)
    )
    if counted:
        per_session = {
            "n_insights": _per_session(Insight),
            "n_steps": _per_session(ActionStep),
            "n_done": _per_session(ActionStep, status=ActionStep.Status.DONE),
        }
    else:
        per_session = dict.fromkeys(("n_insights", "n_steps", "n_done"), Value(0))
    oldest_first = sessions.order_by("starts_at", "pk").values("starts_at")
    earliest = {f"at{n}": Subquery(oldest_first[n - 1 : n]) for n in range(1, PROBED_SESSIONS + 1)}
    in_all = sessions.order_by().values("client").annotate(n=Count("pk")).values("n")
    rows = (
        sessions.annotate(
            n_worksheets=worksheets, **per_session, in_all=Subquery(in_all), **earliest
        )
        .order_by("-starts_at", "-pk")
        .values_list(
            "pk",
            "starts_at",
            "n_insights",
            "n_worksheets",
            "n_steps",
            "n_done",
            "in_all",
            *earliest,
        )
    )
    if latest is not None:
        rows = rows[:latest]
    found = list(rows)[::-1]
    if not found:
        return [], 0
    newest = found[-1]
    in_all = newest[6]
    # The earliest few dates, then the latest: enough to see one set apart at the start.
    probed = [when for when in newest[7:] if when is not None]
    if in_all > len(probed):
        probed.append(newest[1])
    apart = min(isolated_before(probed), len(probed) - 1)
    first = in_all - len(found)  # how many come before those found
    counts = []
    for place, row in enumerate(found, start=first + 1):
        counts.append(SessionCounts(place - apart if place > apart else None, *row[:6]))
    return counts, in_all


@dataclass(frozen=True)
class _Scores:
    """One measure's scores: how many, the highest, the first and last, those from the cutoff
    on one by one, and those before it averaged per period."""

    count: int = 0
    top: float | None = None
    first: ScorePoint | None = None
    last: ScorePoint | None = None
    points: list[ScorePoint] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)


def _score_ends(client, keys) -> dict[str, tuple]:
    """(count, highest, first time, last time) of each measure in `keys` that has scores."""
    rows = (
        scored(client, keys)
        .order_by()
        .values("instrument__key")
        .annotate(n=Count("pk"), top=Max("score_total"), first=Min("submitted_at"))
        .annotate(last=Max("submitted_at"))
        .values_list("instrument__key", "n", "top", "first", "last")
    )
    return {key: (n, top, first, last) for key, n, top, first, last in rows}


class _PeriodOf(Expression):
    """The number of the period a row falls in, or -1: `CASE WHEN <by> = %s AND <when> < %s
    THEN 0 … ELSE -1 END` from `clauses`, (series, end, number) in order (the first period whose
    end is after the row's time). The SQL of a Case with a When per period, compiled from its two
    columns once rather than built, resolved and compiled period by period (ten years of a
    person's records are dozens of periods)."""

    def __init__(self, when, by, clauses: list[tuple[str, datetime, int]]):
        super().__init__(output_field=IntegerField())
        self.when, self.by, self.clauses = when, by, clauses

    def get_source_expressions(self):
        return [self.when, self.by]

    def set_source_expressions(self, exprs):
        self.when, self.by = exprs

    def as_sql(self, compiler, connection):
        time_sql, time_params = compiler.compile(self.when)
        adapt = connection.ops.adapt_datetimefield_value
        parts, params = [], []
        if self.by is not None:
            by_sql, by_params = compiler.compile(self.by)
        for series, end, number in self.clauses:
            if self.by is not None:
                parts.append(f"WHEN {by_sql} = %s AND {time_sql} < %s THEN {int(number)}")
                params += [*by_params, series, *time_params, adapt(end)]
            else:
                parts.append(f"WHEN {time_sql} < %s THEN {int(number)}")
                params += [*time_params, adapt(end)]
        if not parts:
            return "-1", []
        return f"CASE {' '.join(parts)} ELSE -1 END", params


def _averaged_in_sql(rows, when: str, values: list[str], firsts: dict, cutoff, by: str = ""):
    """Rows before `cutoff` averaged per period (kap.progress.change.periods_before) in one
    query: {series: [Period]}, a series being a value of the field `by` (or "" for all rows),
    whose oldest entry is at `firsts[series]`. Each row's period is found by comparing its time
    with a few local midnights, so the database does the work without a function per row."""
    if not firsts or cutoff is None:
        return {}
    clauses, codes = [], []
    # The query runs even when nothing is older than the cutoff (it then finds nothing), so that
    # the page takes the same queries whether a person has recorded for a month or for years.
    for series, first in firsts.items():
        if first >= cutoff:
            continue
        grouping = periods_before(first, cutoff)
        # A period ends where the next begins; the last one at the cutoff.
        for start, end in zip(grouping.starts, [*grouping.bounds, cutoff], strict=True):
            clauses.append((series, end, len(codes)))
            codes.append((series, start, grouping.months))
    sums = {}
    for n, value in enumerate(values):
        sums[f"n{n}"] = Count(value)
        sums[f"s{n}"] = Sum(value)
    found = (
        rows.filter(**{f"{when}__lt": cutoff})
        .annotate(period=_PeriodOf(F(when), F(by) if by else None, clauses))
        .order_by()
        .values("period")
        .annotate(count=Count("pk"), **sums)
        .order_by("period")
    )
    periods: dict = {series: [] for series in firsts}
    for row in found:
        if row["period"] < 0:
            continue  # a series not asked for
        series, start, months = codes[row["period"]]
        means = [row[f"s{n}"] / row[f"n{n}"] if row[f"n{n}"] else None for n in range(len(values))]
        periods[series].append(Period(start, months, row["count"], means))
    return periods


def _score_points(client, ends: dict[str, tuple], cutoff) -> dict[str, list[ScorePoint]]:
    """Each measure's scores from `cutoff` on, and its first and last, in one query: by key,
    oldest first."""
    points: dict[str, list[ScorePoint]] = {key: [] for key in ends}
    if not ends:
        return points
    wanted = Q(submitted_at__gte=cutoff)
    for key, (_count, _top, first, last) in ends.items():
        wanted |= Q(instrument__key=key, submitted_at__in=[first, last])
    rows = (
        scored(client, list(ends))
        .filter(wanted)
        .order_by("submitted_at", "pk")
        .values_list("instrument__key", "submitted_at", "score_total", "score_band")
    )
    for key, when, total, band in rows:
        points[key].append(ScorePoint(when, total, band))
    return points


def _scores(client, keys, ends: dict[str, tuple], cutoff) -> dict[str, _Scores]:
    """Each measure in `keys`, from its ends (`_score_ends`): two queries."""
    points = _score_points(client, ends, cutoff)
    periods = _averaged_in_sql(
        scored(client, list(ends)),
        "submitted_at",
        ["score_total"],
        {key: first for key, (_, _, first, _) in ends.items()},
        cutoff,
        by="instrument__key",
    )
    found = {key: _Scores() for key in keys}
    for key, (count, top, _first, _last) in ends.items():
        mine = points[key]
        found[key] = _Scores(
            count,
            top,
            mine[0] if mine else None,
            mine[-1] if mine else None,
            [p for p in mine if p.when >= cutoff],
            periods.get(key, []),
        )
    return found


def _rating(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _outcomes(client, key: str, specs) -> OutcomesTrend:
    instrument, spec = specs[key]
    items = [(i.key, i.text) for i in spec.items]
    responses = (
        Response.objects.for_client(client)
        .submitted()
        .of(key)
        .order_by("submitted_at", "pk")
        .values_list("submitted_at", "answers", "score_total")
    )
    return OutcomesTrend(
        key=key,
        title=instrument.title,
        items=items,
        rows=[
            OutcomeRow(when, [_rating((answers or {}).get(key)) for key, _ in items], mean)
            for when, answers, mean in responses
        ],
    )


def _rated_practices(client):
    return PracticeLog.objects.for_client(client).filter(
        Q(settled_before__isnull=False) | Q(settled_after__isnull=False)
    )


def trends(client) -> TrendsData:
    """Everything the Trends page draws, for this person only, in ten queries however much they
    have recorded (fewer before they have scores or rated practices): the packs' roles, the instruments, the ends of the scores, the outcomes, the ends of
    the practices, then older scores and practices averaged per period in SQL (one query each),
    recent scores and recent practices one by one, and the sessions.

    Entries before the cutoff (TrendsData.cutoff: two to three months before the latest) are
    averaged per period; only those after it are read one by one. The outcomes (a few a month
    at most, their answers encrypted) are read whole and averaged by the view."""
    roles = roles_for(client)
    outcomes_key = roles.key("outcomes")
    keys = [*roles.measure_keys, *roles.keys("outcomes"), *blank_sheet_keys(roles)]
    specs = current_specs(client, keys, with_imports=True)
    followed = followed_in(roles, specs)
    score_keys = list(dict.fromkeys(f.key for f in followed))

    ends = _score_ends(client, score_keys)
    outcomes = _outcomes(client, outcomes_key, specs) if outcomes_key in specs else None
    practiced = _rated_practices(client).aggregate(
        count=Count("pk"), first=Min("started_at"), last=Max("started_at")
    )

    whens = [last for *_, last in ends.values()]
    if outcomes and outcomes.rows:
        whens.append(outcomes.rows[-1].when)
    if practiced["last"]:
        whens.append(practiced["last"])
    cutoff = cutoff_for(max(whens, default=None))
    found = _scores(client, score_keys, ends, cutoff)

    practices: list[PracticeRow] = []
    practice_periods: list[Period] = []
    if practiced["count"]:
        practice_periods = _averaged_in_sql(
            _rated_practices(client),
            "started_at",
            ["settled_before", "settled_after"],
            {"": practiced["first"]},
            cutoff,
        ).get("", [])
        practices = [
            PracticeRow(when, title, before, after)
            for when, title, before, after in _rated_practices(client)
            .filter(started_at__gte=cutoff)
            .order_by("started_at", "pk")
            .values_list("started_at", "instrument__title", "settled_before", "settled_after")
        ]

    scores = {}
    for f in followed:
        # A pack's measure is shown (with an invitation) before it is filled in; an import only
        # once there is something to show.
        got = found[f.key]
        if f.key not in roles.measure_keys and not got.last:
            continue
        top, bands, rule = bands_of(f, specs)
        scores[f.key] = ScoreTrend(
            key=f.key,
            name=f.label,
            title=specs[f.key][0].title,
            y_max=top if top is not None else (got.top if got.top is not None else 1),
            bands=bands,
            points=[banded(p, rule) for p in got.points],
            measure=f.measure,
            periods=got.periods,
            first=got.first,
            last=got.last,
            count=got.count,
        )

    sessions, in_all = _session_counts(
        client, latest=SHOWN_SESSIONS, worksheet=roles.key("worksheet")
    )
    return TrendsData(
        scores=scores,
        outcomes=outcomes,
        practices=practices,
        practice_periods=practice_periods,
        practices_last=practiced["last"],
        sessions=sessions,
        blank_sheets=blank_sheets(roles, specs),
        sessions_in_all=in_all,
    )
