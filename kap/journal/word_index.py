"""The blind index: a person's records found by their words in SQL, without decrypting them.

What a person writes is encrypted at rest, so SQL cannot search it. Instead, each record that
holds words has one `WordIndex` row per *term* of its words: a keyed hash (HMAC-SHA256, cut to
128 bits) of the term under a key derived from KAP_SECRET_KEY (kept beside the encryption keys,
never in the database) and the person's id, so that the same word in two people's records gives
two different tokens. A search hashes the words it is given the same way and finds, in one SQL
query, the records that hold all of them; only the records shown are then decrypted
(kap.journal.timeline.search).

Terms: the text is NFKC-normalised, case-folded and cut into words (runs of letters and digits).
A word of two characters is a term as it is; of three or more, each of its first 3 … PREFIX
characters is one, so "anx" finds "anxious" (the middle of a word, "xiou", does not). A query
word longer than PREFIX is looked up by its first PREFIX characters.

Written by post_save/post_delete receivers on each indexed model (connected in
kap.journal.apps), inside the transaction that writes the record (kap.journal.models.Searchable
makes every save one). bulk_create and QuerySet.update() send no signals: whoever writes that way
calls `index_objects` (fresh rows), `refresh` (a row updated in SQL) or `reindex` afterwards, in
the same transaction, as the JSON import and the follow-ups of a submit do. The rows go with the
person by CASCADE (a post_delete receiver removes those of a record deleted on its own). `kap
search reindex` rebuilds them all, after KAP_SECRET_KEY changes; until then, a previous key kept
in KAP_SECRET_KEY_FALLBACKS still finds the records indexed under it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.utils.crypto import salted_hmac

from kap.content.specs import FREE_TEXT_TYPES
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
    WordIndex,
)

SALT = "kap.journal.word_index"
# Terms are the words of 2 characters and the prefixes of 3 to PREFIX characters of longer words.
PREFIX = 8
WORD = re.compile(r"\w+")
BATCH = 1000


def words(text: str) -> list[str]:
    """The words of `text` (of two characters or more), normalised and case-folded."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return [w for w in WORD.findall(folded) if len(w) >= 2]


def terms(texts: Iterable[str]) -> set[str]:
    """What is indexed of these texts: each word of 2 characters; each prefix of 3 to PREFIX
    characters of a longer word."""
    out: set[str] = set()
    for text in texts:
        for w in words(text):
            if len(w) == 2:
                out.add(w)
            else:
                out.update(w[:n] for n in range(3, min(len(w), PREFIX) + 1))
    return out


def query_terms(query: str) -> list[str]:
    """The terms a query looks up (every one must be found), without repeats."""
    return list(dict.fromkeys(w[:PREFIX] for w in words(query)))


def _key(client_id: int, secret: str) -> bytes:
    # One key per person: the same word in two people's records is two different tokens.
    return salted_hmac(SALT, str(client_id), secret=secret, algorithm="sha256").digest()


def _token(key: bytes, term: str) -> str:
    return hmac.new(key, term.encode(), hashlib.sha256).hexdigest()[:32]


def tokens(client_id: int, texts: Iterable[str], *, secret: str | None = None) -> set[str]:
    key = _key(client_id, secret or settings.SECRET_KEY)
    return {_token(key, t) for t in terms(texts)}


# --- What is indexed ------------------------------------------------------------------------------


def _strings(obj, columns: tuple[str, ...]) -> list[str]:
    values = [getattr(obj, c) for c in columns]
    return [v for v in values if isinstance(v, str) and v]


def _free_text_answers(response: Response) -> list[str]:
    # A response's words are its answers to free-text items: never the choices of a PHQ-9.
    spec = response.instrument.parsed
    items = spec.items_by_key
    return [
        v
        for k, v in (response.answers or {}).items()
        if isinstance(v, str) and v and k in items and spec.item_type(items[k]) in FREE_TEXT_TYPES
    ]


