"""Proposed timeline and search for kap.journal.records / views_records.timeline.

Today `records.timeline()` builds an Entry for *everything* a person ever recorded (decrypting
every text, resolving a URL for each) and the view then keeps 50 of them: 10 years is ~10,000
entries, ~0.4 s of CPU per page view, whether or not anything is searched.

1. Browsing (no query): each source returns its newest `page × 50` rows, ordered by its own time
   column in SQL (indexed: client + created_at / starts_at), and the streams are merged with
   heapq.merge (`LazyTimeline` gives Paginator exactly that). The merge runs on (time, pk)
   pairs only; then just the rows shown are loaded and decrypted. The count for the paginator
   is one COUNT per source. At most 3 queries per source, and the decryption work of one page
   whatever the history.
2. Searching: decrypt only the columns that can hold a person's words, as plain tuples
   (values_list: no model instances, no URLs), skip responses of instruments without free text
   (PHQ-9, GAD-7 and closing outcomes hold choices and numbers only: 640 of 881 responses after
   ten years), and build entries for the matches only.

Entries are the same `records.Entry` objects, so the template does not change.
"""

from __future__ import annotations

import heapq
from itertools import islice

from django.db.models import Case, F, When
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from kap.content.models import Instrument
from kap.journal.models import ActionStep, CheckIn, Insight, KapSession, QuestionToBring, Response
from kap.journal.records import Entry, _strings

PER_PAGE = 50


def _sessions(client, session):
    rows = KapSession.objects.for_client(client)
    return rows.filter(pk=session.pk) if session else rows


def _session_entry(s) -> Entry:
    return Entry(
        kind="session",
        when=s.starts_at,
        title=f"KAP session ({s.get_status_display().lower()})",
        text=f"With {s.clinician_name}" if s.clinician_name else "",
        url=reverse("journal:session", args=[s.pk]),
        searchable=_strings([s.notes, s.clinician_name]),
    )


def _insights(client, session):
    rows = Insight.objects.for_client(client).select_related("session").defer("session__notes")
    return rows.filter(session=session) if session else rows


def _insight_entry(i) -> Entry:
    return Entry(
        kind="insight",
        when=i.created_at,
        title="Insight",
        text=i.text,
        url=reverse("journal:insight-edit", args=[i.pk]),
        session=i.session,
        searchable=_strings([i.text]),
    )


def _responses(client, session):
    rows = (
        Response.objects.for_client(client)
        .select_related("instrument", "session")
        .defer("answers", "session__notes", "instrument__spec")
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
    return rows.filter(session=session) if session else rows


def _response_entry(r) -> Entry:
    if r.is_draft:
        url = reverse("journal:instrument", args=[r.instrument.key])
        url = f"{url}?session={r.session_id}" if r.session_id else url
    else:
        url = reverse("journal:response", args=[r.pk])
    score = ""
    if r.score_total is not None:
        score = f"{r.score_total:g}" + (f" ({r.score_band})" if r.score_band else "")
    return Entry(
        kind="response",
        when=r.when,
        title=r.instrument.title,
        url=url,
        session=r.session,
        draft=r.is_draft,
        score=score,
    )


def _steps(client, session):
    rows = ActionStep.objects.for_client(client).select_related("session").defer("session__notes")
    return rows.filter(session=session) if session else rows


def _step_entry(step) -> Entry:
    return Entry(
        kind="step",
        when=step.created_at,
        title="Action step",
        text=step.text,
        url=reverse("journal:steps") + f"#step-{step.pk}",
        session=step.session,
        status=step.get_status_display(),
        searchable=_strings([step.text]),
    )


def _checkins(client, session):
    rows = CheckIn.objects.filter(step__client=client).select_related("step__session")
    rows = rows.defer("step__session__notes")
    return rows.filter(step__session=session) if session else rows


def _checkin_entry(c) -> Entry:
    step = c.step
    return Entry(
        kind="step",
        when=c.created_at,
        title=f"Check-in: {c.get_status_display().lower()}",
        text=step.text + (f" — {c.note}" if c.note else ""),
        url=reverse("journal:steps") + f"#step-{step.pk}",
        session=step.session,
        searchable=_strings([c.note]),
    )


def _questions(client, session):
    rows = (
        QuestionToBring.objects.for_client(client)
        .select_related("source__session")
        .defer("source__answers", "source__session__notes")
    )
    return rows.filter(source__session=session) if session else rows


def _question_entry(q) -> Entry:
    return Entry(
        kind="question",
        when=q.created_at,
        title="Question to bring",
        text=q.text,
        url=reverse("journal:questions"),
        session=q.source.session if q.source else None,
        status=f"Asked {timezone.localtime(q.asked_at):%-d %b}" if q.asked_at else "Not asked yet",
        searchable=_strings([q.text]),
    )


# kind -> [(rows, time column, entry builder)]
SOURCES = {
    "session": [(_sessions, "starts_at", _session_entry)],
    "insight": [(_insights, "created_at", _insight_entry)],
    "response": [(_responses, "when", _response_entry)],
    "step": [(_steps, "created_at", _step_entry), (_checkins, "created_at", _checkin_entry)],
    "question": [(_questions, "created_at", _question_entry)],
}


def _parts(kind):
    return [p for k, ps in SOURCES.items() if kind in (None, k) for p in ps]


def timeline_count(client, *, kind=None, session=None) -> int:
    return sum(rows(client, session).count() for rows, _, _ in _parts(kind))


def timeline_slice(client, start: int, stop: int, *, kind=None, session=None) -> list[Entry]:
    """Entries [start:stop] of the timeline, newest first. At most 2 queries per source.

    First the (time, pk) pairs of each source's newest `stop` rows — no decryption — merged to
    find the rows of the slice; then only those rows are loaded and decrypted.
    """
    parts = _parts(kind)

    def stream(n, rows, col):
        ordered = rows(client, session).order_by(f"-{col}", "-pk").values_list(col, "pk")[:stop]
        return ((when, pk, n) for when, pk in ordered)

    streams = [stream(n, rows, col) for n, (rows, col, _) in enumerate(parts)]
    merged = heapq.merge(*streams, key=lambda t: (t[0], t[1]), reverse=True)
    chosen = list(islice(merged, start, stop))
    entries = []
    for n, (rows, _, build) in enumerate(parts):
        pks = [pk for _, pk, m in chosen if m == n]
        if pks:
            entries += [build(obj) for obj in rows(client, session).filter(pk__in=pks)]
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries


class LazyTimeline:
    """What views_records.timeline hands to Paginator when nothing is searched:

        entries = LazyTimeline(request.user, kind=..., session=...)
        page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))

    count() is one COUNT per source; the paginator's slice loads that page only.
    """

    def __init__(self, client, *, kind=None, session=None):
        self.client, self.kind, self.session = client, kind, session
        self._count = None

    def count(self) -> int:
        if self._count is None:
            self._count = timeline_count(self.client, kind=self.kind, session=self.session)
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, s):
        if not isinstance(s, slice):
            raise TypeError("LazyTimeline supports slices only")
        start, stop = s.start or 0, s.stop if s.stop is not None else self.count()
        return timeline_slice(self.client, start, stop, kind=self.kind, session=self.session)


