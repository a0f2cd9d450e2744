"""The timeline: the one list of everything a person recorded, and its search.

Their own timeline page shows it whole; a linked therapist is shown the same timeline through
`Shared`, narrowed to the kinds their link's scopes share (kap.care.timeline builds it). Each kind
is added with `register_parts`: the journal's own in kap.journal.records, practice logs by
kap.practices, safety events by kap.care.

Everything a person writes is encrypted at rest, so search looks their words up in a blind index
(kap.journal.word_index: keyed hashes of the words, per person) in SQL, then decrypts only the
rows of the page shown.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache, partial
from itertools import islice

from django.db.models import QuerySet
from django.utils import timezone

from kap.journal import word_index
from kap.journal.models import (
    KapSession,
)
from kap.lib.chart_text import format_date
from kap.lib.prepared import Prepared

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
    # (question, the answer in words): only on a therapist's view, for the scopes sharing words.
    answers: tuple[tuple[str, str], ...] = ()
    # The person's own words, for the excerpt around a match. Filled in by search().
    searchable: tuple[str, ...] = field(default=(), repr=False)

    @property
    def local(self) -> datetime:
        """The time in the person's time zone (the request's)."""
        return timezone.localtime(self.when)

    @property
    def day(self) -> date:
        return self.local.date()

    @property
    def clock(self) -> str:
        return f"{self.local:%H:%M}"

    @property
    def session_day(self) -> str:
        """The day of the session it is about, as "3 Nov 2026" in the language of the moment."""
        return format_date(timezone.localtime(self.session.starts_at)) if self.session else ""

    def excerpt(self, query: str, width: int = 80) -> str:
        """The words around the first match, for search results: the whole query where it is
        found as written, else the first of its words found at the start of a word."""
        needle = query.strip().casefold()
        for pattern in (re.escape(needle), *(rf"(?<!\w){re.escape(w)}" for w in needle.split())):
            for s in self.searchable:
                found = re.search(pattern, s.casefold()) if pattern else None
                if found:
                    at, end = found.start(), found.end()
                    start, end = max(0, at - width), min(len(s), end + width)
                    return ("…" if start else "") + s[start:end] + ("…" if end < len(s) else "")
        return ""


# A loader loads one person's entries of one kind, optionally only those about one session.
Loader = Callable[[object, KapSession | None], Iterable[Entry]]


@dataclass(frozen=True)
class Part:
    """One table behind a source, so that a page of the timeline costs the same whatever the
    length of the history (see LazyTimeline and search()).

    `rows(client, session)` is one person's rows (optionally about one session) with whatever
    `entry` needs selected and nothing else decrypted; `when` is the column (or annotation) the
    entries are ordered by; `words` are the columns that can hold the person's words (dicts, such
    as a response's answers, through their values): a part with words is searched through the
    blind index, which must cover its model (kap.journal.word_index.INDEXED), and its words are
    decrypted for the rows of the page shown only, for the excerpt.

    `scope` is the sharing scope (kap.accounts.models.Scope) a linked therapist must be given to
    be shown these rows; "" for rows no therapist is ever shown, BY_INSTRUMENT for responses,
    which each instrument's pack puts under a scope of its own. `shared_rows(client, session,
    shared=)` and `shared_entry(obj, shared=)` are what a therapist is shown, when that is not
    `rows` and `entry` (a therapist never sees a draft, and sees the words of some answers).
    """

    rows: Callable[[object, KapSession | None], QuerySet]
    when: str
    entry: Callable[[object], Entry]
    words: tuple[str, ...] = ()
    scope: str = ""
    shared_rows: Callable[[object, KapSession | None, Shared], QuerySet] | None = None
    shared_entry: Callable[[object, Shared], Entry] | None = None


# The scope of a part whose rows are shared instrument by instrument (Shared.instruments says).
BY_INSTRUMENT = "by-instrument"


@dataclass(frozen=True)
class Shared:
    """What a linked therapist is shown of a client's timeline; kap.care builds it from the link,
    read on the request, and from the client's packs.

    `scopes`: the link's scopes. `instruments`: the key of each instrument whose responses those
    scopes share → the scope that shares it. `in_words`: the scopes that share answers in words
    (the others share a response's score alone). `sessions`: whether sessions are shared, so
    that an entry may say which session it is about. `extra`: parts the therapist's view has
    besides the client's own kinds (the safety events, which care owns), each with its scope.
    """

    scopes: frozenset[str]
    instruments: Mapping[str, str] = field(default_factory=dict)
    in_words: frozenset[str] = frozenset()
    sessions: bool = False
    extra: tuple[Part, ...] = ()

    def sees(self, part: Part) -> bool:
        if part.scope == BY_INSTRUMENT:
            return bool(self.instruments)
        return bool(part.scope) and part.scope in self.scopes

    def part(self, part: Part) -> Part:
        """The part as this therapist is shown it: their rows, and entries without the client's
        own links (their pages are the client's), about a session only when sessions are shared."""
        rows = part.rows if part.shared_rows is None else partial(part.shared_rows, shared=self)
        entry = part.entry if part.shared_entry is None else partial(part.shared_entry, shared=self)

        def shown(obj) -> Entry:
            e = entry(obj)
            return replace(e, url="", draft=False, session=e.session if self.sessions else None)

        return replace(part, rows=rows, entry=shown)


@dataclass(frozen=True)
class Source:
    kind: str
    label: str
    load: Loader
    parts: tuple[Part, ...] = ()


# Every kind the timeline knows, in the order the filter lists them, each added with
# `register_parts`: its parts are paged and searched in SQL-bounded work. A part's rows must use a
# constant number of queries (select_related / prefetch_related), filter by the client it is
# given, and honour the session when it is not None (returning nothing if its kind has none).
SOURCES: dict[str, Source] = {}


def register_parts(kind: str, label: str, *parts: Part) -> None:
    def load(client, session):
        for part in parts:
            for obj in part.rows(client, session):
                yield part.entry(obj)

    SOURCES[kind] = Source(kind, label, load, tuple(parts))


def _sources(kind: str | None) -> list[Source]:
    return [SOURCES[kind]] if kind else list(SOURCES.values())


def timeline(
    client, *, kind: str | None = None, session: KapSession | None = None, query: str = ""
) -> list[Entry]:
    """Everything this person recorded, newest first; `query` matches their decrypted words.

    Loads the whole history: the timeline page uses LazyTimeline (no query) and search() instead.
    """
    if query.strip():
        return list(search(client, query, kind=kind, session=session)[:])
    entries = [e for s in _sources(kind) for e in s.load(client, session)]
    entries.sort(key=lambda e: e.when, reverse=True)
    return entries


def _newest_first(rows: QuerySet, part: Part) -> QuerySet:
    """A part's (time, pk) pairs, newest first (the indexed time columns; nothing decrypted)."""
    return rows.order_by(f"-{part.when}", "-pk").values_list(part.when, "pk")


def _stood_in(part: Part, about_a_session: bool, client_id: int, rest: tuple):
    """The part's rows for the person of that id (and the session whose id opens `rest`), and
    the rest of the values: how the compiled queries below are built (kap.lib.prepared)."""
    from django.contrib.auth import get_user_model

    session = KapSession(pk=rest[0]) if about_a_session else None
    rows = part.rows(get_user_model()(pk=client_id), session)
    return rows, list(rest[1:] if about_a_session else rest)


@cache
def _pairs_of(part: Part, about_a_session: bool, tokens: int = 0, terms: int = 0) -> Prepared:
    """A part's `_newest_first` pairs for one person (and one session), compiled once per
    process (kap.lib.prepared): building and compiling a queryset is most of what a count or a
    page of pairs costs, and a timeline page asks it of every part. With `tokens`, only the rows
    the blind index finds holding `terms` of that many tokens (word_index.looked_up), for search.
    One per part and shape: the parts are a few, and a query's words are at most 200 characters."""

    def build(client_id: int, *rest):
        rows, looked = _stood_in(part, about_a_session, client_id, rest)
        if tokens:
            label = rows.model._meta.label_lower
            rows = rows.filter(pk__in=word_index.holding(client_id, label, looked, terms))
        return _newest_first(rows, part)

    return Prepared(build, (int,) * (2 if about_a_session else 1) + (str,) * tokens)


def _load(part: Part, client, session, pks: list) -> list:
    # Always one query, even for no rows: a page costs the same number of queries whatever it
    # holds (pk 0 is never used by an auto-incremented key).
    return list(part.rows(client, session).filter(pk__in=pks or [0]))


# How many rows of a part a page loads, rounded up to one of these and made up with pk 0 (which
# no row has), so that loading them is compiled a handful of times per part, not once per count.
_LOADS = (1, 2, 4, 8, 16, 32, 64)


@cache
def _rows_of(part: Part, about_a_session: bool, n: int, words: tuple[str, ...] = ()) -> Prepared:
    """A part's rows of `n` pks for one person (and one session), compiled once per process
    (kap.lib.prepared), as `_load` loads them; with `words`, (pk, *words) of those rows instead.
    Building and compiling the querysets was most of what loading a page of search cost."""

    def build(client_id: int, *rest):
        rows, pks = _stood_in(part, about_a_session, client_id, rest)
        rows = rows.filter(pk__in=pks)
        return rows.values_list("pk", *words) if words else rows

    return Prepared(build, (int,) * ((2 if about_a_session else 1) + n))


@cache
def _words_left(part: Part) -> tuple[str, ...]:
    """The part's words its rows leave deferred (not loaded with them), in `part.words` order."""
    from django.contrib.auth import get_user_model

    names, deferring = part.rows(get_user_model()(pk=0), None).query.deferred_loading
    return tuple(w for w in part.words if (w in names) == deferring)


class LazyTimeline:
    """The timeline as a sequence Paginator can slice without loading the history.

    count() is one COUNT per part. A slice [start:stop] takes the newest `stop` (time, pk) pairs
    of each part, ordered in SQL on the indexed time columns with nothing decrypted, merges them,
    then loads and decrypts only the rows of that slice: three queries per part, whatever the
    length of the history. On a person's own timeline the count and the pairs of each part are
    compiled once per process (`_plain`), and so is the loading of a page's rows (`_compiled`:
    per part and a few lengths).

    With `shared`, it is the timeline a linked therapist is shown: only the parts whose scope the
    link shares (a part not shared is never queried), as `Shared.part` narrows them, and the
    therapist's own `extra` parts.
    """

    def __init__(
        self,
        client,
        *,
        kind: str | None = None,
        session: KapSession | None = None,
        shared: Shared | None = None,
    ):
        self.client, self.kind, self.session = client, kind, session
        self.shared = shared
        self.sources = _sources(kind)
        self._count: int | None = None
        self._eager: list[Entry] | None = None
        if shared is not None:
            extra = () if kind else shared.extra
            every = [p for s in self.sources for p in s.parts] + list(extra)
            self.parts = [shared.part(p) for p in every if shared.sees(p)]
        else:
            self.parts = [p for s in self.sources for p in s.parts]
            if any(not s.parts for s in self.sources):  # a plain loader: load everything once
                self._eager = timeline(client, kind=kind, session=session)

    def count(self) -> int:
        if self._eager is not None:
            return len(self._eager)
        if self._count is None:
            self._count = sum(self._counted(part) for part in self.parts)
        return self._count

    def _rows(self, part: Part) -> QuerySet:
        """The part's rows on this timeline."""
        return part.rows(self.client, self.session)

    def _ids(self) -> tuple[int, ...]:
        """The person's id, and the session's when there is one: what `_pairs_of` runs with."""
        return (self.client.pk,) if self.session is None else (self.client.pk, self.session.pk)

    def _plain(self, part: Part) -> tuple[Prepared, tuple] | None:
        """The part's (time, pk) pairs compiled once per process, and the values to run them
        with; None on a therapist's view, whose parts depend on the link (built each time)."""
        if self.shared is not None:
            return None
        return _pairs_of(part, self.session is not None), self._ids()

    def _counted(self, part: Part) -> int:
        if plain := self._plain(part):
            prepared, values = plain
            return prepared.count(*values)
        return self._rows(part).count()

    def __len__(self) -> int:
        return self.count()

    def _pairs(self, n: int, part: Part, stop: int) -> Iterable[tuple]:
        """(time, pk, n) of the part's newest `stop` rows, newest first: nothing decrypted."""
        if plain := self._plain(part):
            prepared, values = plain
            rows = prepared.tuples(*values, limit=stop)
        else:
            rows = _newest_first(self._rows(part), part)[:stop]
        return ((when, pk, n) for when, pk in rows)

    def __getitem__(self, s):
        if not isinstance(s, slice):
            raise TypeError("LazyTimeline supports slices only")
        if self._eager is not None:
            return self._eager[s]
        start = s.start or 0
        stop = s.stop if s.stop is not None else self.count()
        if stop <= start:
            return []
        parts = self.parts
        streams = [self._pairs(n, part, stop) for n, part in enumerate(parts)]
        # Newest first; at the very same instant, the order of the sources, then the newest row.
        merged = heapq.merge(*streams, key=lambda t: (t[0], -t[2], t[1]), reverse=True)
        chosen = list(islice(merged, start, stop))
        rank = {(n, pk): i for i, (_, pk, n) in enumerate(chosen)}
        entries: list[tuple[int, Entry]] = []
        for n, part in enumerate(parts):
            pks = [pk for _, pk, m in chosen if m == n]
            entries += [(rank[n, pk], e) for pk, e in self._entries(part, pks)]
        entries.sort(key=lambda t: t[0])
        return [e for _, e in entries]

    def _entries(self, part: Part, pks: list) -> Iterable[tuple[object, Entry]]:
        return ((obj.pk, part.entry(obj)) for obj in self._load(part, pks))

    def _compiled(self, part: Part, pks: list, words: tuple[str, ...] = ()):
        """`_rows_of` for these pks and the values to run it with; None on a therapist's view
        (whose parts depend on the link) or for more pks than a page holds."""
        n = next((n for n in _LOADS if n >= len(pks)), None)
        if self.shared is not None or n is None:
            return None
        prepared = _rows_of(part, self.session is not None, n, words)
        return prepared, (*self._ids(), *pks, *[0] * (n - len(pks)))

    def _load(self, part: Part, pks: list) -> list:
        """The part's rows of these pks, decrypted: one query, even for none."""
        if compiled := self._compiled(part, pks):
            prepared, values = compiled
            return prepared.objects(*values)
        return _load(part, self.client, self.session, pks)


def _words(values: Iterable) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        if isinstance(v, dict):
            out += _strings(v.values())
        elif isinstance(v, str) and v:
            out.append(v)
    return tuple(out)


class Found(LazyTimeline):
    """The entries whose words hold every word of a query, as LazyTimeline pages them.

    Each part with words is narrowed in SQL to the rows the blind index finds (a subquery: no
    query more, nothing decrypted); a page then loads and decrypts only its own rows, and their
    words for the excerpt (one query more per part when the part's rows leave them deferred).
    Parts without words (a practice log's minutes and ratings) are never searched.
    """

    def __init__(self, client, query: str, *, kind=None, session=None):
        super().__init__(client, kind=kind, session=session)
        self.query = query
        self._eager = None  # every source is made of parts (register_parts)
        self.tokens, self.terms = word_index.looked_up(client.pk, query)
        self.parts = [p for p in self.parts if p.words and self.terms]

    def _plain(self, part: Part) -> tuple[Prepared, tuple] | None:
        about = self.session is not None
        return _pairs_of(part, about, len(self.tokens), self.terms), (*self._ids(), *self.tokens)

    def _entries(self, part: Part, pks: list) -> Iterable[tuple[object, Entry]]:
        objs = self._load(part, pks)
        left = _words_left(part)  # not loaded with the rows
        extra: dict = {}
        if compiled := left and self._compiled(part, pks or [0], left):
            prepared, values = compiled
            extra = {pk: rest for pk, *rest in prepared.tuples(*values)}
        elif left:
            rows = part.rows(self.client, self.session).filter(pk__in=pks or [0])
            extra = {pk: rest for pk, *rest in rows.values_list("pk", *left)}
        for obj in objs:
            values = [
                extra[obj.pk][left.index(w)] if w in left else getattr(obj, w) for w in part.words
            ]
            yield obj.pk, replace(part.entry(obj), searchable=_words(values))


def search(
    client, query: str, *, kind: str | None = None, session: KapSession | None = None
) -> Found | list[Entry]:
    """Entries whose words hold every word of `query` (or a word starting with it), newest
    first: a `Found`, which Paginator pages like LazyTimeline, building the entries of the page
    shown only. A fixed number of queries whatever the length of the history or the matches.
    """
    if not query.strip():
        return timeline(client, kind=kind, session=session)
    return Found(client, query, kind=kind, session=session)


def _strings(values: Iterable) -> tuple[str, ...]:
    return tuple(v for v in values if isinstance(v, str) and v)
