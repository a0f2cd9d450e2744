"""A one-page summary a person brings to therapy: what they chose, since when they chose.

`SummaryForm` reads the choice from a query string (so the same link gives the HTML page and
the PDF); `build_summary()` gathers the records, for that person only, in a fixed number of
queries. Everything a person wrote is decrypted here and escaped by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from django import forms
from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kap.content.roles import Followed, roles_for
from kap.journal.models import ActionStep, CheckIn, Insight, KapSession, QuestionToBring, Response
from kap.journal.records import answers_in_words, open_questions
from kap.journal.scores import ScorePoint, score_series
from kap.lib.limits import EARLIEST_DATE, check_date_range
from kap.lib.pdf_text import Budget, answers_that_fit, fitting, newest
from kap.practices.models import PracticeLog
from kap.progress.change import Change, and_join, change_between, number
from kap.progress.trends import banded, bands_of, current_specs, followed_in

# (key, heading): the parts a summary may have, in the order it shows them.
SECTIONS: list[tuple[str, str]] = [
    ("intentions", gettext_lazy("Intentions")),
    ("questions", gettext_lazy("Questions to bring")),
    ("insights", gettext_lazy("Insights")),
    ("worksheet", gettext_lazy("Latest integration worksheet")),
    ("steps", gettext_lazy("Action steps and check-ins")),
    ("scores", gettext_lazy("Scores and change")),
    ("practices", gettext_lazy("Practices")),
]
SECTION_KEYS = [key for key, _ in SECTIONS]
LAST_SESSION = "last-session"
DISCLAIMER = gettext_lazy("Not a medical record; not monitored in real time.")
# A summary to bring to therapy stays a few pages whatever the period: the newest entries of
# each kind (shown oldest first) and how many more there are; the whole record is in the export.
# At most these many are read; fewer are shown when their texts are long (kap.lib.pdf_text: about
# thirty lines a section, each text at most SHOWN_IN_SUMMARIES characters).
INSIGHTS_SHOWN = 50
INTENTIONS_SHOWN = 30
STEPS_SHOWN = 30
QUESTIONS_SHOWN = 30  # the oldest open ones
CHECKINS_SHOWN = 3


def _long_date(day: date | datetime) -> str:
    if isinstance(day, datetime):
        day = timezone.localtime(day).date()
    return date_format(day, _("l j F Y"))


# --- The choice --------------------------------------------------------------------------------


class SinceField(forms.DateField):
    """A date, or nothing (or "last-session"), which means "since my last session"."""

    def to_python(self, value):
        if isinstance(value, str) and value.strip() == LAST_SESSION:
            return None
        return super().to_python(value)


class SummaryForm(forms.Form):
    since = SinceField(
        label=gettext_lazy("Start from"),
        required=False,
        input_formats=["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "invalid": gettext_lazy(
                "Please give a date as year, month and day, such as 2026-03-01."
            )
        },
    )
    sections = forms.MultipleChoiceField(
        label=gettext_lazy("What to put in"),
        choices=SECTIONS,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy("Please choose at least one thing to put in the summary."),
            "invalid_choice": gettext_lazy(
                "“%(value)s” is not a part of the summary. Please choose from the list."
            ),
        },
    )

    def __init__(self, *args, last_session: KapSession | None = None, **kwargs):
        kwargs.setdefault("initial", {"sections": SECTION_KEYS})
        super().__init__(*args, **kwargs)
        if last_session is not None:
            help_text = _("Leave it empty to start from your last session, on %(day)s.") % {
                "day": _long_date(last_session.starts_at)
            }
        else:
            help_text = _("Leave it empty to include everything you have recorded.")
        self.fields["since"].help_text = help_text
        self.fields["since"].widget.attrs["max"] = timezone.localdate().isoformat()
        self.fields["since"].widget.attrs["min"] = EARLIEST_DATE.isoformat()

    def clean_since(self) -> date | None:
        day = self.cleaned_data.get("since")
        if day is not None and day > timezone.localdate():
            raise forms.ValidationError(
                _("That date is in the future. Please choose today or an earlier date.")
            )
        check_date_range(day)
        return day


def form_from_query(query, *, last_session: KapSession | None) -> SummaryForm:
    """A bound form; a bare link (no query at all) means the defaults: everything, since the
    last session."""
    return SummaryForm(query or {"sections": SECTION_KEYS}, last_session=last_session)


# --- The period ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: datetime | None  # aware; None means from the very beginning
    label: str  # "since your last session, on Tuesday 3 March 2026"


def last_session(client) -> KapSession | None:
    """The latest completed session that has begun (notes left undecrypted)."""
    return (
        KapSession.objects.for_client(client)
        .filter(status=KapSession.Status.COMPLETED, starts_at__lte=timezone.now())
        .order_by("-starts_at")
        .only("pk", "starts_at", "status", "client_id")
        .first()
    )


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def period_for(day: date | None, session: KapSession | None) -> Period:
    if day is not None:
        return Period(_midnight(day), _("since %(day)s") % {"day": _long_date(day)})
    if session is not None:
        # From the start of the session's day, so the intention set that morning is included.
        start = _midnight(timezone.localtime(session.starts_at).date())
        return Period(
            start,
            _("since your last session, on %(day)s") % {"day": _long_date(session.starts_at)},
        )
    return Period(None, _("everything so far (no completed session is logged yet)"))


# --- What goes in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """A submitted response as the summary shows it: the item texts and the person's words."""

    title: str
    when: datetime
    session_when: datetime | None
    answers: list[tuple[str, str]]  # shortened to fit (kap.lib.pdf_text)
    more_answers: int = 0  # answers left out


@dataclass(frozen=True)
class StepRow:
    text: str  # shortened, as are the check-ins' notes
    status: str
    created_at: datetime
    checkins: list[tuple[datetime, str, str]]  # (when, status, note): the latest, oldest first
    more_checkins: int = 0  # check-ins in the period not shown


@dataclass(frozen=True)
class ScoreLine:
    key: str
    name: str  # "PHQ-9"
    title: str
    scale_max: float | None
    first: ScorePoint
    latest: ScorePoint
    count: int  # all ever
    count_since: int
    change: Change | None

    @property
    def difference_words(self) -> str:
        if self.count < 2:
            return _("One score so far: a starting point to compare with later.")
        diff = self.latest.total - self.first.total
        if diff == 0:
            return _("No change from the first.")
        # (A difference may be 6.5 points: the plural is chosen for 1 or not.)
        one = 1 if abs(diff) == 1 else 2
        if diff < 0:
            words = ngettext(
                "%(count)s point lower than the first.",
                "%(count)s points lower than the first.",
                one,
            )
        else:
            words = ngettext(
                "%(count)s point higher than the first.",
                "%(count)s points higher than the first.",
                one,
            )
        return words % {"count": number(abs(diff))}


@dataclass(frozen=True)
class PracticeTotals:
    count: int
    minutes: int
    rated: int  # practices with a rating before and after
    before: float | None
    after: float | None


@dataclass
class Summary:
    name: str
    made_on: date
    period: Period
    sections: list[str]
    intentions: list[Answered] = field(default_factory=list)
    # Questions and insights carry `shown`: their text as the summary shows it (shortened).
    questions: list[QuestionToBring] = field(default_factory=list)
    insights: list[Insight] = field(default_factory=list)
    worksheet: Answered | None = None
    steps: list[StepRow] = field(default_factory=list)
    scores: list[ScoreLine] = field(default_factory=list)
    # How many of each kind in the period were left out (only the newest are shown).
    more_intentions: int = 0
    more_insights: int = 0
    more_questions: int = 0
    more_steps: int = 0
    practices: PracticeTotals | None = None
    attributions: list[tuple[str, str]] = field(default_factory=list)  # (names, text)

    @property
    def chosen(self) -> list[tuple[str, str]]:
        return [(key, heading) for key, heading in SECTIONS if key in self.sections]


