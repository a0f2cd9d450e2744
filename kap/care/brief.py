"""The pre-session brief: what a linked therapist reads of one client before their next session.

Every function takes the CareLink (read on this request) and loads only the kinds its scopes
share; a kind not shared is never queried, so it cannot leak into a page, a count or a PDF.
Each kind costs one or two queries however much the client has recorded. A KapSession's `notes`
are the client's own and are deferred everywhere here, never decrypted. The client's shared
timeline is kap.care.timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Avg, Count, Exists, OuterRef, Prefetch, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from kap.accounts.models import CareLink, Scope
from kap.care.charts import SharedScores, shared_scores
from kap.care.models import QuestionDiscussed
from kap.care.sharing import Record, scopes_from, shares
from kap.care.timeline import safety_events, scopes_of
from kap.content.roles import measures_for, roles_for
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
    SafetyEvent,
)
from kap.journal.records import answers_in_words, upcoming
from kap.lib.pdf_text import Budget, answers_that_fit, fitting, newest
from kap.practices.models import PracticeLog

# Which instruments' responses each scope shares is what the client's packs say, as
# kap.care.sharing.response_scopes reads it: the same table the client's consent screen
# lists. Which of them are measures (and their short names) is kap.content.roles.measures_for.
# Without shared sessions there is no "last session" to count from; the brief looks back this far.
DEFAULT_LOOKBACK = timedelta(days=28)
# The brief shows at most this many of each kind of entry (the newest), fewer when their texts are
# long (kap.lib.pdf_text: some thirty lines a kind, each text at most SHOWN_IN_SUMMARIES
# characters), and counts the rest: it is read before a session, and its PDF stays a few pages.
BRIEF_ENTRIES = 20
# And of each action step, the latest check-ins.
CHECKINS_SHOWN = 3


# --- Reading responses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    pk: int
    key: str
    title: str
    when: datetime
    session_when: datetime | None
    score: str
    answers: list[tuple[str, str]]  # shortened to fit (kap.lib.pdf_text)
    more_answers: int = 0  # answers left out


def answered(
    response: Response, *, with_answers: bool, with_session: bool, budget: Budget | None = None
) -> Answered:
    """The response as the brief shows it: with its answers that fit `budget` (a section's)."""
    answers, more = [], 0
    if with_answers:
        budget = budget or Budget()
        answers, more = answers_that_fit(answers_in_words(response), budget)
        budget.line(2)  # its title (for worksheets) and date; after, so an answer is shown
    score = ""
    if response.score_total is not None:
        score = f"{response.score_total:g}" + (
            f" ({response.score_band})" if response.score_band else ""
        )
    session = response.session if with_session else None
    return Answered(
        pk=response.pk,
        key=response.instrument.key,
        title=response.instrument.title,
        when=response.submitted_at or response.created_at,
        session_when=session.starts_at if session else None,
        score=score,
        answers=answers,
        more_answers=more,
    )


def _responses(link: CareLink, keys, scopes: set[str], *, since=None, extra=None):
    rows = (
        Response.objects.for_client(link.client_id)
        .submitted()
        .filter(instrument__key__in=keys)
        .select_related("instrument")
        .order_by("-submitted_at", "-pk")
    )
    if shares(scopes, Record.SESSIONS):
        rows = rows.select_related("session").defer("session__notes")
    if since is not None:
        shown = Q(submitted_at__gte=since)
        if extra is not None:
            shown |= extra
        rows = rows.filter(shown)
    return rows


# --- Questions to bring ------------------------------------------------------------------------


def _open_questions(link: CareLink, therapist):
    mine = QuestionDiscussed.objects.filter(question=OuterRef("pk"), therapist=therapist)
    return (
        QuestionToBring.objects.for_client(link.client_id)
        .filter(asked_at=None)
        .annotate(discussed=Exists(mine))
    )


def open_questions(link: CareLink, therapist) -> list[QuestionToBring]:
    """Questions the client has not marked asked, each with `discussed` (by this therapist)."""
    return list(_open_questions(link, therapist).order_by("created_at", "pk"))


# --- The pre-session brief --------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreLine:
    key: str
    name: str
    first: float
    previous: float | None
    latest: float
    latest_band: str
    count: int
    first_when: datetime
    latest_when: datetime

    @property
    def change(self) -> float | None:
        return self.latest - self.first if self.count > 1 else None


@dataclass(frozen=True)
class StepLine:
    text: str  # shortened, as are the check-ins' notes
    status: str
    checkins: list[tuple[datetime, str, str]]  # (when, status, note): the latest, oldest first
    more_checkins: int = 0  # check-ins in the period not shown


@dataclass(frozen=True)
class PracticeTotals:
    count: int
    minutes: int
    before: float | None
    after: float | None


@dataclass
class Brief:
    """None for a kind means "not shared": the templates leave it out entirely."""

    client_name: str
    made_at: datetime
    since: datetime | None
    since_label: str
    shares_sessions: bool
    next_session: KapSession | None = None
    last_session: KapSession | None = None
    intentions: list[Answered] | None = None
    # Questions and insights carry `shown`: their text as the brief shows it (shortened).
    questions: list[QuestionToBring] | None = None
    insights: list[Insight] | None = None
    worksheets: list[Answered] | None = None
    steps: list[StepLine] | None = None
    scores: list[ScoreLine] | None = None
    safety: list[SafetyEvent] | None = None
    practices: PracticeTotals | None = None
    # Of each list above, how many older entries are left out, by field name; and of the safety
    # alerts left out, how many this therapist has not acknowledged.
    more: dict[str, int] = field(default_factory=dict)
    safety_left_open: int = 0
    # The series behind `scores`, for the page's charts (kap.care.charts).
    shared_scores: SharedScores | None = None

    def keep_newest(self, name: str, rows, show) -> None:
        """Set the list `name` to the newest of `rows` (ordered newest first) that fit, oldest
        first, and count the rest in `more`: at most BRIEF_ENTRIES are read, in one query."""
        found, unread = newest(rows, BRIEF_ENTRIES)
        shown, left_out = fitting(found, show)
        setattr(self, name, shown[::-1])
        if unread + left_out:
            self.more[name] = unread + left_out

    def keep_newest_alerts(self, alerts: list[SafetyEvent]) -> None:
        """The newest BRIEF_ENTRIES safety alerts (newest first, as they come), and how many of
        the rest this therapist has not acknowledged: the brief says so, never hides them."""
        self.safety = alerts[:BRIEF_ENTRIES]
        rest = alerts[BRIEF_ENTRIES:]
        if rest:
            self.more["safety"] = len(rest)
            self.safety_left_open = sum(1 for e in rest if not e.mine)


def _with_shown(row, budget: Budget):
    """A question or an insight, with `shown`: its text as the brief shows it."""
    row.shown = budget.take(row.text)
    return row


def _score_lines(shared: SharedScores) -> list[ScoreLine]:
    """The scores of the instruments "scores" shares, each named by its measure's short name,
    else by its title in the client's packs; the packs' outcomes (an average) says so."""
    lines = []
    for key, series in shared.series.items():
        points = series.points
        if not points:
            continue
        name = shared.names.get(key) or series.title
        if key == shared.average:
            name = _("%(name)s (average, 0–10)") % {"name": name}
        lines.append(
            ScoreLine(
                key=key,
                name=name,
                first=points[0].total,
                previous=points[-2].total if len(points) > 1 else None,
                latest=points[-1].total,
                latest_band=points[-1].band,
                count=len(points),
                first_when=points[0].when,
                latest_when=points[-1].when,
            )
        )
    return lines


def _steps(link, since):
    """The open steps and those set or checked in on since `since`, newest first, each with its
    latest check-ins since then (`latest`, newest first) and how many there are (`n_checkins`)."""
    checkins = CheckIn.objects.filter(step=OuterRef("pk"))
    latest = CheckIn.objects.order_by("-created_at", "-pk")
    steps = ActionStep.objects.for_client(link.client_id)
    if since is not None:
        checkins = checkins.filter(created_at__gte=since)
        latest = latest.filter(created_at__gte=since)
        recent = CheckIn.objects.filter(step=OuterRef("pk"), created_at__gte=since)
        steps = steps.filter(
            Q(status=ActionStep.Status.OPEN) | Q(created_at__gte=since) | Exists(recent)
        )
    n_checkins = checkins.order_by().values("step").annotate(n=Count("pk")).values("n")
    return (
        steps.order_by("-created_at", "-pk")
        .annotate(n_checkins=Coalesce(Subquery(n_checkins), 0))
        .prefetch_related(Prefetch("checkins", queryset=latest[:CHECKINS_SHOWN], to_attr="latest"))
    )


def _step_line(step: ActionStep, budget: Budget) -> StepLine:
    text = budget.take(step.text)
    checkins, _left_out = fitting(
        step.latest, lambda c, b: (c.created_at, c.get_status_display(), b.take(c.note)), budget
    )
    return StepLine(
        text=text,
        status=step.get_status_display(),
        checkins=checkins[::-1],
        more_checkins=step.n_checkins - len(checkins),
    )


def _practice_totals(link, since) -> PracticeTotals:
    logs = PracticeLog.objects.for_client(link.client_id)
    if since is not None:
        logs = logs.filter(started_at__gte=since)
    both = Q(settled_before__isnull=False, settled_after__isnull=False)
    t = logs.aggregate(
        count=Count("pk"),
        seconds=Sum("elapsed_seconds"),
        before=Avg("settled_before", filter=both),
        after=Avg("settled_after", filter=both),
    )
    return PracticeTotals(t["count"], round((t["seconds"] or 0) / 60), t["before"], t["after"])


def build_brief(link: CareLink, therapist, *, now: datetime | None = None) -> Brief:
    """The brief for the client's next session, from the kinds this link shares."""
    now = now or timezone.now()
    scopes = scopes_of(link)
    client = link.client
    shares_sessions = shares(scopes, Record.SESSIONS)
    next_session = last_session = None
    if shares_sessions:
        sessions = KapSession.objects.for_client(link.client_id).defer("notes")
        next_session = sessions.filter(upcoming(now)).order_by("starts_at").first()
        last_session = (
            sessions.filter(status=KapSession.Status.COMPLETED, starts_at__lte=now)
            .order_by("-starts_at")
            .first()
        )
        if last_session is not None:
            since = last_session.starts_at
            since_label = _("Since the last completed session, %(date)s") % {
                "date": formats.date_format(timezone.localtime(since), _("l j F Y"))
            }
        else:
            since, since_label = None, _("Everything so far (no completed session is logged yet)")
    else:
        # Session dates are not shared, so they may not even shape what is shown.
        since = now - DEFAULT_LOOKBACK
        since_label = _("The last four weeks (sessions are not shared)")

    brief = Brief(
        client_name=str(client),
        made_at=now,
        since=since,
        since_label=since_label,
        shares_sessions=shares_sessions,
        next_session=next_session,
        last_session=last_session,
    )
    with_session = shares_sessions
    roles = roles_for(client)
    followed = measures_for(client, roles)
    shared = scopes_from(roles, followed)
    if Scope.INTENTIONS in scopes:
        for_next = Q(session=next_session) if next_session else None
        keys = shared.get(Scope.INTENTIONS, [])
        brief.keep_newest(
            "intentions",
            _responses(link, keys, scopes, since=since, extra=for_next),
            lambda r, budget: answered(
                r, with_answers=True, with_session=with_session, budget=budget
            ),
        )
    if shares(scopes, Record.QUESTIONS):
        questions = _open_questions(link, therapist).order_by("-created_at", "-pk")
        brief.keep_newest("questions", questions, _with_shown)
    if Scope.WORKSHEETS in scopes:
        brief.keep_newest(
            "worksheets",
            _responses(link, shared.get(Scope.WORKSHEETS, []), scopes, since=since),
            lambda r, budget: answered(
                r, with_answers=True, with_session=with_session, budget=budget
            ),
        )
    if shares(scopes, Record.INSIGHTS):
        insights = Insight.objects.for_client(link.client_id).order_by("-created_at", "-pk")
        insights = insights.filter(created_at__gte=since) if since else insights
        brief.keep_newest("insights", insights, _with_shown)
    if shares(scopes, Record.ACTION_STEPS):
        brief.keep_newest("steps", _steps(link, since), _step_line)
    if Scope.SCORES in scopes:
        brief.shared_scores = shared_scores(link, scopes)
        brief.scores = _score_lines(brief.shared_scores) if brief.shared_scores else []
    if shares(scopes, Record.SAFETY_EVENTS):
        brief.keep_newest_alerts(safety_events(link, therapist, since=since))
    if shares(scopes, Record.PRACTICES):
        brief.practices = _practice_totals(link, since)
    return brief


def pdf_filename(brief: Brief) -> str:
    return f"kap-brief-{timezone.localtime(brief.made_at):%Y-%m-%d}.pdf"
