"""What a linked therapist is shown of one client's timeline.

There is one timeline, the client's own (kap.journal.records): the therapist is shown it through
`Shared`, narrowed to the kinds the link's scopes share, plus the client's safety events, which
care owns (with whether this therapist acknowledged each). Every function takes the CareLink read
on this request; a kind not shared is never queried, so it cannot leak into a page or a count,
and a page costs the same few queries however much the client has recorded. A KapSession's
`notes` are the client's own and are never loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from kap.accounts.models import CareLink, Scope
from kap.care.models import AlertAcknowledgement
from kap.care.sharing import SHARES, Record, response_scopes, scope_of, shares
from kap.content.answers import answer_words
from kap.content.crisis import safety_rules_for
from kap.journal.models import KapSession, SafetyEvent
from kap.journal.timeline import Entry, LazyTimeline, Part, Shared


def scopes_of(link: CareLink) -> set[str]:
    return {s for s in Scope.values if link.shares(s)}


# --- Safety events ------------------------------------------------------------------------------


def _events(client, therapist) -> QuerySet:
    """The client's safety events, each with `mine` (this therapist's acknowledgements). The
    response's answers and its instrument's spec come too: `matched` reads the one answer the
    rule watched, and only that one is shown."""
    mine = AlertAcknowledgement.objects.filter(therapist=therapist).order_by("created_at")
    return (
        SafetyEvent.objects.for_client(client)
        .select_related("response__instrument__pack")
        .prefetch_related(Prefetch("acknowledgements", queryset=mine, to_attr="mine"))
    )


@dataclass(frozen=True)
class Matched:
    """What a safety rule watched, in the pack's words: the question and the answer given."""

    question: str
    answer: str


def matched(event: SafetyEvent) -> Matched | None:
    """The question the event's rule watches (its pack's wording, never the rule's key) and the
    client's answer to it in words; None if the rule or the question is no longer in the pack."""
    instrument = event.response.instrument
    rule = next((r for r in safety_rules_for(instrument) if r.key == event.rule_key), None)
    if rule is None:
        return None
    spec = instrument.parsed
    item = next((i for i in spec.items if i.key == rule.item), None)
    if item is None:
        return None
    answer = answer_words(spec, item, (event.response.answers or {}).get(item.key))
    return Matched(item.text, answer or _("(no answer)"))


def _with_matched(events: list[SafetyEvent]) -> list[SafetyEvent]:
    for event in events:
        event.matched = matched(event)
    return events


def _not_acknowledged_by(therapist):
    return ~Exists(AlertAcknowledgement.objects.filter(event=OuterRef("pk"), therapist=therapist))


def safety_events(link: CareLink, therapist, *, since=None) -> list[SafetyEvent]:
    """Newest first; with `since`, those since then and those this therapist has not yet
    acknowledged, however old."""
    rows = _events(link.client_id, therapist).order_by("-created_at", "-pk")
    if since is not None:
        rows = rows.filter(Q(created_at__gte=since) | _not_acknowledged_by(therapist))
    return _with_matched(list(rows))


def open_alerts(link: CareLink, therapist) -> list[SafetyEvent]:
    """The safety events this therapist has not acknowledged, newest first (none unless the link
    shares safety alerts)."""
    if not shares(scopes_of(link), Record.SAFETY_EVENTS):
        return []
    rows = _events(link.client_id, therapist).filter(_not_acknowledged_by(therapist))
    return _with_matched(list(rows.order_by("-created_at", "-pk")))


def _event_entry(e: SafetyEvent) -> Entry:
    found = matched(e)
    title = e.response.instrument.title
    if found is None:
        text = _("An answer in %(title)s matched a safety rule.") % {"title": title}
    else:
        text = _("In %(title)s, “%(question)s” was answered “%(answer)s”.") % {
            "title": title,
            "question": found.question,
            "answer": found.answer,
        }
    return Entry(
        kind="safety",
        when=e.created_at,
        title=_("Safety rule matched"),
        text=text,
        status=_("Acknowledged by you") if e.mine else _("Not acknowledged by you yet"),
    )


def _safety_part(therapist) -> Part:
    def rows(client, session: KapSession | None) -> QuerySet:
        if session is not None:
            return SafetyEvent.objects.none()
        return _events(client, therapist)

    return Part(rows, "created_at", _event_entry, scope=scope_of(Record.SAFETY_EVENTS))


# --- The shared timeline ------------------------------------------------------------------------


def shared_with(link: CareLink, therapist) -> Shared:
    """What this link shows of the client's timeline, read from its scopes and the client's packs
    (kap.care.sharing: the table the consent screen shows)."""
    scopes = scopes_of(link)
    return Shared(
        scopes=frozenset(scopes),
        instruments={
            key: scope
            for scope, keys in response_scopes(link.client).items()
            if scope in scopes
            for key in keys
        },
        in_words=frozenset(s for s in scopes if SHARES[s].answers),
        sessions=shares(scopes, Record.SESSIONS),
        extra=(_safety_part(therapist),),
    )


def shared_timeline(link: CareLink, therapist) -> LazyTimeline:
    """Everything this client shares with this therapist, newest first, to be paged: only the
    page shown is loaded."""
    return LazyTimeline(link.client, shared=shared_with(link, therapist))
