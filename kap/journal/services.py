"""Workflows on the client's records: each is one typed, keyword-only function in a transaction."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, field
from typing import Final, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone

from kap.content.crisis import safety_rules_for
from kap.content.models import Instrument
from kap.content.scoring import score, triggered
from kap.content.specs import InstrumentSpec, SafetyRule
from kap.journal.models import (
    ActionStep,
    KapSession,
    QuestionToBring,
    Response,
    ResponseVersion,
    SafetyEvent,
)
from kap.journal.signals import safety_event_recorded
from kap.journal.word_index import index_objects, refresh, tokens_of


class _Unversioned(enum.Enum):
    ANY = "any"


ANY_VERSION: Final = _Unversioned.ANY
"""The base_version of a caller that sends no version at all (a script, not one of our pages,
which always carry one): its save is not compared with the stored version."""

BaseVersion = int | None | Literal[_Unversioned.ANY]


class StaleEdit(Exception):
    """The save was based on an older version than the one stored. Nothing was written."""

    def __init__(self, response: Response, mine: dict):
        self.response = response
        self.mine = mine
        super().__init__("This was changed elsewhere since you opened it.")


@dataclass
class Submitted:
    response: Response
    safety: list[SafetyRule] = field(default_factory=list)
    # The form's token had filed this already: nothing was written; `response` is that one.
    duplicate: bool = False


def new_submission_token() -> str:
    """A fresh token for one rendering of a form (see Response.submission_token)."""
    return secrets.token_urlsafe(24)


def filed_with(client, token: str | None) -> Response | None:
    """The response this client filed, or edited, with the form that carried `token`."""
    if not token:
        return None
    # (A draft carries the token of the page whose autosave started it: not filed yet.)
    found = Response.objects.submitted().filter(client=client, submission_token=token).first()
    if found is None:
        earlier = (
            ResponseVersion.objects.filter(response__client=client, submission_token=token)
            .select_related("response")
            .first()
        )
        found = earlier.response if earlier else None
    return found


def _rules_for(instrument: Instrument) -> list[SafetyRule]:
    return safety_rules_for(instrument)


def _lines(text: str) -> list[str]:
    return [line.strip(" -•*\t") for line in (text or "").splitlines() if line.strip(" -•*\t")]


def _same_answers(spec: InstrumentSpec, stored: dict, sent: dict) -> bool:
    """Whether two answer sets say the same (text compared without surrounding whitespace, which
    the form strips and an autosave keeps)."""

    def norm(answers: dict) -> dict:
        return {
            k: v.strip() if isinstance(v, str) else v
            for k, v in _clean(spec, answers).items()
            if not (isinstance(v, str) and not v.strip())
        }

    return norm(stored or {}) == norm(sent or {})


def _clean(spec: InstrumentSpec, answers: dict) -> dict:
    """Only the items the spec knows; empty answers dropped."""
    return {k: v for k, v in answers.items() if k in spec.items_by_key and v not in (None, "")}


def _started_by(draft: Response, base_version: BaseVersion, token: str | None) -> bool:
    """Whether a page that has no version yet started this draft itself (its first autosave's
    answer has not reached it), rather than another window."""
    return base_version is None and bool(token) and draft.submission_token == token


def save_draft(
    *,
    client,
    instrument: Instrument,
    session: KapSession | None,
    answers: dict,
    base_version: BaseVersion,
    token: str | None = None,
) -> Response:
    """Autosave. Creates the draft on the first keystroke; refuses a save from a stale page.

    base_version is the version the page was showing; None for a page that showed no draft, so
    a draft started meanwhile in another window is not overwritten by this page's first save.
    `token` is the one rendered with the page: the draft its first save starts carries it, so that
    the page's later saves and its submit, sent before the first save's answer (and version)
    reached it, are known as its own rather than another window's.

    Nearly every save is the page's own draft at the version it shows: one conditional UPDATE
    does it. So is a save that sends no version at all (ANY_VERSION: it overwrites the open draft
    whatever its version). Anything else (no draft yet, another version, a draft submitted
    meanwhile) takes the careful path, which reads first and decides."""
    if isinstance(base_version, int) or base_version is ANY_VERSION:
        saved = _save_current(
            client=client,
            instrument=instrument,
            session=session,
            answers=_clean(instrument.parsed, answers),
            version=None if base_version is ANY_VERSION else base_version,
        )
        if saved is not None:
            return saved
    return _save_draft_carefully(
        client=client,
        instrument=instrument,
        session=session,
        answers=answers,
        base_version=base_version,
        token=token,
    )


def _save_current(
    *,
    client,
    instrument: Instrument,
    session: KapSession | None,
    answers: dict,
    version: int | None,
) -> Response | None:
    """The draft of this page, if it is still at `version` (None: at any version): written by one
    conditional `UPDATE … RETURNING` (SQLite ≥ 3.35 and PostgreSQL both have it), its blind index
    refreshed in the same transaction. The answers are encrypted before the transaction starts, so
    the write lock is held for the statements only. None, with nothing written, when no draft of
    this page is at that version."""
    meta = Response._meta
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    now = timezone.now()
    sealed = meta.get_field("answers").get_db_prep_save(answers, connection)
    stamp = meta.get_field("updated_at").get_db_prep_save(now, connection)
    column = {
        name: quote(meta.get_field(name).column)
        for name in (
            "answers",
            "version",
            "updated_at",
            "client",
            "instrument",
            "session",
            "status",
            "id",
        )
    }
    session_is = (
        f"{column['session']} = %s" if session is not None else f"{column['session']} IS NULL"
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column['answers']} = %s, "
        f"{column['version']} = {column['version']} + 1, {column['updated_at']} = %s "
        f"WHERE {column['client']} = %s AND {column['instrument']} = %s AND {session_is} "
        f"AND {column['status']} = %s "
        + (f"AND {column['version']} = %s " if version is not None else "")
        + f"RETURNING {column['id']}, {column['version']}"
    )
    params = [sealed, stamp, client.pk, instrument.pk]
    params += [session.pk] if session is not None else []
    params += [Response.Status.DRAFT] + ([version] if version is not None else [])
    draft = Response(
        client=client,
        instrument=instrument,
        session=session,
        status=Response.Status.DRAFT,
        answers=answers,
        updated_at=now,
    )
    words = tokens_of(draft)  # hashed here too: the transaction holds only the statements
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        draft.pk, draft.version = row
        refresh(draft, words)
    return draft


@transaction.atomic
def _save_draft_carefully(
    *,
    client,
    instrument: Instrument,
    session: KapSession | None,
    answers: dict,
    base_version: BaseVersion,
    token: str | None,
) -> Response:
    spec = instrument.parsed
    # The answers about to be overwritten are not decrypted (a stale save reads them again).
    locked = Response.objects.select_for_update().drafts().defer("answers")
    draft = locked.filter(client=client, instrument=instrument, session=session).first()
    if draft is None and isinstance(base_version, int):
        # The page's draft was submitted meanwhile (e.g. an autosave that arrives after its own
        # form's submit): never start a stray new draft from it.
        latest = (
            Response.objects.filter(client=client, instrument=instrument, session=session)
            .order_by("-pk")
            .first()
        )
        if latest is not None:
            raise StaleEdit(latest, answers)
    if draft is None:
        try:
            with transaction.atomic():
                return Response.objects.create(
                    client=client,
                    instrument=instrument,
                    session=session,
                    answers=_clean(spec, answers),
                    submission_token=token or "",
                )
        except IntegrityError:  # two tabs raced to create it; the other one won
            draft = locked.get(client=client, instrument=instrument, session=session)
    if (
        base_version is not ANY_VERSION
        and base_version != draft.version
        and not _started_by(draft, base_version, token)
    ):
        stored = Response.objects.get(pk=draft.pk)
        if base_version is not None or not _same_answers(spec, stored.answers, answers):
            raise StaleEdit(stored, answers)
        # A page without a version sending what is stored already: its own first save, whose
        # answer never reached it. Nothing to write; the answer tells the page the version.
        return stored
    draft.answers = _clean(spec, answers)
    draft.version += 1
    draft.instrument = instrument  # (the blind index reads its spec: no query for it)
    draft.save(update_fields=["answers", "version", "updated_at"])
    return draft


@transaction.atomic
def submit_response(
    *,
    client,
    instrument: Instrument,
    session: KapSession | None,
    answers: dict,
    base_version: BaseVersion = ANY_VERSION,
    token: str | None = None,
) -> Submitted:
    """Turn the open draft (if any) into a submitted response: score, safety, follow-ups.

    `token` is the one rendered with the form: sent again, it files nothing a second time."""
    spec = instrument.parsed
    response = (
        Response.objects.select_for_update()
        .drafts()
        .filter(client=client, instrument=instrument, session=session)
        .first()
    )
    # Read after the lock: a twin request that held it has committed, and its token shows.
    already = filed_with(client, token)
    if already is not None:
        return Submitted(already, duplicate=True)
    if (
        response is not None
        and base_version is not ANY_VERSION
        and base_version != response.version
        and not _started_by(response, base_version, token)
        and not _same_answers(spec, response.answers, answers)
    ):
        # (Same answers: this page's own last autosave overtook its submit; not a conflict.
        # No version (None): the page showed no draft, and one was started elsewhere since.)
        raise StaleEdit(response, answers)
    if response is None:
        response = Response(client=client, instrument=instrument, session=session, version=0)
    response.answers = _clean(spec, answers)
    response.status = Response.Status.SUBMITTED
    response.submitted_at = timezone.now()
    response.version += 1
    response.submission_token = token or ""
    _score_into(response, spec)
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        # A twin request with the same token (and no draft to queue on) got there first.
        already = filed_with(client, token)
        if already is None:
            raise
        return Submitted(already, duplicate=True)
    hits = _apply_rules(response, instrument)
    _follow_ups(response, spec)
    return Submitted(response, hits)


@transaction.atomic
def edit_response(
    *, response: Response, answers: dict, base_version: int, token: str | None = None
) -> Submitted:
    """Edit a submitted response, keeping the earlier version in its history."""
    locked = Response.objects.select_for_update().get(pk=response.pk)
    already = filed_with(locked.client_id, token)
    if already is not None:  # this very edit, sent again
        return Submitted(already, duplicate=True)
    if base_version != locked.version:
        raise StaleEdit(locked, answers)
    ResponseVersion.objects.create(
        response=locked,
        version=locked.version,
        answers=locked.answers,
        score_total=locked.score_total,
        saved_at=locked.updated_at,
        submission_token=locked.submission_token,
    )
    spec = locked.instrument.parsed
    locked.answers = _clean(spec, answers)
    locked.version += 1
    if token:
        locked.submission_token = token
    _score_into(locked, spec)
    locked.save()
    hits = _apply_rules(locked, locked.instrument)
    _follow_ups(locked, spec)
    return Submitted(locked, hits)


def _score_into(response: Response, spec: InstrumentSpec) -> None:
    result = score(spec.original, response.answers)  # stored: the pack's own words
    response.score_total = result.total if result else None
    response.score_band = result.band.label if result and result.band else ""


def _apply_rules(response: Response, instrument: Instrument) -> list[SafetyRule]:
    hits = triggered(_rules_for(instrument), instrument.parsed, response.answers)
    for rule in hits:
        event, created = SafetyEvent.objects.get_or_create(
            response=response, rule_key=rule.key, defaults={"client": response.client}
        )
        if created:
            # Linked therapists who were given "safety alerts" hear about it (after commit).
            safety_event_recorded.send(sender=SafetyEvent, event=event)
    return hits


def _follow_ups(response: Response, spec: InstrumentSpec) -> None:
    """Questions to bring and action steps, one per line written, without duplicates."""
    answers = response.answers
    questions = [
        line for i in spec.tagged("questions-to-bring") for line in _lines(answers.get(i.key, ""))
    ]
    if questions:
        have = {q.text for q in QuestionToBring.objects.filter(source=response)}
        index_objects(  # bulk_create sends no post_save: the blind index is written here
            QuestionToBring.objects.bulk_create(
                QuestionToBring(client=response.client, source=response, text=t)
                for t in questions
                if t not in have
            )
        )
    steps = [line for i in spec.tagged("next-steps") for line in _lines(answers.get(i.key, ""))]
    if steps:
        have = {s.text for s in ActionStep.objects.filter(source=response)}
        index_objects(
            ActionStep.objects.bulk_create(
                ActionStep(
                    client=response.client, session=response.session, source=response, text=t
                )
                for t in steps
                if t not in have
            )
        )
