"""The JSON import: an export (read and checked by kap.exports.import_checks) loaded into an
empty account, all of it or nothing, in short transactions (see ROWS_PER_TRANSACTION).

Instruments are found here or, for a personal import, made again; scores, bands and safety events
are the ones worked out from the answers. Each safety event is announced with
kap.journal.signals.safety_event_recorded, as a submit announces it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DataError, IntegrityError, connection, models, transaction
from django.db.models import RestrictedError, TextField, Value
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from pydantic import ValidationError

from kap.accounts.models import User
from kap.content.models import Instrument
from kap.content.specs import InstrumentSpec
from kap.exports.import_checks import Worked, check_practices, parse_export, work_out
from kap.exports.questionnaire_import import store_instrument
from kap.exports.schema import Export, ImportRefused
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    ReminderPreference,
    Response,
    ResponseVersion,
    SafetyEvent,
    SupportItem,
)
from kap.journal.signals import safety_event_recorded
from kap.journal.stamps import bump
from kap.journal.word_index import index_in_batches
from kap.lib.fields import EncryptedJSONField, EncryptedTextField
from kap.practices.models import PracticeLog

# A safety rule set off by an imported answer saved this recently tells linked therapists just
# as a new answer would (PHQ-9 itself asks about the last two weeks). An older answer's event is
# recorded and shown as an open alert (roster, timeline, brief) but sends no e-mail: it is news
# of the past, and an urgent-looking e-mail about it would teach people to ignore alerts.
ALERT_WINDOW = timedelta(days=14)


@dataclass
class Imported:
    """What an import stored (a count per kind) and, in words, what it left out or corrected."""

    counts: dict[str, int] = field(default_factory=dict)
    not_imported: list[str] = field(default_factory=list)
    # The records stored, with their words in hand, for the search's blind index (import_json
    # writes it after the import's own transaction, a few records at a time).
    to_index: list = field(default_factory=list, repr=False)

    def summary(self) -> str:
        parts = [_counted(kind, n) for kind, n in self.counts.items() if n]
        return ", ".join(parts) if parts else _("no records")


def _counted(kind: str, n: int) -> str:
    """`n` records of one of the kinds of Imported.counts, in words: "3 insights"."""
    words = {
        "KAP sessions": lambda: ngettext("%(count)s KAP session", "%(count)s KAP sessions", n),
        "check-ins and worksheets": lambda: ngettext(
            "%(count)s check-in or worksheet", "%(count)s check-ins and worksheets", n
        ),
        "safety events": lambda: ngettext("%(count)s safety event", "%(count)s safety events", n),
        "insights": lambda: ngettext("%(count)s insight", "%(count)s insights", n),
        "action steps": lambda: ngettext("%(count)s action step", "%(count)s action steps", n),
        "questions": lambda: ngettext("%(count)s question", "%(count)s questions", n),
        "support items": lambda: ngettext("%(count)s support item", "%(count)s support items", n),
        "practices": lambda: ngettext("%(count)s practice", "%(count)s practices", n),
    }.get(kind)
    return words() % {"count": n} if words else f"{n} {kind}"


def has_records(user) -> bool:
    """Whether the person keeps any records here (an import goes only into an empty account)."""
    return any(
        model.objects.filter(client=user).exists()
        for model in (
            KapSession,
            Response,
            SafetyEvent,
            Insight,
            ActionStep,
            QuestionToBring,
            SupportItem,
            PracticeLog,
        )
    )


def _resolve_instruments(
    user, export: Export
) -> tuple[dict[tuple[str, int], Instrument], list[Instrument]]:
    """Each instrument of the file, found among those the person sees here (same key, version
    and checksum) or, for one that came from no pack, made again as theirs (and listed second).
    A pack instrument that is missing is a clear refusal."""
    found: dict[tuple[str, int], Instrument] = {}
    made: list[Instrument] = []
    for entry in export.instruments:
        ident = (entry.key, entry.version)
        here = (
            Instrument.objects.visible_to(user)
            .filter(key=entry.key, version=entry.version)
            .order_by("-scope")
            .first()
        )
        if here is not None and here.checksum == entry.checksum:
            found[ident] = here
            continue
        if entry.spec is None:
            named = {
                "key": repr(entry.key),
                "version": entry.version,
                "title": entry.title,
                "pack": repr(entry.pack),
            }
            if here is None and entry.pack:
                raise ImportRefused(
                    _(
                        "The export uses the instrument %(key)s version %(version)s (“%(title)s”)"
                        " from the content pack %(pack)s, which is not loaded here. Load that"
                        " content pack (kap content load PATH) and import again. Nothing was"
                        " imported."
                    )
                    % named
                )
            if here is None:
                raise ImportRefused(
                    _(
                        "The export uses the instrument %(key)s version %(version)s (“%(title)s”),"
                        " which is not loaded here. Load that content pack (kap content load"
                        " PATH) and import again. Nothing was imported."
                    )
                    % named
                )
            raise ImportRefused(
                _(
                    "The instrument %(key)s version %(version)s here is not the same as the one in"
                    " the export (their checksums differ), so its answers could be misread."
                    " Nothing was imported."
                )
                % named
            )
        try:
            spec = InstrumentSpec.model_validate(entry.spec)
        except ValidationError as e:
            raise ImportRefused(
                _(
                    "The instrument %(key)s in the export is damaged (%(error)s). Nothing was imported."
                )
                % {"key": repr(entry.key), "error": e.errors()[0]["msg"]}
            ) from None
        if (spec.key, spec.version) != ident:
            raise ImportRefused(
                _(
                    "The instrument %(key)s in the export names itself %(named)s version"
                    " %(version)s. Nothing was imported."
                )
                % {"key": repr(entry.key), "named": repr(spec.key), "version": spec.version}
            )
        found[ident], created = store_instrument(spec, owner=user)
        if created:
            made.append(found[ident])
    return found, made


def _restore_times(model: type[models.Model], objs: list, times: list[dict]) -> None:
    """auto_now and auto_now_add fields overwrite what is saved; put the original times back."""
    names = sorted({name for t in times for name in t})
    if not objs or not names:
        return
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(model._meta.db_table)}"
        f" SET {', '.join(f'{quote(f.column)} = %s' for f in fields)}"
        f" WHERE {quote(model._meta.pk.column)} = %s"
    )
    rows = []
    for obj, t in zip(objs, times, strict=True):
        for name, value in t.items():
            setattr(obj, name, value)
        rows.append(
            [f.get_db_prep_save(getattr(obj, f.name), connection) for f in fields] + [obj.pk]
        )
    # One prepared statement run per row: bulk_update's single CASE expression takes seconds per
    # ten thousand rows to build, all of it inside the import's write lock.
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _safety_events(
    account, export: Export, worked: list[Worked], response_of: dict[int, Response]
) -> tuple[list[SafetyEvent], list[dict], list[str]]:
    """The safety events the answers set off under this instance's rules (never the file's list),
    unsaved, oldest first, with their times, and notes on how they differ from the file's list.

    Each keeps the time the file gives it when the file has the same one (so that a round trip
    changes nothing), else the time its answer was saved.
    """
    claimed = {(e.response, e.rule_key): e.created_at for e in export.safety_events}
    now = timezone.now()
    found: list[tuple[datetime, int, str]] = []
    for row, w in zip(export.responses, worked, strict=True):
        for rule_key, saved in w.events:
            when = claimed.get((row.id, rule_key))
            if when is None or not row.created_at <= when <= now:
                when = saved
            found.append((when, row.id, rule_key))
    found.sort(key=lambda f: f[0])
    events = [
        SafetyEvent(client=account, response=response_of[local], rule_key=key)
        for _, local, key in found
    ]
    times = [{"created_at": when} for when, _, _ in found]

    notes = []
    ours = {(local, key) for _, local, key in found}
    added, left_out = len(ours - set(claimed)), len(set(claimed) - ours)
    if added:
        notes.append(
            ngettext(
                "%(count)s safety event was recorded for answers in the file that set off a"
                " safety rule here, though the file did not list it.",
                "%(count)s safety events were recorded for answers in the file that set off a"
                " safety rule here, though the file did not list them.",
                added,
            )
            % {"count": added}
        )
    if left_out:
        notes.append(
            ngettext(
                "%(count)s safety event of the file was left out: the answers named do not set"
                " off a safety rule here.",
                "%(count)s safety events of the file were left out: the answers named do not set"
                " off a safety rule here.",
                left_out,
            )
            % {"count": left_out}
        )
    return events, times, notes


# How an import writes without holding the write lock for long (issue 16: a 30 MB file held
# SQLite's lock for over 20 s, and other people's saves failed with "database is locked").
#
# Everything that takes time is done before any transaction: the file read and checked, scores,
# bands and safety events worked out, every record built in memory and its words encrypted. Then
# the records are written ROWS_PER_TRANSACTION at a time, each batch its own short transaction,
# so other writers take the lock between two batches.
#
# All of it or nothing, without one transaction: each batch's primary keys are noted once it is
# committed (`_Written`), and if anything fails (a refusal, a constraint of the database, an
# error, the process being interrupted) the batches already written are deleted again, newest
# first and also a batch per transaction, before the error goes on. Only those rows are deleted,
# never something the person saved meanwhile in another tab. A process killed outright (SIGKILL,
# power cut) cannot clean up: the account then holds part of the file, and the next import into
# it is refused as into any account with records.
#
# Two imports into one account: the first batch's transaction checks again that the account is
# empty, under the account's row lock, so of two imports sent at once one is refused. Safety
# events are announced (alerts, e-mails) only once the whole import is written; until then the
# person sees their records arrive, as they do while a long page loads.
ROWS_PER_TRANSACTION = 500


@dataclass
class _Batch:
    """Unsaved records of one model, in the order they are written, with the times to put back
    (auto_now and auto_now_add overwrite those on insert)."""

    model: type[models.Model]
    objs: list
    times: list[dict] | None = None


class _Written:
    """What an import has committed so far, to be deleted if it fails."""

    def __init__(self) -> None:
        self.rows: list[tuple[type[models.Model], list]] = []

    def add(self, model: type[models.Model], objs: list) -> None:
        self.rows.append((model, [obj.pk for obj in objs]))

    def undo(self, account) -> None:
        # Children before parents (they were written after them), so no delete cascades far.
        for model, pks in reversed(self.rows):
            for start in range(0, len(pks), ROWS_PER_TRANSACTION):
                try:
                    with transaction.atomic():
                        part = pks[start : start + ROWS_PER_TRANSACTION]
                        model.objects.filter(pk__in=part).delete()
                except RestrictedError:
                    # A questionnaire this import made that records written since use (another
                    # import of the same file, sent at once, found it): no longer ours alone.
                    pass
        self.rows = []
        bump(account)  # pages cached while part of the file was here are stale


def _empty_account(user) -> User:
    """The account, locked, so that two imports sent at once cannot both find it empty."""
    account = User.objects.select_for_update().get(pk=user.pk)
    if has_records(account):
        raise ImportRefused(
            _(
                "This account already has records, so importing would mix or duplicate them."
                " Import into a new, empty account instead. Nothing was imported."
            )
        )
    return account


_ENCRYPTED = (EncryptedTextField, EncryptedJSONField)


def _seal(objs: list) -> list[dict]:
    """Encrypt the records' words now, outside any transaction: each encrypted field is set to
    its ciphertext as a plain SQL value (so that the insert stores it as it is). Returns the
    words, for `_unseal` to put back once the rows are written (the search index reads them)."""
    if not objs:
        return []
    fields = [f for f in type(objs[0])._meta.concrete_fields if isinstance(f, _ENCRYPTED)]
    words = []
    for obj in objs:
        kept = {}
        for f in fields:
            kept[f.attname] = value = getattr(obj, f.attname)
            setattr(obj, f.attname, Value(f.get_prep_value(value), output_field=TextField()))
        words.append(kept)
    return words


def _unseal(objs: list, words: list[dict]) -> None:
    for obj, kept in zip(objs, words, strict=True):
        for name, value in kept.items():
            setattr(obj, name, value)


def _write(batch: _Batch, written: _Written, guard_user=None) -> None:
    """One batch in short transactions; `guard_user`: check first that the account is empty."""
    words = _seal(batch.objs)
    try:
        for start in range(0, len(batch.objs), ROWS_PER_TRANSACTION):
            part = batch.objs[start : start + ROWS_PER_TRANSACTION]
            with transaction.atomic():
                if guard_user is not None:
                    _empty_account(guard_user)
                    guard_user = None
                batch.model.objects.bulk_create(part)
                if batch.times is not None:
                    _restore_times(
                        batch.model, part, batch.times[start : start + ROWS_PER_TRANSACTION]
                    )
            written.add(batch.model, part)
    finally:
        _unseal(batch.objs, words)


def import_export(*, user, export: Export) -> Imported:
    """Load an export into this (empty) account, all of it or nothing (see ROWS_PER_TRANSACTION
    for how, in short transactions)."""
    with transaction.atomic():
        account = _empty_account(user)
        instruments, made = _resolve_instruments(account, export)
    written = _Written()
    written.add(Instrument, made)
    try:
        result, events = _write_all(user, account, export, instruments, written)
    except BaseException:
        written.undo(account)
        raise

    # Like a submit, each safety event is announced with safety_event_recorded (care alerts
    # linked therapists who share safety alerts), but only when its answer was saved within
    # ALERT_WINDOW (see there): an older one is stored and shown, and is not news. Outside any
    # transaction: a receiver that stores something (an alert for a therapist) takes the write
    # lock for that alone, and the lookups of the others hold no lock.
    recent = timezone.now() - ALERT_WINDOW
    for event in events:
        if event.created_at >= recent:
            safety_event_recorded.send(sender=SafetyEvent, event=event)
    return result


def _write_all(
    user, account, export: Export, instruments: dict, written: _Written
) -> tuple[Imported, list[SafetyEvent]]:
    # Worked out and built before any transaction (see ROWS_PER_TRANSACTION).
    worked = work_out(export, instruments)
    check_practices(export)
    result = Imported()

    session_of = {
        s.id: KapSession(
            client=account,
            starts_at=s.starts_at,
            status=s.status,
            clinician_name=s.clinician_name,
            setting=s.setting,
            notes=s.notes,
        )
        for s in export.sessions
    }
    sessions = list(session_of.values())
    response_of = {
        r.id: Response(
            client=account,
            instrument=instruments[r.instrument.as_tuple()],
            session=session_of[r.session] if r.session else None,
            status=r.status,
            answers=w.answers,
            version=r.version,
            score_total=w.total,
            score_band=w.band,
            submitted_at=r.submitted_at,
        )
        for r, w in zip(export.responses, worked, strict=True)
    }
    responses = list(response_of.values())
    versions = [
        ResponseVersion(
            response=response_of[r.id],
            version=h.version,
            answers=answers,
            score_total=total,
            saved_at=h.saved_at,
        )
        for r, w in zip(export.responses, worked, strict=True)
        for h, (answers, total) in zip(r.history, w.history, strict=True)
    ]
    events, event_times, notes = _safety_events(account, export, worked, response_of)
    insights = [
        Insight(
            client=account,
            session=session_of[i.session] if i.session else None,
            text=i.text,
            created_at=i.created_at,
        )
        for i in export.insights
    ]
    steps = [
        ActionStep(
            client=account,
            session=session_of[s.session] if s.session else None,
            source=response_of[s.source_response] if s.source_response else None,
            text=s.text,
            status=s.status,
            created_at=s.created_at,
        )
        for s in export.action_steps
    ]
    checkins = [
        CheckIn(step=step, client=account, status=c.status, note=c.note, created_at=c.created_at)
        for row, step in zip(export.action_steps, steps, strict=True)
        for c in row.check_ins
    ]
    questions = [
        QuestionToBring(
            client=account,
            source=response_of[q.source_response] if q.source_response else None,
            text=q.text,
            asked_at=q.asked_at,
            created_at=q.created_at,
        )
        for q in export.questions
    ]
    supports = [
        SupportItem(client=account, category=s.category, text=s.text, created_at=s.created_at)
        for s in export.support_items
    ]
    # A practice's uuid only stops a retried send from being stored twice; one already taken
    # here (the same export imported into a second account) is given a new one.
    taken = set(
        PracticeLog.objects.filter(uuid__in=[p.uuid for p in export.practice_logs]).values_list(
            "uuid", flat=True
        )
    )
    practices = [
        PracticeLog(
            uuid=uuid.uuid4() if p.uuid in taken else p.uuid,
            client=account,
            instrument=instruments[p.instrument.as_tuple()],
            started_at=p.started_at,
            planned_seconds=p.planned_seconds,
            elapsed_seconds=p.elapsed_seconds,
            completed=p.completed,
            settled_before=p.settled_before,
            settled_after=p.settled_after,
            pace=p.pace,
            notings=p.notings,
            source=p.source,
        )
        for p in export.practice_logs
    ]

    # Parents before the records that point at them (a record's key to its parent is read from
    # the parent once that is written).
    batches = [
        _Batch(
            KapSession,
            sessions,
            [{"created_at": s.created_at, "updated_at": s.updated_at} for s in export.sessions],
        ),
        _Batch(
            Response,
            responses,
            [{"created_at": r.created_at, "updated_at": r.updated_at} for r in export.responses],
        ),
        _Batch(ResponseVersion, versions),
        _Batch(SafetyEvent, events, event_times),
        _Batch(Insight, insights),
        _Batch(ActionStep, steps),
        _Batch(CheckIn, checkins),
        _Batch(QuestionToBring, questions),
        _Batch(SupportItem, supports),
        _Batch(
            PracticeLog, practices, [{"created_at": p.created_at} for p in export.practice_logs]
        ),
    ]
    guard = user  # the first rows written are written with the account checked empty
    for batch in batches:
        if batch.objs:
            _write(batch, written, guard)
            guard = None

    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=user.pk)
        if pref := export.reminder_preference:
            obj, _created = ReminderPreference.objects.update_or_create(
                client=account,
                defaults={
                    "email_enabled": pref.email_enabled,
                    "include_clinician": pref.include_clinician,
                },
            )
            _restore_times(ReminderPreference, [obj], [{"updated_at": pref.updated_at}])
        # The profile: the name and region come back unless this account already chose its
        # own; "with us since" keeps the earlier date.
        changed = []
        if export.profile.name and not account.display_name:
            account.display_name = export.profile.name
            changed.append("display_name")
        if export.profile.region and not account.region:
            account.region = export.profile.region
            changed.append("region")
        if export.profile.date_joined < account.date_joined:
            account.date_joined = export.profile.date_joined
            changed.append("date_joined")
        if changed:
            account.save(update_fields=changed)
        # bulk_create sends no post_save, so raises no change stamp (Today's cache is keyed on
        # it) and writes no blind index: import_json writes that after this, from the words in
        # hand (nothing decrypted again), in short transactions.
        bump(account)
    user.display_name, user.region, user.date_joined = (
        account.display_name,
        account.region,
        account.date_joined,
    )
    result.to_index = [*sessions, *responses, *insights, *steps, *checkins, *questions]

    if export.care_links:
        result.not_imported.append(
            _(
                "Links to therapists are not imported: a therapist on this instance can invite"
                " you again, and you choose again what to share."
            )
        )
    corrected = sum(w.corrected for w in worked)
    if corrected:
        result.not_imported.append(
            ngettext(
                "%(count)s score or band in the file did not match the answers. Scores and bands"
                " are always worked out again from the answers, so those were corrected.",
                "%(count)s scores or bands in the file did not match the answers. Scores and"
                " bands are always worked out again from the answers, so those were corrected.",
                corrected,
            )
            % {"count": corrected}
        )
    result.not_imported += notes
    result.counts = {
        "KAP sessions": len(export.sessions),
        "check-ins and worksheets": len(export.responses),
        "safety events": len(events),
        "insights": len(export.insights),
        "action steps": len(export.action_steps),
        "questions": len(export.questions),
        "support items": len(export.support_items),
        "practices": len(export.practice_logs),
    }
    return result, events


def import_json(*, user, raw: bytes) -> Imported:
    """An uploaded export read, checked and loaded; ImportRefused says why it cannot be."""
    export = parse_export(raw)
    try:
        result = import_export(user=user, export=export)
    except IntegrityError:
        # The schema cannot see everything the database checks (e.g. two open drafts of one
        # check-in); what was written is deleted again, so nothing is half-imported.
        raise ImportRefused(
            _(
                "Some records in this export contradict each other (for example two open drafts"
                " of the same check-in), so it was not imported. Nothing was imported."
            )
        ) from None
    except DataError:
        # A value the database cannot hold that the checks above let through (e.g. a NUL
        # character in a name on PostgreSQL); deleted again as well.
        raise ImportRefused(
            _(
                "Some values in this export cannot be stored here (for example a control"
                " character in a name), so it was not imported. Nothing was imported."
            )
        ) from None
    index_in_batches(result.to_index)
    result.to_index = []
    return result
