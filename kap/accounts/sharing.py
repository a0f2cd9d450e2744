"""What each sharing scope shares: the one table the consent screens show and the therapist's
side loads by.

A client chooses scopes (kap.accounts.models.Scope) for each therapist. What a scope lets the
therapist see is written here once: the instruments whose submitted answers it shares (and
whether their words or only their scores), and the other kinds of record it shares. The consent
screen and the sharing settings list exactly these lines under each scope (`shared_lines`), and
kap.care.brief and kap.care.views load a kind only when `shares(scopes, kind)` says so, so that
what a client is told and what a therapist sees cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kap.accounts.models import Scope


class Record(StrEnum):
    """Kinds of record, other than answers to instruments, that a therapist can be shown."""

    SAFETY_EVENTS = "safety-events"
    INSIGHTS = "insights"
    QUESTIONS = "questions"
    ACTION_STEPS = "action-steps"
    PRACTICES = "practices"
    SESSIONS = "sessions"


# How each kind of record is named on the consent screen: what the therapist is shown of it.
RECORD_LABELS: dict[Record, str] = {
    Record.SAFETY_EVENTS: "Safety alerts: which safety rule your answers matched, in which"
    " check-in, and when (not your answers)",
    Record.INSIGHTS: "Insights you write down",
    Record.QUESTIONS: "Questions to bring to your sessions, and whether you have asked them",
    Record.ACTION_STEPS: "Action steps and your check-ins on them, with their notes",
    Record.PRACTICES: "Practices you log: which one, when, for how long, and how settled you"
    " felt before and after",
    Record.SESSIONS: "Your KAP sessions: date, status, clinician and setting (not your notes on"
    " them)",
}


@dataclass(frozen=True)
class Shares:
    """What one scope shares."""

    # Keys of the instruments whose submitted responses it shares (every version).
    instruments: tuple[str, ...] = ()
    # True: the answers in full; False: only each response's score and band.
    answers: bool = True
    records: tuple[Record, ...] = ()


SHARES: dict[str, Shares] = {
    Scope.SCORES: Shares(instruments=("phq9", "gad7", "closing-outcomes"), answers=False),
    Scope.SAFETY: Shares(records=(Record.SAFETY_EVENTS,)),
    Scope.INTENTIONS: Shares(instruments=("intention-setting",)),
    Scope.INSIGHTS: Shares(records=(Record.INSIGHTS,)),
    Scope.WORKSHEETS: Shares(
        instruments=(
            "integration-worksheet",
            "self-assessment",
            "first-session-preparation",
            "capture-insights",
            "insight-into-action",
            "build-support",
        ),
        # "What questions would you like to bring?" becomes questions to bring.
        records=(Record.QUESTIONS,),
    ),
    Scope.STEPS: Shares(records=(Record.ACTION_STEPS,)),
    Scope.PRACTICES: Shares(records=(Record.PRACTICES,)),
    Scope.SESSIONS: Shares(records=(Record.SESSIONS,)),
}


def scope_of(record: Record) -> str:
    """The scope that shares this kind of record."""
    return next(scope for scope, s in SHARES.items() if record in s.records)


def shares(scopes: Iterable[str], record: Record) -> bool:
    """Whether a link with these scopes shares this kind of record."""
    return scope_of(record) in set(scopes)


def response_scopes() -> dict[str, tuple[str, ...]]:
    """Scope → keys of the instruments whose responses it shares, for scopes that share any."""
    return {scope: s.instruments for scope, s in SHARES.items() if s.instruments}


@dataclass(frozen=True)
class Line:
    """One line of "this shares:" under a scope on the consent screen."""

    key: str  # an instrument's key, or a Record value
    label: str


def shared_lines() -> dict[str, list[Line]]:
    """Scope → the lines naming exactly what it shares, in Scope order.

    Instruments are named by their titles in the loaded content (every title a key has, should
    a clinic's pack use the same key); one that is not loaded has no answers to share.
    """
    from kap.content.models import Instrument
    from kap.content.models import Scope as ContentScope

    keys = {key for s in SHARES.values() for key in s.instruments}
    titles: dict[str, list[str]] = {}
    for key, title in (
        # The server's and clinics' content only: a person's own import is no one else's business.
        Instrument.objects.current()
        .filter(key__in=keys, scope__lt=ContentScope.PERSONAL)
        .order_by("key", "title")
        .values_list("key", "title")
    ):
        if title not in titles.setdefault(key, []):
            titles[key].append(title)
    out: dict[str, list[Line]] = {}
    for scope in Scope.values:
        s = SHARES[scope]
        how = "your answers in full" if s.answers else "its score and band, not your answers"
        lines = [
            Line(key, f"{title} — {how}") for key in s.instruments for title in titles.get(key, [])
        ]
        lines += [Line(record.value, RECORD_LABELS[record]) for record in s.records]
        out[scope] = lines
    return out