@dataclass(frozen=True)
class Indexed:
    """A model whose rows hold a person's words. `owner`: the lookup from a row to its person;
    `columns`: the columns that hold the words (a save that changes none of them changes no
    term); `said`: the texts of a row, if not the string values of `columns`; `related`: what
    to select_related for `said` when rebuilding."""

    model: type[models.Model]
    owner: str
    columns: tuple[str, ...]
    said: Callable[[models.Model], list[str]] | None = None
    related: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.model._meta.label_lower

    def client_id(self, obj) -> int:
        *path, last = self.owner.split("__")
        for name in path:
            obj = getattr(obj, name)
        return getattr(obj, f"{last}_id")

    def texts(self, obj) -> list[str]:
        return self.said(obj) if self.said else _strings(obj, self.columns)

    def rows(self, client_id: int) -> QuerySet:
        rows = self.model._default_manager.filter(**{self.owner: client_id})
        return rows.select_related(*self.related) if self.related else rows


# The one list of what the index covers. timeline.Part.words names the same columns (for the
# excerpt of a search result); tests/journal/test_search_index.py checks that they agree.
INDEXED: dict[type[models.Model], Indexed] = {
    i.model: i
    for i in (
        Indexed(KapSession, "client", ("notes", "clinician_name")),
        Indexed(Insight, "client", ("text",)),
        Indexed(Response, "client", ("answers",), _free_text_answers, ("instrument",)),
        Indexed(ActionStep, "client", ("text",)),
        Indexed(CheckIn, "client", ("note",)),
        Indexed(QuestionToBring, "client", ("text",)),
    )
}
BY_KIND = {i.kind: i for i in INDEXED.values()}


# --- Writing --------------------------------------------------------------------------------------


Row = tuple[int, str, int, str]  # client_id, kind, object_id, token: one WordIndex row


def _rows(spec: Indexed, obj, client_id: int) -> list[Row]:
    return [(client_id, spec.kind, obj.pk, t) for t in tokens(client_id, spec.texts(obj))]


