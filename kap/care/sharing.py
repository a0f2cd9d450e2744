"""What each sharing scope shares: the one table the consent screens show and the therapist's
side loads by.

A client chooses scopes (kap.accounts.models.Scope) for each therapist. What a scope lets the
therapist see is written here once: whether it shows the words of the answers it shares or only
their scores, and the other kinds of record it shares. Which instruments' answers it shares is
said by the client's packs (`sharing:` in pack.yaml, read through kap.content.roles): a
questionnaire the client imported that is one of the packs' measures (by its LOINC panel code)
is shared under the scope its measure is shared under; their other imports under none.

The consent screen and the sharing settings list exactly these lines under each scope
(`shared_lines`), and kap.care.timeline and kap.care.brief load a kind only when
`shares(scopes, kind)` says so and answers only to `response_scopes(client)`, so that what a
client is told and what a therapist sees cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts.models import Scope
from kap.content.roles import Followed, Roles, measures_for, roles_for


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
    Record.SAFETY_EVENTS: gettext_lazy(
        "Safety alerts: when an answer matched a safety rule, the question"
        " it watches and your answer to it, in which check-in, and when (not your other answers)"
    ),
    Record.INSIGHTS: gettext_lazy("Insights you write down"),
    Record.QUESTIONS: gettext_lazy(
        "Questions to bring to your sessions, and whether you have asked them"
    ),
    Record.ACTION_STEPS: gettext_lazy("Action steps and your check-ins on them, with their notes"),
    Record.PRACTICES: gettext_lazy(
        "Practices you log: which one, when, for how long, and how settled you"
        " felt before and after"
    ),
    Record.SESSIONS: gettext_lazy(
        "Your KAP sessions: date, status, clinician and setting (not your notes on them)"
    ),
}


@dataclass(frozen=True)
class Shares:
    """What one scope shares, besides the answers to the instruments the packs put under it."""

    # True: the answers in full; False: only each response's score and band.
    answers: bool = True
    records: tuple[Record, ...] = ()


SHARES: dict[str, Shares] = {
    Scope.SCORES: Shares(answers=False),
    Scope.SAFETY: Shares(records=(Record.SAFETY_EVENTS,)),
    Scope.INTENTIONS: Shares(),
    Scope.INSIGHTS: Shares(records=(Record.INSIGHTS,)),
    Scope.WORKSHEETS: Shares(
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


def response_scopes(client) -> dict[str, list[str]]:
    """Scope → keys of the instruments whose responses it shares, for this client (or, with None,
    for someone who has no account yet: the server's packs), for scopes that share any."""
    roles = roles_for(client)
    return scopes_from(roles, measures_for(client, roles))


def scopes_from(roles: Roles, followed: list[Followed]) -> dict[str, list[str]]:
    """response_scopes, from the client's roles and measures at hand: each scope's instruments
    as the packs share them, then the client's imports of a measure under its measure's scope."""
    out: dict[str, list[str]] = {}
    for scope in Scope.values:
        keys = list(roles.shared_keys(scope))
        keys += [
            f.key
            for f in followed
            if f.key != f.measure.instrument and roles.shared_under(f.measure.instrument) == scope
        ]
        if keys:
            out[scope] = keys
    return out


@dataclass(frozen=True)
class Line:
    """One line of "this shares:" under a scope on the consent screen."""

    key: str  # an instrument's key, or a Record value
    label: str


def shared_lines(client=None) -> dict[str, list[Line]]:
    """Scope → the lines naming exactly what it shares with this client's therapists, in Scope
    order. Without a client (a screen shown before one exists), the server's packs say.

    Instruments are named by their titles in the content this client sees (every title a key
    has, should a clinic's pack use the same key); one that is not loaded has no answers to
    share. Their own imports are named only to them.
    """
    from kap.content.models import Instrument

    by_scope = response_scopes(client)
    keys = {key for keys in by_scope.values() for key in keys}
    titles: dict[str, list[str]] = {}
    for key, title in (
        Instrument.objects.visible_to(client)
        .current()
        .filter(key__in=keys)
        .order_by("key", "title")
        .values_list("key", "title")
    ):
        if title not in titles.setdefault(key, []):
            titles[key].append(title)
    out: dict[str, list[Line]] = {}
    for scope in Scope.values:
        s = SHARES[scope]
        how = _("your answers in full") if s.answers else _("its score and band, not your answers")
        lines = [
            Line(key, f"{title} — {how}")
            for key in by_scope.get(scope, [])
            for title in titles.get(key, [])
        ]
        lines += [Line(record.value, RECORD_LABELS[record]) for record in s.records]
        out[scope] = lines
    return out


def scope_names(client) -> dict[str, str]:
    """Scope → how the therapist's pages name it for this client, in Scope order: "scores" names
    the packs' instruments it shares as the packs do ("Scores: PHQ-9, GAD-7 and Changes You
    Hope For"), never by key; the others go by their label."""
    from kap.content.models import Instrument

    # The packs' instruments only: a client's own imports are named to them alone (they are
    # charted under their titles where shared, as the client's consent screen says).
    roles = roles_for(client)
    keys = roles.shared_keys(Scope.SCORES)
    titles = dict(
        Instrument.objects.for_person(client)
        .filter(key__in=keys)
        .order_by("key", "version")
        .values_list("key", "title")
    )
    labels = {m.instrument: m.label for m in roles.measures}
    names = [labels.get(key) or titles[key] for key in keys if key in labels or key in titles]
    out = {}
    for value, label in Scope.choices:
        if value == Scope.SCORES and names:
            listed = (
                names[0]
                if len(names) == 1
                else _("%(names)s and %(last)s")
                % {"names": ", ".join(names[:-1]), "last": names[-1]}
            )
            out[value] = _("Scores: %(names)s") % {"names": listed}
        else:
            out[value] = str(label).split(" (")[0]
    return out
