"""The client's own records beyond single responses: questions, check-ins, and the journal's
kinds on the timeline (kap.journal.timeline), registered here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts.models import Scope
from kap.content.answers import in_words
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
)
from kap.journal.timeline import BY_INSTRUMENT, Entry, Part, Shared, register_parts

# How long after a completed session the app counts the hours and invites insights.
INSIGHT_WINDOW = timedelta(hours=72)
# A planned session stays "coming up" for a while after its start, so it is still found that day.
UPCOMING_GRACE = timedelta(hours=12)

STEP_STATUS_AFTER_CHECK_IN = {
    CheckIn.Status.DONE: ActionStep.Status.DONE,
    CheckIn.Status.WORKING: ActionStep.Status.OPEN,
    CheckIn.Status.LET_GO: ActionStep.Status.LET_GO,
}


def hours_since_session(session: KapSession, *, now: datetime | None = None) -> int | None:
    """Whole hours since a completed session, during the first 72 hours; otherwise None."""
    if not session.is_completed:
        return None
    elapsed = (now or timezone.now()) - session.starts_at
    if elapsed < timedelta(0) or elapsed >= INSIGHT_WINDOW:
        return None
    return int(elapsed.total_seconds() // 3600)


def is_upcoming(session: KapSession, *, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return session.status == KapSession.Status.PLANNED and session.starts_at >= now - UPCOMING_GRACE


def upcoming(now: datetime | None = None) -> Q:
    """The sessions `is_upcoming` says are coming up, as a filter."""
    now = now or timezone.now()
    return Q(status=KapSession.Status.PLANNED, starts_at__gte=now - UPCOMING_GRACE)


def open_questions(client) -> list[QuestionToBring]:
    """The questions this person still wants to ask, oldest first (one query).

    Show them with ``{% include "journal/records/_questions_to_bring.html" %}``.
    """
    return list(
        QuestionToBring.objects.for_client(client).filter(asked_at=None).order_by("created_at")
    )


@transaction.atomic
def check_in(*, step: ActionStep, status: str, note: str = "") -> CheckIn:
    """Record how a step is going and move the step to match (done, open again, or let go)."""
    checkin = CheckIn.objects.create(step=step, status=status, note=note.strip())
    step.status = STEP_STATUS_AFTER_CHECK_IN[CheckIn.Status(status)]
    step.save(update_fields=["status"])
    return checkin


@transaction.atomic
def toggle_asked(*, question: QuestionToBring) -> QuestionToBring:
    question.asked_at = None if question.asked_at else timezone.now()
    question.save(update_fields=["asked_at"])
    return question


def _sessions(client, session: KapSession | None) -> QuerySet:
    rows = KapSession.objects.for_client(client).defer("notes")
    return rows.filter(pk=session.pk) if session is not None else rows


def _session_entry(s: KapSession) -> Entry:
    said = (
        _("With %(name)s") % {"name": s.clinician_name} if s.clinician_name else "",
        s.get_setting_display().lower() if s.setting else "",
    )
    return Entry(
        kind="session",
        when=s.starts_at,
        title=_("KAP session (%(status)s)") % {"status": s.get_status_display().lower()},
        text=", ".join(part for part in said if part),
        url=reverse("journal:session", args=[s.pk]),
    )


def _insights(client, session: KapSession | None) -> QuerySet:
    rows = Insight.objects.for_client(client).select_related("session").defer("session__notes")
    return rows.filter(session=session) if session is not None else rows


def _insight_entry(i: Insight) -> Entry:
    return Entry(
        kind="insight",
        when=i.created_at,
        title=_("Insight"),
        text=i.text,
        url=reverse("journal:insight-edit", args=[i.pk]),
        session=i.session,
    )


def _responses(client, session: KapSession | None, *, answers: bool = False) -> QuerySet:
    """With `answers`, the answers are loaded (and the specs that put them in words)."""
    deferred = ["session__notes"] if answers else ["answers", "session__notes", "instrument__spec"]
    rows = (
        Response.objects.for_client(client)
        .select_related("instrument", "session")
        .defer(*deferred)
        .annotate(
            when=Coalesce(
                Case(
                    When(status=Response.Status.DRAFT, then=F("updated_at")),
                    default=F("submitted_at"),
                ),
                F("created_at"),
            )
        )
    )
    return rows.filter(session=session) if session is not None else rows


def _response_entry(r: Response) -> Entry:
    if r.is_draft:
        url = reverse("journal:instrument", args=[r.instrument.key])
        url = f"{url}?session={r.session_id}" if r.session_id else url
    else:
        url = reverse("journal:response", args=[r.pk])
    score = status = ""
    if r.score_total is not None and r.instrument.kind == "checklist":
        # What a checklist counts is how many were ticked, not a score with a published meaning:
        # it reads in words ("3 ticked") where an entry says what became of it.
        status = _("%(total)s ticked") % {"total": f"{r.score_total:g}"}
    elif r.score_total is not None:
        score = f"{r.score_total:g}" + (f" ({r.score_band})" if r.score_band else "")
    return Entry(
        kind="response",
        when=r.when,
        title=r.instrument.title,
        url=url,
        session=r.session,
        draft=r.is_draft,
        score=score,
        status=status,
    )


def _shared_responses(client, session: KapSession | None, shared: Shared) -> QuerySet:
    # Submitted answers to the instruments the link shares: never a draft.
    rows = _responses(client, session, answers=True).submitted()
    return rows.filter(instrument__key__in=list(shared.instruments))


def answers_in_words(response: Response) -> tuple[tuple[str, str], ...]:
    """(question, answer in words) for each question the response answers, in the form's order.
    Needs the response's answers and its instrument's spec loaded."""
    return in_words(response.instrument.parsed, response.answers)


def _shared_response_entry(r: Response, shared: Shared) -> Entry:
    in_words = shared.instruments.get(r.instrument.key) in shared.in_words
    return replace(_response_entry(r), answers=answers_in_words(r) if in_words else ())


def _steps(client, session: KapSession | None) -> QuerySet:
    rows = ActionStep.objects.for_client(client).select_related("session").defer("session__notes")
    return rows.filter(session=session) if session is not None else rows


def _step_entry(step: ActionStep) -> Entry:
    return Entry(
        kind="step",
        when=step.created_at,
        title=_("Action step"),
        text=step.text,
        url=reverse("journal:steps") + f"#step-{step.pk}",
        session=step.session,
        status=step.get_status_display(),
    )


def _checkins(client, session: KapSession | None) -> QuerySet:
    rows = (
        CheckIn.objects.for_client(client)
        .select_related("step__session")
        .defer("step__session__notes")
    )
    return rows.filter(step__session=session) if session is not None else rows


def _checkin_entry(c: CheckIn) -> Entry:
    step = c.step
    return Entry(
        kind="step",
        when=c.created_at,
        title=_("Check-in: %(status)s") % {"status": c.get_status_display().lower()},
        text=step.text + (f" — {c.note}" if c.note else ""),
        url=reverse("journal:steps") + f"#step-{step.pk}",
        session=step.session,
    )


def _questions(client, session: KapSession | None) -> QuerySet:
    # The source response is only needed for its session; its (encrypted) answers are not.
    rows = (
        QuestionToBring.objects.for_client(client)
        .select_related("source__session")
        .defer("source__answers", "source__session__notes")
    )
    return rows.filter(source__session=session) if session is not None else rows


def _question_entry(q: QuestionToBring) -> Entry:
    return Entry(
        kind="question",
        when=q.created_at,
        title=_("Question to bring"),
        text=q.text,
        url=reverse("journal:questions"),
        session=q.source.session if q.source else None,
        status=_asked(q),
    )


def _asked(q: QuestionToBring) -> str:
    if not q.asked_at:
        return _("Not asked yet")
    return _("Asked %(date)s") % {
        "date": dateformat.format(timezone.localtime(q.asked_at), _("j M"))
    }


def register() -> None:
    """The journal's kinds on the timeline, in the order its filter lists them (JournalConfig
    calls this once, before the practices and care add theirs)."""
    register_parts(
        "session",
        gettext_lazy("KAP sessions"),
        Part(
            _sessions,
            "starts_at",
            _session_entry,
            ("notes", "clinician_name"),
            scope=Scope.SESSIONS,
        ),
    )
    register_parts(
        "insight",
        gettext_lazy("Insights"),
        Part(_insights, "created_at", _insight_entry, ("text",), scope=Scope.INSIGHTS),
    )
    register_parts(
        "response",
        gettext_lazy("Check-ins and reflections"),
        Part(
            _responses,
            "when",
            _response_entry,
            ("answers",),
            scope=BY_INSTRUMENT,
            shared_rows=_shared_responses,
            shared_entry=_shared_response_entry,
        ),
    )
    register_parts(
        "step",
        gettext_lazy("Action steps and check-ins"),
        Part(_steps, "created_at", _step_entry, ("text",), scope=Scope.STEPS),
        Part(_checkins, "created_at", _checkin_entry, ("note",), scope=Scope.STEPS),
    )
    register_parts(
        "question",
        gettext_lazy("Questions to bring"),
        # Questions come from the worksheets' answers, and are shared with them.
        Part(_questions, "created_at", _question_entry, ("text",), scope=Scope.WORKSHEETS),
    )