def _insert(rows: list[Row]) -> int:
    """Write index rows: one executemany of plain tuples. (bulk_create builds a model instance
    and prepares every value of every row: four fifths of a large import's time went there.)"""
    if not rows:
        return 0
    meta = WordIndex._meta
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(meta.get_field(f).column) for f in ("client", "kind", "object_id", "token")
    )
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES (%s, %s, %s, %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            cursor.executemany(sql, rows[start : start + BATCH])
    return len(rows)


def _rewrite(spec: Indexed, obj, new: set[str] | None = None) -> None:
    """One saved row's terms, replacing those it had: only what changed is written. `new`: its
    tokens, when the caller hashed them already (outside its transaction)."""
    client_id = spec.client_id(obj)
    if new is None:
        new = tokens(client_id, spec.texts(obj))
    mine = WordIndex.objects.filter(kind=spec.kind, object_id=obj.pk)
    old = set(mine.values_list("token", flat=True))
    if gone := old - new:
        mine.filter(token__in=gone).delete()
    _insert([(client_id, spec.kind, obj.pk, t) for t in sorted(new - old)])


def index_objects(objs: Iterable[models.Model]) -> int:
    """Index rows just stored with bulk_create (which sends no signal), e.g. by an import.
    They must have their primary keys and hold no index rows yet. Returns the rows written."""
    return _insert(
        [
            row
            for obj in objs
            if (spec := INDEXED.get(type(obj)))
            for row in _rows(spec, obj, spec.client_id(obj))
        ]
    )


def index_in_batches(objs: list, per_transaction: int = 25) -> int:
    """index_objects for many records already committed (an import), a few records per
    transaction: nobody else's save waits long for the write lock. Until it is done the search
    finds fewer of them; `kap search reindex` rebuilds all if the process is stopped half-way."""
    written = 0
    for start in range(0, len(objs), per_transaction):
        with transaction.atomic():
            written += index_objects(objs[start : start + per_transaction])
    return written


def refresh(obj, new: set[str] | None = None) -> None:
    """Re-index one row whose words were changed without a post_save (QuerySet.update()).
    `new`: its tokens from `tokens_of`, hashed before the transaction that calls this."""
    _rewrite(INDEXED[type(obj)], obj, new)


def tokens_of(obj) -> set[str]:
    """The tokens of a row's words (the hashing, done before its transaction by a caller that
    keeps the write lock short: kap.journal.services' autosave)."""
    spec = INDEXED[type(obj)]
    return tokens(spec.client_id(obj), spec.texts(obj))


def forget(obj) -> None:
    spec = INDEXED.get(type(obj))
    if spec is not None and obj.pk is not None:
        WordIndex.objects.filter(kind=spec.kind, object_id=obj.pk).delete()


def saved(sender, instance, created=False, update_fields=None, raw=False, **kwargs) -> None:
    """post_save: the row's terms, in the transaction of the save (see Searchable)."""
    spec = INDEXED.get(sender)
    if raw or spec is None:
        return
    if update_fields is not None and not set(update_fields) & set(spec.columns):
        return  # e.g. a step's status, a question marked asked: no word changed
    if created:
        _insert(_rows(spec, instance, spec.client_id(instance)))
    else:
        _rewrite(spec, instance)


def deleted(sender, instance, origin=None, **kwargs) -> None:
    """post_delete (inside the deletion's transaction). When the person is deleted, their index
    rows go by CASCADE from them: nothing to do per row."""
    if isinstance(origin, get_user_model()):
        return
    forget(instance)


def connect() -> None:
    for model in INDEXED:
        models.signals.post_save.connect(saved, sender=model, dispatch_uid=f"index-{model}")
        models.signals.post_delete.connect(deleted, sender=model, dispatch_uid=f"forget-{model}")


# --- Rebuilding -----------------------------------------------------------------------------------


@transaction.atomic
def reindex(client) -> int:
    """Rebuild one person's index (after a bulk write, or under a new KAP_SECRET_KEY): their
    words are decrypted once, here. Returns the rows written."""
    client_id = getattr(client, "pk", client)
    WordIndex.objects.filter(client_id=client_id).delete()
    written = 0
    for spec in INDEXED.values():
        batch: list[Row] = []
        for obj in spec.rows(client_id).iterator(chunk_size=500):
            batch += _rows(spec, obj, client_id)
            if len(batch) >= BATCH:
                written += _insert(batch)
                batch = []
        written += _insert(batch)
    return written


def people() -> list[int]:
    """The ids of everyone with a record the index covers, in order."""
    ids: set[int] = set()
    for spec in INDEXED.values():
        ids.update(spec.model._default_manager.values_list(spec.owner, flat=True).distinct())
    return sorted(ids)


def reindex_everyone(progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Rebuild the whole index, one person per transaction (safe while the app runs, and to stop
    and run again). Returns (people, rows written)."""
    everyone = people()
    WordIndex.objects.exclude(client_id__in=everyone).delete()  # (none, unless rows were lost)
    written = 0
    for client_id in everyone:
        written += reindex(client_id)
        if progress:
            progress(1)
    return len(everyone), written


def records_count() -> int:
    """How many records the index covers, of everyone."""
    return sum(spec.model._default_manager.count() for spec in INDEXED.values())


def needs_building() -> bool:
    """Whether the index is empty while records exist (made before it, or bulk-written)."""
    if WordIndex.objects.exists():
        return False
    return any(spec.model._default_manager.exists() for spec in INDEXED.values())


# --- Searching ------------------------------------------------------------------------------------


def looked_up(client_id: int, query: str) -> tuple[list[str], int]:
    """(tokens, terms): the tokens to look `query` up with for this person, under every key in
    use (settings.SECRET_KEY and its fallbacks), and how many terms a row must hold; ([], 0)
    when the query has no word to look up."""
    wanted = query_terms(query)
    keys = [_key(client_id, s) for s in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)]
    return [_token(k, t) for k in keys for t in wanted], len(wanted)


def holding(client_id: int, kind: str, tokens: list[str], terms: int) -> QuerySet:
    """The ids of this person's rows of `kind` (a model label) whose index rows hold `terms` of
    `tokens` (see looked_up), as a subquery (nothing is run here)."""
    # A row's tokens are all under one key, so counting distinct tokens over every key's counts
    # the query's terms found under that one key.
    return (
        WordIndex.objects.filter(client_id=client_id, kind=kind, token__in=tokens)
        .values("object_id")
        .annotate(found=Count("token", distinct=True))
        .filter(found=terms)
        .values("object_id")
    )
