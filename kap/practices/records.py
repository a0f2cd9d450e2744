"""Practice logs on the person's timeline.

The journal keeps the one timeline (kap.journal.records); practices add their kind to it here,
when the app is ready (kap.practices.apps). A linked therapist is shown them when the client
shares "practices".
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse

from kap.accounts.models import Scope
from kap.journal.models import KapSession
from kap.journal.timeline import Entry, Part, register_parts
from kap.practices.models import PracticeLog


def practice_words(log: PracticeLog) -> str:
    """How long, whether to the end, and how settled before and after, in a few words."""
    minutes = round(log.elapsed_seconds / 60)
    words = f"{minutes} minute{'s' if minutes != 1 else ''}"
    words += ", completed" if log.completed else ", stopped early"
    if log.ratings_given:
        before = "–" if log.settled_before is None else log.settled_before
        after = "–" if log.settled_after is None else log.settled_after
        words += f"; settled {before} before, {after} after (0–10)"
    return words


def _logs(client, session: KapSession | None) -> QuerySet:
    if session is not None:
        return PracticeLog.objects.none()  # a practice is about no session: never queried
    return (
        PracticeLog.objects.for_client(client)
        .select_related("instrument")
        .defer("instrument__spec")
    )


def _log_entry(log: PracticeLog) -> Entry:
    return Entry(
        kind="practice",
        when=log.started_at,
        title=log.instrument.title,
        text=practice_words(log),
        url=reverse("practices:detail", args=[log.pk]),
    )


def register() -> None:
    # No words of the person's own: a search never looks through practice logs.
    register_parts(
        "practice", "Practices", Part(_logs, "started_at", _log_entry, scope=Scope.PRACTICES)
    )
