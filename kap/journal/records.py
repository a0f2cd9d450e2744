"""The client's own records beyond single responses: questions, check-ins and the timeline.

Everything a person writes is encrypted at rest, so nothing here searches in SQL. Search loads one
person's rows (and only theirs), lets the fields decrypt them in memory, and matches there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
)

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


# --- Timeline -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One thing a person recorded, as the timeline shows it. Text is already decrypted."""

    kind: str
    when: datetime
    title: str
    text: str = ""
    url: str = ""
    session: KapSession | None = None
    draft: bool = False
    score: str = ""
    status: str = ""
    # The person's own words, searched in memory (case-insensitively).
    searchable: tuple[str, ...] = field(default=(), repr=False)

    @property
    def day(self) -> date:
        return timezone.localtime(self.when).date()

    def matches(self, query: str) -> bool:
        needle = query.casefold()
        return any(needle in s.casefold() for s in self.searchable)

    def excerpt(self, query: str, width: int = 80) -> str:
        """The words around the first match, for search results."""
        needle = query.casefold()
        for s in self.searchable:
            at = s.casefold().find(needle)
            if at >= 0:
                start, end = max(0, at - width), min(len(s), at + len(needle) + width)
                return ("…" if start else "") + s[start:end] + ("…" if end < len(s) else "")
        return ""


# A source loads one person's entries of one kind, optionally only those about one session.
Loader = Callable[[object, KapSession | None], Iterable[Entry]]


@dataclass(frozen=True)
class Source:
    kind: str
    label: str
    load: Loader


# Every kind the timeline knows, in the order the filter lists them. Other parts add theirs with
# `register_source("practice", "Practices")(load_practices)`; a loader must use a constant
# number of queries (select_related / prefetch_related), filter by the client it is given, and
# honour the session when it is not None (returning nothing if its kind has no session).
SOURCES: dict[str, Source] = {}


def register_source(kind: str, label: str) -> Callable[[Loader], Loader]:
    def add(load: Loader) -> Loader:
        SOURCES[kind] = Source(kind, label, load)
        return load

    return add


def timeline(
    client, *, kind: str | None = None, session: KapSession | None = None, query: str = ""
) -> list[Entry]:
    """Everything this person recorded, newest first; `query` matches their decrypted words."""
    sources = [SOURCES[kind]] if kind else list(SOURCES.values())
    entries = [e for s in sources for e in s.load(client, session)]
    query = query.strip()
    if query:
        entries = [e for e in entries if e.matches(query)]
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries


def _strings(values: Iterable) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v)


@register_source("session", "KAP sessions")
def session_entries(client, session: KapSession | None) -> Iterable[Entry]:
    rows = KapSession.objects.for_client(client)
    if session is not None:
        rows = rows.filter(pk=session.pk)
    for s in rows:
        yield Entry(
            kind="session",
            when=s.starts_at,
            title=f"KAP session ({s.get_status_display().lower()})",
            text=f"With {s.clinician_name}" if s.clinician_name else "",
            url=reverse("journal:session", args=[s.pk]),
            searchable=_strings([s.notes, s.clinician_name]),
        )


@register_source("insight", "Insights")
def insight_entries(client, session: KapSession | None) -> Iterable[Entry]:
    rows = Insight.objects.for_client(client).select_related("session")
    if session is not None:
        rows = rows.filter(session=session)
    for i in rows:
        yield Entry(
            kind="insight",
            when=i.created_at,
            title="Insight",
            text=i.text,
            url=reverse("journal:insight-edit", args=[i.pk]),
            session=i.session,
            searchable=_strings([i.text]),
        )


@register_source("response", "Check-ins and reflections")
def response_entries(client, session: KapSession | None) -> Iterable[Entry]:
    rows = Response.objects.for_client(client).select_related("instrument", "session")
    if session is not None:
        rows = rows.filter(session=session)
    for r in rows:
        if r.is_draft:
            url = reverse("journal:instrument", args=[r.instrument.key])
            url = f"{url}?session={r.session_id}" if r.session_id else url
        else:
            url = reverse("journal:response", args=[r.pk])
        score = ""
        if r.score_total is not None:
            score = f"{r.score_total:g}" + (f" ({r.score_band})" if r.score_band else "")
        yield Entry(
            kind="response",
            when=(r.updated_at if r.is_draft else r.submitted_at) or r.created_at,
            title=r.instrument.title,
            url=url,
            session=r.session,
            draft=r.is_draft,
            score=score,
            searchable=_strings((r.answers or {}).values()),
        )


@register_source("step", "Action steps and check-ins")
def step_entries(client, session: KapSession | None) -> Iterable[Entry]:
    rows = (
        ActionStep.objects.for_client(client).select_related("session").prefetch_related("checkins")
    )
    if session is not None:
        rows = rows.filter(session=session)
    for step in rows:
        url = reverse("journal:steps") + f"#step-{step.pk}"
        yield Entry(
            kind="step",
            when=step.created_at,
            title="Action step",
            text=step.text,
            url=url,
            session=step.session,
            status=step.get_status_display(),
            searchable=_strings([step.text]),
        )
        for c in step.checkins.all():
            yield Entry(
                kind="step",
                when=c.created_at,
                title=f"Check-in: {c.get_status_display().lower()}",
                text=step.text + (f" — {c.note}" if c.note else ""),
                url=url,
                session=step.session,
                searchable=_strings([c.note]),
            )


@register_source("question", "Questions to bring")
def question_entries(client, session: KapSession | None) -> Iterable[Entry]:
    # The source response is only needed for its session; its (encrypted) answers are not.
    rows = (
        QuestionToBring.objects.for_client(client)
        .select_related("source__session")
        .defer("source__answers")
    )
    if session is not None:
        rows = rows.filter(source__session=session)
    for q in rows:
        yield Entry(
            kind="question",
            when=q.created_at,
            title="Question to bring",
            text=q.text,
            url=reverse("journal:questions"),
            session=q.source.session if q.source else None,
            status=f"Asked {timezone.localtime(q.asked_at):%-d %b}"
            if q.asked_at
            else "Not asked yet",
            searchable=_strings([q.text]),
        )