def answered(response: Response, budget: Budget | None = None) -> Answered:
    """The response as the summary shows it: its answers that fit `budget` (a section's)."""
    budget = budget or Budget()
    answers, more = answers_that_fit(answers_in_words(response), budget)
    budget.line()  # its date (counted after, so that an entry shown shows an answer)
    session = response.session
    return Answered(
        title=response.instrument.title,
        when=response.submitted_at or response.created_at,
        session_when=session.starts_at if session else None,
        answers=answers,
        more_answers=more,
    )


def _with_shown(row, budget: Budget):
    """A question or an insight, with `shown`: its text as the summary shows it."""
    row.shown = budget.take(row.text)
    return row


def _newest_that_fit(rows, most: int, show) -> tuple[list, int]:
    """(the newest of `rows` (ordered newest first) that fit, oldest first; how many are left
    out): at most `most` are read, in one query."""
    found, unread = newest(rows, most)
    shown, left_out = fitting(found, show)
    return shown[::-1], unread + left_out


def _responses(client, key: str, start: datetime | None):
    rows = (
        Response.objects.for_client(client)
        .submitted()
        .of(key)
        .select_related("instrument", "session")
        .defer("session__notes")
    )
    return rows.since(start) if start else rows


def _intentions(client, key: str | None, start: datetime | None) -> tuple[list[Answered], int]:
    """The intentions (answers to the packs' intention, `key`) of the period."""
    if key is None:
        return [], 0
    rows = (
        Response.objects.for_client(client)
        .submitted()
        .of(key)
        .select_related("instrument", "session")
        .defer("session__notes")
        .order_by("-submitted_at", "-pk")
    )
    if start:
        # An intention written for a session in the period belongs with it, even if it was
        # written the evening before.
        rows = rows.filter(Q(submitted_at__gte=start) | Q(session__starts_at__gte=start))
    return _newest_that_fit(rows, INTENTIONS_SHOWN, answered)


def _steps(client, start: datetime | None) -> tuple[list[StepRow], int]:
    checkins = CheckIn.objects.filter(step=OuterRef("pk"))
    latest = CheckIn.objects.order_by("-created_at", "-pk")
    steps = ActionStep.objects.for_client(client)
    if start:
        checkins = checkins.filter(created_at__gte=start)
        latest = latest.filter(created_at__gte=start)
        recent = CheckIn.objects.filter(step=OuterRef("pk"), created_at__gte=start)
        steps = steps.filter(Exists(recent) | Q(created_at__gte=start))
    n_checkins = checkins.order_by().values("step").annotate(n=Count("pk")).values("n")
    steps = (
        steps.order_by("-created_at", "-pk")
        .annotate(n_checkins=Coalesce(Subquery(n_checkins), 0))
        .prefetch_related(
            Prefetch("checkins", queryset=latest[:CHECKINS_SHOWN], to_attr="shown_checkins")
        )
    )

    def show(s: ActionStep, budget: Budget) -> StepRow:
        text = budget.take(s.text)
        checkins, _left_out = fitting(
            s.shown_checkins,  # newest first
            lambda c, b: (c.created_at, c.get_status_display(), b.take(c.note)),
            budget,
        )
        return StepRow(
            text=text,
            status=s.get_status_display(),
            created_at=s.created_at,
            checkins=checkins[::-1],
            more_checkins=s.n_checkins - len(checkins),
        )

    return _newest_that_fit(steps, STEPS_SHOWN, show)