def timeline_page(client, *, page: int = 1, kind=None, session=None, per_page=PER_PAGE):
    """(entries of one page, total count), as the view would get them through Paginator."""
    from django.core.paginator import Paginator

    p = Paginator(LazyTimeline(client, kind=kind, session=session), per_page).get_page(page)
    return list(p.object_list), p.paginator.count


def search(client, query: str, *, kind=None, session=None) -> list[Entry]:
    """Entries whose words contain `query`, newest first: decrypts words only, as tuples."""
    needle = query.strip().casefold()
    if not needle:
        return []

    def hit(*texts) -> bool:
        return any(t and needle in t.casefold() for t in texts)

    found: dict[str, list[int]] = {}
    if kind in (None, "session"):
        found["session"] = [
            pk
            for pk, n, c in _sessions(client, session).values_list("pk", "notes", "clinician_name")
            if hit(n, c)
        ]
    if kind in (None, "insight"):
        found["insight"] = [
            pk for pk, t in _insights(client, session).values_list("pk", "text") if hit(t)
        ]
    if kind in (None, "step"):
        found["step"] = [
            pk for pk, t in _steps(client, session).values_list("pk", "text") if hit(t)
        ]
        found["checkin"] = [
            pk
            for pk, t in _checkins(client, session).exclude(note="").values_list("pk", "note")
            if hit(t)
        ]
    if kind in (None, "question"):
        found["question"] = [
            pk for pk, t in _questions(client, session).values_list("pk", "text") if hit(t)
        ]
    if kind in (None, "response"):
        texty = [i.pk for i in Instrument.objects.all() if i.parsed.has_free_text]
        rows = _responses(client, session).filter(instrument_id__in=texty)
        words = {
            pk: _strings((answers or {}).values())
            for pk, answers in rows.values_list("pk", "answers")
        }
        found["response"] = [pk for pk, texts in words.items() if hit(*texts)]
    builders = {
        "session": (_sessions, _session_entry),
        "insight": (_insights, _insight_entry),
        "step": (_steps, _step_entry),
        "checkin": (_checkins, _checkin_entry),
        "question": (_questions, _question_entry),
        "response": (_responses, _response_entry),
    }
    entries = []
    for name, pks in found.items():
        if pks:
            rows, build = builders[name]
            extra = rows(client, session).filter(pk__in=pks)
            for obj in extra:
                e = build(obj)
                if name == "response":  # the excerpt needs the words
                    e = Entry(**{**e.__dict__, "searchable": words[obj.pk]})
                entries.append(e)
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries
