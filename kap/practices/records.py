"""Practice logs on the person's timeline.

The journal keeps the one timeline (kap.journal.records); practices add their kind to it here,
when the app is ready (kap.practices.apps). A linked therapist is shown them when the client
shares "practices".
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from kap.accounts.models import Scope
from kap.journal.models import KapSession
from kap.journal.timeline import Entry, Part, register_parts
from kap.practices.models import PracticeLog


def practice_words(log: PracticeLog) -> str:
    """How long, whether to the end, and how settled before and after, in a few words."""
    minutes = round(log.elapsed_seconds / 60)
    if log.completed:
        words = ngettext("%(n)s minute, completed", "%(n)s minutes, completed", minutes)
    else:
        words = ngettext("%(n)s minute, stopped early", "%(n)s minutes, stopped early", minutes)
    words %= {"n": minutes}
    if log.ratings_given:
        before = "–" if log.settled_before is None else log.settled_before
        after = "–" if log.settled_after is None else log.settled_after
        words = _("%(words)s; settled %(before)s before, %(after)s after (0–10)") % {
            "words": words,
            "before": before,
            "after": after,
        }
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
        "practice",
        gettext_lazy("Practices"),
        Part(_logs, "started_at", _log_entry, scope=Scope.PRACTICES),
    )