def _scores(
    client, start: datetime | None, specs, followed: list[Followed], outcomes: str | None
) -> list[ScoreLine]:
    """The measures followed (the packs' and the person's imports of them), then the outcomes."""
    names = {f.key: f.label for f in followed}
    measures = {f.key: f for f in followed}
    keys = [*names, *([outcomes] if outcomes in specs else [])]
    found = score_series(client, keys)
    lines = []
    for key in keys:
        points = found[key].points
        if not points:
            continue
        instrument, spec = specs[key]
        scale_max = spec.scoring.max if spec.scoring else None
        change = None
        if key in measures:
            name = names[key]
            scale_max, _bands, rule = bands_of(measures[key], specs)
            points = [banded(p, rule) for p in points]
            change = change_between(
                name, measures[key].measure, points[0].total, points[-1].total, len(points)
            )
        else:
            # The outcomes average goes up when things improve, so "response" words (made for
            # falling symptom scores) are kept for the questionnaires.
            name = _("%(title)s (average of %(count)s, 0–10)") % {
                "title": instrument.title,
                "count": len(spec.items),
            }
        lines.append(
            ScoreLine(
                key=key,
                name=name,
                title=instrument.title,
                scale_max=scale_max,
                first=points[0],
                latest=points[-1],
                count=len(points),
                count_since=sum(1 for p in points if start is None or p.when >= start),
                change=change,
            )
        )
    return lines


def _practices(client, start: datetime | None) -> PracticeTotals:
    logs = PracticeLog.objects.for_client(client)
    if start:
        logs = logs.filter(started_at__gte=start)
    both = Q(settled_before__isnull=False, settled_after__isnull=False)
    totals = logs.aggregate(
        count=Count("pk"),
        seconds=Sum("elapsed_seconds"),
        rated=Count("pk", filter=both),
        before=Avg("settled_before", filter=both),
        after=Avg("settled_after", filter=both),
    )
    return PracticeTotals(
        count=totals["count"],
        minutes=round((totals["seconds"] or 0) / 60),
        rated=totals["rated"],
        before=totals["before"],
        after=totals["after"],
    )


def _attributions(specs, followed: list[Followed]) -> list[tuple[str, str]]:
    """The questionnaires' published attributions, one line per distinct text."""
    by_text: dict[str, list[str]] = {}
    for f in followed:
        attribution = specs[f.key][1].attribution
        if attribution and f.label not in by_text.get(attribution.text, []):
            by_text.setdefault(attribution.text, []).append(f.label)
    return [(and_join(names), text) for text, names in by_text.items()]


def build_summary(
    client, *, period: Period, sections: list[str], today: date | None = None
) -> Summary:
    """The chosen sections for this person over this period (at most eleven queries: the packs'
    roles, the instruments, then one or two per section)."""
    start = period.start
    roles = roles_for(client)
    specs = current_specs(client, [*roles.measure_keys, *roles.keys("outcomes")], with_imports=True)
    followed = followed_in(roles, specs)
    summary = Summary(
        name=str(client),
        made_on=today or timezone.localdate(),
        period=period,
        sections=[key for key in SECTION_KEYS if key in sections],
        attributions=_attributions(specs, followed),
    )
    if "intentions" in sections:
        summary.intentions, summary.more_intentions = _intentions(
            client, roles.key("intention"), start
        )
    if "questions" in sections:
        questions = open_questions(client)
        summary.questions, _left_out = fitting(questions[:QUESTIONS_SHOWN], _with_shown)
        summary.more_questions = len(questions) - len(summary.questions)
    if "insights" in sections:
        insights = Insight.objects.for_client(client).order_by("-created_at", "-pk")
        insights = insights.filter(created_at__gte=start) if start else insights
        summary.insights, summary.more_insights = _newest_that_fit(
            insights, INSIGHTS_SHOWN, _with_shown
        )
    worksheet = roles.key("worksheet")
    if "worksheet" in sections and worksheet:
        latest = _responses(client, worksheet, start).order_by("-submitted_at", "-pk").first()
        summary.worksheet = answered(latest) if latest else None
    if "steps" in sections:
        summary.steps, summary.more_steps = _steps(client, start)
    if "scores" in sections:
        summary.scores = _scores(client, start, specs, followed, roles.key("outcomes"))
    if "practices" in sections:
        summary.practices = _practices(client, start)
    return summary


def filename(day: date) -> str:
    return f"kap-summary-{day:%Y-%m-%d}.pdf"
