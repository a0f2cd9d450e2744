"""A person's own data, out and back in: the JSON export (schema in docs/export-schema.md), the
CSV zip and the FHIR bundle made from it, the JSON import, and importing a FHIR Questionnaire.

The JSON export is the one complete copy: the CSV files and their ids are made from it, so the
two always agree. The schema is written once, as the pydantic models below; the export is built
through them and the import reads through them, so what is documented is what is produced.

Ids in a file are local references (1, 2, 3 … per kind, in time order), never database keys.
Text is plain (decrypted): the export is the person's own download.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db import DataError, IntegrityError, models, transaction
from django.utils import timezone
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from kap.accounts.models import CareLink, User
from kap.care.alerts import on_safety_event
from kap.content.answers import answer_words
from kap.content.crisis import safety_rules_for
from kap.content.loader import instrument_checksum
from kap.content.models import Instrument, Scope, clinics_of
from kap.content.scoring import IncompleteAnswers, Score, score, triggered
from kap.content.specs import InstrumentSpec, Item, Pace, SafetyRule
from kap.exports import fhir
from kap.exports.fhir_import import instrument_from_questionnaire, with_known_scoring
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
from kap.lib.jsonbody import BadJson, parse_json
from kap.lib.limits import DATE_RANGE_MESSAGE, in_date_range
from kap.practices.models import PracticeLog

FORMAT = "kap-companion-export"
SCHEMA_VERSION = 1
# One person's data is small; these only stop a wrong file from filling memory.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_QUESTIONNAIRE_BYTES = 5 * 1024 * 1024

# Every model with a foreign key to the user, and what happens to it here. tests/data checks
# that a model added later is listed in one of these, so it is never silently left out.
EXPORTED = {
    "journal.KapSession": "sessions",
    "journal.Response": "responses",
    "journal.SafetyEvent": "safety_events",
    "journal.Insight": "insights",
    "journal.ActionStep": "action_steps",
    "journal.QuestionToBring": "questions",
    "journal.SupportItem": "support_items",
    "journal.ReminderPreference": "reminder_preference",
    "practices.PracticeLog": "practice_logs",
    "accounts.CareLink": "care_links (client side; not imported)",
    "content.Instrument": "instruments (a personal import with its whole spec, made again)",
}
NOT_EXPORTED = {
    "journal.CalendarFeed": "a secret calendar address: a new one is made on the new instance",
    "journal.ReminderSent": "a delivery log of e-mails already sent",
    "accounts.Invite": "invitations written by therapists and admins",
    "care.TherapistNote": "the therapist's own private notes",
    "care.AlertAcknowledgement": "a therapist's handling of an alert",
    "care.AlertNotification": "a therapist's e-mail delivery log",
    "care.AuditEntry": "the tamper-evident audit of therapists' reads",
    "care.QuestionDiscussed": "a therapist's mark on a question (goes with the question)",
    "otp_totp.TOTPDevice": "a two-factor secret: set it up again on the new instance",
    "otp_static.StaticDevice": "two-factor backup codes: made again on the new instance",
    "content.Pack": "a personal pack (none can be made yet): load it again with its files",
    "content.PackUpload": "a clinic admin's upload of the clinic's pack: the clinic's, not theirs",
}


class ImportRefused(Exception):
    """A file that cannot be imported. The message is shown to the person as it is."""


# --- The schema ---------------------------------------------------------------------------------


def _choice_of(choices: type[models.TextChoices]):
    def check(value: str) -> str:
        if value not in choices.values:
            raise ValueError(f"{value!r} is not one of {', '.join(choices.values)}")
        return value

    return AfterValidator(check)


def _setting(value: str) -> str:
    if value and value not in KapSession.Setting.values:
        raise ValueError(f"{value!r} is not one of {', '.join(KapSession.Setting.values)}")
    return value


def _in_date_range(value: datetime) -> datetime:
    if not in_date_range(value):
        raise ValueError(DATE_RANGE_MESSAGE)
    return value


LocalId = Annotated[int, Field(ge=1)]
# Every time in an export: with its offset, and within the dates people can enter (a year-9999
# time would overflow in a time zone east of UTC and break every page that shows it).
Stamp = Annotated[AwareDatetime, AfterValidator(_in_date_range)]
Answers = dict[str, Any]


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstrumentRef(Row):
    key: str
    version: int = Field(ge=1)

    def as_tuple(self) -> tuple[str, int]:
        return (self.key, self.version)


class InstrumentEntry(Row):
    key: str
    version: int = Field(ge=1)
    kind: str
    title: str
    pack: str | None
    checksum: str
    # The whole spec, for instruments that came from no pack (imported FHIR Questionnaires), so
    # that they can be made again where they do not exist. Null for pack instruments.
    spec: dict[str, Any] | None = None


class Profile(Row):
    email: str
    name: str
    region: str
    date_joined: Stamp


class SessionRow(Row):
    id: LocalId
    starts_at: Stamp
    status: Annotated[str, _choice_of(KapSession.Status)]
    clinician_name: str = Field(max_length=120)
    setting: Annotated[str, AfterValidator(_setting)]
    notes: str
    created_at: Stamp
    updated_at: Stamp


class HistoryRow(Row):
    version: int = Field(ge=1)
    answers: Answers
    score_total: float | None
    saved_at: Stamp


class ResponseRow(Row):
    id: LocalId
    instrument: InstrumentRef
    session: LocalId | None
    status: Annotated[str, _choice_of(Response.Status)]
    version: int = Field(ge=1)
    answers: Answers
    score_total: float | None
    score_band: str = Field(max_length=60)
    created_at: Stamp
    updated_at: Stamp
    submitted_at: Stamp | None
    history: list[HistoryRow]


class SafetyEventRow(Row):
    id: LocalId
    response: LocalId
    rule_key: str = Field(max_length=60)
    created_at: Stamp


class InsightRow(Row):
    id: LocalId
    session: LocalId | None
    text: str
    created_at: Stamp


class CheckInRow(Row):
    status: Annotated[str, _choice_of(CheckIn.Status)]
    note: str
    created_at: Stamp


class ActionStepRow(Row):
    id: LocalId
    session: LocalId | None
    source_response: LocalId | None
    text: str
    status: Annotated[str, _choice_of(ActionStep.Status)]
    created_at: Stamp
    check_ins: list[CheckInRow]


class QuestionRow(Row):
    id: LocalId
    source_response: LocalId | None
    text: str
    asked_at: Stamp | None
    created_at: Stamp


class SupportRow(Row):
    id: LocalId
    category: Annotated[str, _choice_of(SupportItem.Category)]
    text: str
    created_at: Stamp


class PracticeRow(Row):
    id: LocalId
    uuid: uuid.UUID
    instrument: InstrumentRef
    started_at: Stamp
    planned_seconds: int = Field(ge=0)
    elapsed_seconds: int = Field(ge=0)
    completed: bool
    settled_before: int | None = Field(ge=0, le=10)
    settled_after: int | None = Field(ge=0, le=10)
    pace: dict[str, Any] | None
    notings: dict[str, int]
    source: Annotated[str, _choice_of(PracticeLog.Source)]
    created_at: Stamp


class ReminderPreferenceRow(Row):
    email_enabled: bool
    include_clinician: bool
    updated_at: Stamp


class CareLinkRow(Row):
    therapist_name: str
    therapist_email: str
    scopes: list[str]
    created_at: Stamp
    ended_at: Stamp | None


class Export(Row):
    format: Literal["kap-companion-export"]
    schema_version: Literal[1]
    exported_at: Stamp
    site_name: str
    profile: Profile
    instruments: list[InstrumentEntry]
    sessions: list[SessionRow]
    responses: list[ResponseRow]
    safety_events: list[SafetyEventRow]
    insights: list[InsightRow]
    action_steps: list[ActionStepRow]
    questions: list[QuestionRow]
    support_items: list[SupportRow]
    practice_logs: list[PracticeRow]
    reminder_preference: ReminderPreferenceRow | None
    care_links: list[CareLinkRow]

    @model_validator(mode="after")
    def _references(self) -> Export:
        """Every local id is unique in its kind and every reference points at a row that exists."""
        problems: list[str] = []

        def ids(kind: str, rows) -> set[int]:
            seen: set[int] = set()
            for row in rows:
                if row.id in seen:
                    problems.append(f"{kind}: id {row.id} is used twice")
                seen.add(row.id)
            return seen

        def points(where: str, ref: int | None, known: set[int], kind: str) -> None:
            if ref is not None and ref not in known:
                problems.append(f"{where} refers to {kind} {ref}, which is not in the file")

        instruments = {(i.key, i.version) for i in self.instruments}
        if len(instruments) != len(self.instruments):
            problems.append("instruments: an instrument is listed twice")
        sessions = ids("sessions", self.sessions)
        responses = ids("responses", self.responses)
        for r in self.responses:
            points(f"response {r.id}", r.session, sessions, "session")
            if r.instrument.as_tuple() not in instruments:
                problems.append(
                    f"response {r.id} uses instrument {r.instrument.key!r} version"
                    f" {r.instrument.version}, which is not in the file's instruments"
                )
        for e in self.safety_events:
            points(f"safety event {e.id}", e.response, responses, "response")
        ids("safety_events", self.safety_events)
        for i in self.insights:
            points(f"insight {i.id}", i.session, sessions, "session")
        ids("insights", self.insights)
        for s in self.action_steps:
            points(f"action step {s.id}", s.session, sessions, "session")
            points(f"action step {s.id}", s.source_response, responses, "response")
        ids("action_steps", self.action_steps)
        for q in self.questions:
            points(f"question {q.id}", q.source_response, responses, "response")
        ids("questions", self.questions)
        ids("support_items", self.support_items)
        ids("practice_logs", self.practice_logs)
        for p in self.practice_logs:
            if p.instrument.as_tuple() not in instruments:
                problems.append(
                    f"practice {p.id} uses instrument {p.instrument.key!r} version"
                    f" {p.instrument.version}, which is not in the file's instruments"
                )
        if problems:
            raise ValueError("; ".join(problems[:5]))
        return self


# --- Export -------------------------------------------------------------------------------------


def _local_ids(objs) -> dict[int, int]:
    return {obj.pk: n for n, obj in enumerate(objs, start=1)}


def _ref(instrument: Instrument) -> InstrumentRef:
    return InstrumentRef(key=instrument.key, version=instrument.version)


def _entry(instrument: Instrument) -> InstrumentEntry:
    return InstrumentEntry(
        key=instrument.key,
        version=instrument.version,
        kind=instrument.kind,
        title=instrument.title,
        pack=instrument.pack.key if instrument.pack else None,
        checksum=instrument.checksum,
        spec=None if instrument.pack else instrument.spec,
    )


def build_export(user) -> Export:
    """Everything the person keeps here, in a fixed number of queries."""
    sessions = list(KapSession.objects.for_client(user).order_by("starts_at", "created_at", "pk"))
    responses = list(
        Response.objects.for_client(user)
        .select_related("instrument__pack")
        .prefetch_related(models.Prefetch("history", ResponseVersion.objects.order_by("version")))
        .order_by("created_at", "pk")
    )
    events = list(SafetyEvent.objects.for_client(user).order_by("created_at", "pk"))
    insights = list(Insight.objects.for_client(user).order_by("created_at", "pk"))
    steps = list(
        ActionStep.objects.for_client(user)
        .prefetch_related(models.Prefetch("checkins", CheckIn.objects.order_by("created_at", "pk")))
        .order_by("created_at", "pk")
    )
    questions = list(QuestionToBring.objects.for_client(user).order_by("created_at", "pk"))
    support = list(SupportItem.objects.for_client(user).order_by("created_at", "pk"))
    practices = list(
        PracticeLog.objects.for_client(user)
        .select_related("instrument__pack")
        .order_by("started_at", "created_at", "pk")
    )
    preference = ReminderPreference.objects.filter(client=user).first()
    links = list(
        CareLink.objects.for_client(user).select_related("therapist").order_by("created_at", "pk")
    )

    session_ids = _local_ids(sessions)
    response_ids = _local_ids(responses)
    used: dict[int, Instrument] = {}
    for obj in (*responses, *practices):
        used.setdefault(obj.instrument.pk, obj.instrument)

    return Export(
        format=FORMAT,
        schema_version=SCHEMA_VERSION,
        exported_at=timezone.now(),
        site_name=settings.SITE_NAME,
        profile=Profile(
            email=user.email,
            name=user.display_name,
            region=user.region,
            date_joined=user.date_joined,
        ),
        instruments=[_entry(i) for i in sorted(used.values(), key=lambda i: (i.key, i.version))],
        sessions=[
            SessionRow(
                id=session_ids[s.pk],
                starts_at=s.starts_at,
                status=s.status,
                clinician_name=s.clinician_name,
                setting=s.setting,
                notes=s.notes,
                created_at=s.created_at,
                updated_at=s.updated_at,
            )
            for s in sessions
        ],
        responses=[
            ResponseRow(
                id=response_ids[r.pk],
                instrument=_ref(r.instrument),
                session=session_ids.get(r.session_id),  # type: ignore[arg-type]
                status=r.status,
                version=r.version,
                answers=r.answers,
                score_total=r.score_total,
                score_band=r.score_band,
                created_at=r.created_at,
                updated_at=r.updated_at,
                submitted_at=r.submitted_at,
                history=[
                    HistoryRow(
                        version=h.version,
                        answers=h.answers,
                        score_total=h.score_total,
                        saved_at=h.saved_at,
                    )
                    for h in r.history.all()
                ],
            )
            for r in responses
        ],
        safety_events=[
            SafetyEventRow(
                id=n,
                response=response_ids[e.response_id],
                rule_key=e.rule_key,
                created_at=e.created_at,
            )
            for n, e in enumerate(events, start=1)
        ],
        insights=[
            InsightRow(
                id=n,
                session=session_ids.get(i.session_id),  # type: ignore[arg-type]
                text=i.text,
                created_at=i.created_at,
            )
            for n, i in enumerate(insights, start=1)
        ],
        action_steps=[
            ActionStepRow(
                id=n,
                session=session_ids.get(s.session_id),  # type: ignore[arg-type]
                source_response=response_ids.get(s.source_id),  # type: ignore[arg-type]
                text=s.text,
                status=s.status,
                created_at=s.created_at,
                check_ins=[
                    CheckInRow(status=c.status, note=c.note, created_at=c.created_at)
                    for c in s.checkins.all()
                ],
            )
            for n, s in enumerate(steps, start=1)
        ],
        questions=[
            QuestionRow(
                id=n,
                source_response=response_ids.get(q.source_id),  # type: ignore[arg-type]
                text=q.text,
                asked_at=q.asked_at,
                created_at=q.created_at,
            )
            for n, q in enumerate(questions, start=1)
        ],
        support_items=[
            SupportRow(id=n, category=s.category, text=s.text, created_at=s.created_at)
            for n, s in enumerate(support, start=1)
        ],
        practice_logs=[
            PracticeRow(
                id=n,
                uuid=p.uuid,
                instrument=_ref(p.instrument),
                started_at=p.started_at,
                planned_seconds=p.planned_seconds,
                elapsed_seconds=p.elapsed_seconds,
                completed=p.completed,
                settled_before=p.settled_before,
                settled_after=p.settled_after,
                pace=p.pace,
                notings=p.notings or {},
                source=p.source,
                created_at=p.created_at,
            )
            for n, p in enumerate(practices, start=1)
        ],
        reminder_preference=(
            ReminderPreferenceRow(
                email_enabled=preference.email_enabled,
                include_clinician=preference.include_clinician,
                updated_at=preference.updated_at,
            )
            if preference
            else None
        ),
        care_links=[
            CareLinkRow(
                therapist_name=link.therapist.display_name,
                therapist_email=link.therapist.email,
                scopes=list(link.scopes),
                created_at=link.created_at,
                ended_at=link.ended_at,
            )
            for link in links
        ],
    )


def export_dict(user) -> dict:
    return build_export(user).model_dump(mode="json")


def export_json(user) -> bytes:
    return json.dumps(export_dict(user), ensure_ascii=False, indent=2).encode("utf-8")


# --- CSV ----------------------------------------------------------------------------------------

# Spreadsheets run a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_FILES: dict[str, list[str]] = {
    "profile.csv": ["email", "name", "region", "date_joined"],
    "sessions.csv": [
        "session_id",
        "starts_at",
        "status",
        "clinician_name",
        "setting",
        "notes",
        "created_at",
        "updated_at",
    ],
    "responses.csv": [
        "response_id",
        "instrument",
        "version",
        "item_key",
        "item_text",
        "value",
        "value_label",
        "status",
        "session_id",
        "created_at",
        "submitted_at",
        "score_total",
        "score_band",
    ],
    "safety_events.csv": ["event_id", "response_id", "rule_key", "created_at"],
    "insights.csv": ["insight_id", "session_id", "text", "created_at"],
    "action_steps.csv": [
        "step_id",
        "session_id",
        "source_response_id",
        "text",
        "status",
        "created_at",
    ],
    "check_ins.csv": ["step_id", "status", "note", "created_at"],
    "questions.csv": ["question_id", "source_response_id", "text", "asked_at", "created_at"],
    "support.csv": ["support_id", "category", "text", "created_at"],
    "practices.csv": [
        "practice_id",
        "instrument",
        "version",
        "started_at",
        "planned_seconds",
        "elapsed_seconds",
        "completed",
        "settled_before",
        "settled_after",
        "pace",
        "notings",
        "source",
        "created_at",
    ],
}

CSV_README = """\
Your data from {site_name}, exported {exported_at}
================================================================

These CSV files (UTF-8, comma-separated, first row = column names) hold the same records as the
JSON export. Ids are local to this export: session_id 3 in insights.csv is the row with
session_id 3 in sessions.csv. Times are ISO 8601 in UTC. Empty cells mean "not given".
A cell that begins with = + - @ starts with an added ' so that spreadsheets show it as text
instead of running it as a formula; remove the ' if you need the text exactly.

The JSON export is the complete copy (for example it also holds the earlier versions of edited
answers, and it is the file that can be imported again); use it to move to another instance.

profile.csv        email, name, region (for crisis resources), date_joined.
sessions.csv       one row per KAP session: session_id, starts_at, status (planned, completed,
                   cancelled), clinician_name, setting (clinic, home, other or empty), notes,
                   created_at, updated_at.
responses.csv      one row per answer (long form): response_id, instrument (key), version
                   (of the instrument), item_key, item_text (the question), value (as stored:
                   true/false for a tick, the option's value for a choice, a number for a rating,
                   the words for text), value_label (the answer in words, as the response page
                   shows it: Yes or No for a tick, the option's words for a choice, the number
                   for a rating, the words for text), then the
                   response's status (draft, submitted), session_id, created_at, submitted_at,
                   score_total and score_band, repeated on each of its rows. A response with no
                   answers has one row with empty item columns.
safety_events.csv  event_id, response_id (the answer that triggered it), rule_key, created_at.
insights.csv       insight_id, session_id, text, created_at.
action_steps.csv   step_id, session_id, source_response_id (the worksheet it came from), text,
                   status (open, done, let-go), created_at.
check_ins.csv      step_id, status (done, working, let-go), note, created_at.
questions.csv      question_id, source_response_id, text, asked_at (empty while still open),
                   created_at.
support.csv        support_id, category (therapy, people, routines), text, created_at.
practices.csv      practice_id, instrument (key), version, started_at, planned_seconds,
                   elapsed_seconds, completed (true, or false when stopped early),
                   settled_before and settled_after (0-10), pace (JSON), notings (JSON of
                   label: count), source (timer, manual), created_at.
"""


def csv_cell(value: object) -> object:
    """A value as a spreadsheet-safe cell: text that looks like a formula is made plain text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _answer_rows(data: dict, specs: dict[tuple[str, int], InstrumentSpec | None]):
    for r in data["responses"]:
        ident = (r["instrument"]["key"], r["instrument"]["version"])
        spec = specs.get(ident)
        meta = [
            r["status"],
            r["session"],
            r["created_at"],
            r["submitted_at"],
            r["score_total"],
            r["score_band"],
        ]
        head = [r["id"], ident[0], ident[1]]
        if not r["answers"]:
            yield [*head, "", "", "", "", *meta]
            continue
        order = [i.key for i in spec.items] if spec else []
        keys = [k for k in order if k in r["answers"]]
        keys += sorted(k for k in r["answers"] if k not in keys)
        for key in keys:
            value = r["answers"][key]
            item = spec.items_by_key.get(key) if spec else None
            label = answer_words(spec, item, value) if spec and item else ""
            yield [*head, key, item.text if item else "", value, label, *meta]


def _specs_for(user, data: dict) -> dict[tuple[str, int], InstrumentSpec | None]:
    wanted = {(i["key"], i["version"]) for i in data["instruments"]}
    q = models.Q()
    for key, version in wanted:
        q |= models.Q(key=key, version=version)
    found: dict[tuple[str, int], InstrumentSpec | None] = dict.fromkeys(wanted)
    if wanted:
        # Only what the person sees: another person's import may have the same key and version.
        # Narrowest scope last, so that it wins (as it does in Instrument.objects.for_person).
        for inst in Instrument.objects.visible_to(user).filter(q).order_by("scope"):
            found[(inst.key, inst.version)] = inst.parsed
    return found


def export_csv_zip(user) -> bytes:
    data = export_dict(user)
    p = data["profile"]
    rows: dict[str, list[list]] = {
        "profile.csv": [[p["email"], p["name"], p["region"], p["date_joined"]]],
        "sessions.csv": [
            [
                s["id"],
                s["starts_at"],
                s["status"],
                s["clinician_name"],
                s["setting"],
                s["notes"],
                s["created_at"],
                s["updated_at"],
            ]
            for s in data["sessions"]
        ],
        "responses.csv": list(_answer_rows(data, _specs_for(user, data))),
        "safety_events.csv": [
            [e["id"], e["response"], e["rule_key"], e["created_at"]] for e in data["safety_events"]
        ],
        "insights.csv": [
            [i["id"], i["session"], i["text"], i["created_at"]] for i in data["insights"]
        ],
        "action_steps.csv": [
            [s["id"], s["session"], s["source_response"], s["text"], s["status"], s["created_at"]]
            for s in data["action_steps"]
        ],
        "check_ins.csv": [
            [s["id"], c["status"], c["note"], c["created_at"]]
            for s in data["action_steps"]
            for c in s["check_ins"]
        ],
        "questions.csv": [
            [q["id"], q["source_response"], q["text"], q["asked_at"], q["created_at"]]
            for q in data["questions"]
        ],
        "support.csv": [
            [s["id"], s["category"], s["text"], s["created_at"]] for s in data["support_items"]
        ],
        "practices.csv": [
            [
                x["id"],
                x["instrument"]["key"],
                x["instrument"]["version"],
                x["started_at"],
                x["planned_seconds"],
                x["elapsed_seconds"],
                x["completed"],
                x["settled_before"],
                x["settled_after"],
                x["pace"],
                x["notings"],
                x["source"],
                x["created_at"],
            ]
            for x in data["practice_logs"]
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "README.txt",
            CSV_README.format(site_name=data["site_name"], exported_at=data["exported_at"]),
        )
        for name, header in CSV_FILES.items():
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows([csv_cell(v) for v in row] for row in rows[name])
            # With a byte-order mark, spreadsheet programs read the UTF-8 as UTF-8.
            zf.writestr(name, text.getvalue().encode("utf-8-sig"))
    return out.getvalue()


# --- FHIR ---------------------------------------------------------------------------------------


def patient_id(user) -> str:
    """An opaque, stable id for the person in FHIR references: no e-mail, no database key."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"fhir-patient:{user.pk}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def _questionnaire_id(instrument: Instrument) -> str:
    return f"{instrument.key[:56]}-v{instrument.version}"


def fhir_bundle(user, *, base_url: str) -> dict:
    """Submitted answers as FHIR R4: each instrument used as a Questionnaire, each response as a
    QuestionnaireResponse, and each LOINC-coded total (PHQ-9, GAD-7) as an Observation."""
    subject = f"Patient/{patient_id(user)}"
    responses = list(
        Response.objects.for_client(user)
        .submitted()
        .select_related("instrument")
        .annotate(
            edited=models.Exists(ResponseVersion.objects.filter(response=models.OuterRef("pk")))
        )
        .order_by("submitted_at", "pk")
    )
    instruments: dict[int, Instrument] = {}
    for r in responses:
        instruments.setdefault(r.instrument.pk, r.instrument)
    resources: list[dict] = []
    for inst in sorted(instruments.values(), key=lambda i: (i.key, i.version)):
        q = fhir.questionnaire(inst.parsed, base_url=base_url)
        q["id"] = _questionnaire_id(inst)
        resources.append(q)
    observations: list[dict] = []
    for n, r in enumerate(responses, start=1):
        spec = r.instrument.parsed
        qr_id = f"response-{n}"
        resources.append(
            fhir.questionnaire_response(
                spec,
                r.answers,
                response_id=qr_id,
                questionnaire_url=fhir.canonical_url(spec, base_url=base_url),
                authored=r.submitted_at or r.updated_at,
                subject_ref=subject,
                # An answer edited after it was first submitted is "amended" in FHIR.
                status="amended" if r.edited else "completed",
                base_url=base_url,
            )
        )
        if r.score_total is not None:
            obs = fhir.score_observation(
                spec,
                r.score_total,
                observation_id=f"score-{n}",
                effective=r.submitted_at or r.updated_at,
                subject_ref=subject,
                derived_from_ref=f"QuestionnaireResponse/{qr_id}",
            )
            if obs is not None:
                observations.append(obs)
    return fhir.bundle(resources + observations, base_url=base_url)


# --- JSON import --------------------------------------------------------------------------------


@dataclass
class Imported:
    counts: dict[str, int] = field(default_factory=dict)
    not_imported: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{n} {kind}" for kind, n in self.counts.items() if n]
        return ", ".join(parts) if parts else "no records"


def parse_export(raw: bytes) -> Export:
    """The file read through the schema, or ImportRefused saying what is wrong with it."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRefused(
            f"This file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB, far larger than"
            " an export; nothing was imported."
        )
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportRefused(
            "This file is not a KAP Companion export: it is not UTF-8 text. Nothing was imported."
        ) from None
    except json.JSONDecodeError as e:
        raise ImportRefused(
            f"This file is not a KAP Companion export: it is not valid JSON ({e.msg} at line"
            f" {e.lineno}, column {e.colno}). Nothing was imported."
        ) from None
    except (ValueError, RecursionError):
        # A number of thousands of digits, or lists nested thousands deep: no export is either.
        raise ImportRefused(
            "This file is not a KAP Companion export: it holds a number far too long or lists"
            " nested far too deep. Nothing was imported."
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        what = f"its format is {found!r}" if found else "it has no format"
        raise ImportRefused(
            f"This file is not a KAP Companion export ({what}; expected {FORMAT!r})."
            " Nothing was imported."
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ImportRefused(
            f"This export has schema version {version!r}; this app reads schema version"
            f" {SCHEMA_VERSION}. Nothing was imported."
        )
    if problem := _number_problem(data):
        raise ImportRefused(_DAMAGED + problem + ".")
    try:
        return Export.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"])
            reason = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {reason}" if where else reason)
        more = f" (and {e.error_count() - 5} more)" if e.error_count() > 5 else ""
        raise ImportRefused(_DAMAGED + "; ".join(problems) + more) from None


def has_records(user) -> bool:
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


def _spec_without_version(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k != "version"}


def _resolve_instruments(user, export: Export) -> dict[tuple[str, int], Instrument]:
    """Each instrument of the file, found among those the person sees here (same key, version
    and checksum) or, for one that came from no pack, made again as theirs. A pack instrument
    that is missing is a clear refusal."""
    found: dict[tuple[str, int], Instrument] = {}
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
            if here is None:
                source = f" from the content pack {entry.pack!r}" if entry.pack else ""
                raise ImportRefused(
                    f"The export uses the instrument {entry.key!r} version {entry.version}"
                    f" (“{entry.title}”){source}, which is not loaded here. Load that content"
                    " pack (kap content load PATH) and import again. Nothing was imported."
                )
            raise ImportRefused(
                f"The instrument {entry.key!r} version {entry.version} here is not the same as"
                " the one in the export (their checksums differ), so its answers could be"
                " misread. Nothing was imported."
            )
        try:
            spec = InstrumentSpec.model_validate(entry.spec)
        except ValidationError as e:
            raise ImportRefused(
                f"The instrument {entry.key!r} in the export is damaged ({e.errors()[0]['msg']})."
                " Nothing was imported."
            ) from None
        if (spec.key, spec.version) != ident:
            raise ImportRefused(
                f"The instrument {entry.key!r} in the export names itself {spec.key!r} version"
                f" {spec.version}. Nothing was imported."
            )
        found[ident] = store_instrument(spec, owner=user)[0]
    return found


# --- What the file says, checked against the answers ---------------------------------------------
#
# Nothing in the file is taken on trust where it could mislead: every answer must be one its
# item allows, scores and bands are worked out again from the answers with the journal's own
# scoring, and safety events come from the answers under this instance's safety rules — the
# file's own scores, bands and safety events are never stored.

_DAMAGED = "This export is damaged or was changed by hand, so nothing was imported: "
# No number an export holds comes near this (ids, versions, seconds, counts, ratings, scores),
# and it is the largest the database's integer columns take.
LARGEST_NUMBER = 2**31 - 1
# Longer than any practice can be logged for (the timer offers hours, the form 180 minutes).
LONGEST_PRACTICE_SECONDS = 24 * 3600
MOST_NOTINGS = 100_000  # as for a practice sent from the browser
# A safety rule set off by an imported answer saved this recently tells linked therapists just
# as a new answer would (PHQ-9 itself asks about the last two weeks). An older answer's event is
# recorded and shown as an open alert (roster, timeline, brief) but sends no e-mail: it is news
# of the past, and an urgent-looking e-mail about it would teach people to ignore alerts.
ALERT_WINDOW = timedelta(days=14)

_KIND_NAMES = {
    "instruments": "instrument",
    "sessions": "session",
    "responses": "response",
    "safety_events": "safety event",
    "insights": "insight",
    "action_steps": "action step",
    "questions": "question",
    "support_items": "support item",
    "practice_logs": "practice",
    "care_links": "link to a therapist",
}


def _shown(value: object) -> str:
    """A value of the file in its JSON spelling, kept short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:g}"
    if isinstance(value, int):
        digits = str(value)
        return digits if len(digits) <= 20 else f"a number of {len(digits.lstrip('-'))} digits"
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value[:40] + ("…" if len(value) > 40 else ""), ensure_ascii=False)
    return "a list" if isinstance(value, list) else "an object"


def _record(kind: str, index: int, ident: object = None, key: object = None) -> str:
    """A record of the file by its kind, local id and position: "response 5 (responses[4], phq9)"."""
    name = _KIND_NAMES[kind]
    if isinstance(ident, int) and not isinstance(ident, bool):
        name = f"{name} {ident}"
    extra = f"{kind}[{index}]" + (f", {key[:60]}" if isinstance(key, str) and key else "")
    return f"{name} ({extra})"


def _field(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(data: dict, path: tuple) -> str:
    """The record and field at `path` of the file as read from JSON."""
    head, rest = "", path
    if len(path) >= 2 and path[0] in _KIND_NAMES and isinstance(path[1], int):
        row = data[path[0]][path[1]]
        ident = key = None
        if isinstance(row, dict):
            ident = row.get("id")
            ref = row.get("instrument")
            key = ref.get("key") if isinstance(ref, dict) else row.get("key")
        head, rest = _record(path[0], path[1], ident, key), path[2:]
    field = _field(rest)
    return f"{head}, {field}" if head and field else head or field


def _number_problem(data: dict) -> str | None:
    """The first number of the file that no export holds, named by record and field: NaN and
    ±Infinity (Python's json reads them, and reads 1e999 as Infinity), or one beyond
    LARGEST_NUMBER (1e308 is finite, and no score, id or count)."""
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(reversed([((*path, k), v) for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([((*path, i), v) for i, v in enumerate(value)]))
        elif isinstance(value, bool) or not isinstance(value, int | float):
            continue
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{_where(data, path)}: {_shown(value)} is not a finite number"
        elif abs(value) > LARGEST_NUMBER:
            return f"{_where(data, path)}: {_shown(value)} is far beyond any value an export holds"
    return None


def _refuse(where: str, problem: str) -> ImportRefused:
    return ImportRefused(f"{_DAMAGED}{where}: {problem}.")


def _answer_problem(spec: InstrumentSpec, item: Item, value: object) -> str | None:
    """Why `value` cannot be an answer to `item`, or None when it can."""
    kind = spec.item_type(item)
    if kind == "check":
        return None if isinstance(value, bool) else f"{_shown(value)} is not true or false"
    if kind == "text":
        return None if isinstance(value, str) else f"{_shown(value)} is not text"
    if kind == "choice":
        values = [o.value for o in spec.options_for(item)]
        if isinstance(value, str) and value in values:
            return None
        return f"{_shown(value)} is not one of its options ({', '.join(values)})"
    if isinstance(value, int) and not isinstance(value, bool) and item.min <= value <= item.max:
        return None
    return f"{_shown(value)} is not a whole number from {item.min} to {item.max}"


def _score_range(spec: InstrumentSpec) -> tuple[float, float]:
    """The lowest and highest score the instrument can give: its published range, or else the
    range its items allow."""
    rule = spec.scoring
    assert rule is not None
    if rule.min is not None and rule.max is not None:
        return rule.min, rule.max
    scored = [i for i in spec.items if i.scored]
    if rule.method == "count":
        return 0.0, float(len(scored))
    bounds = []
    for item in scored:
        if spec.item_type(item) == "rating":
            bounds.append((float(item.min), float(item.max)))
        else:
            weights = [o.weight for o in spec.options_for(item) if o.weight is not None]
            bounds.append((min(weights), max(weights)) if weights else (0.0, 0.0))
    if not bounds:
        return 0.0, 0.0
    if rule.method == "sum":
        return sum(lo for lo, _ in bounds), sum(hi for _, hi in bounds)
    return min(lo for lo, _ in bounds), max(hi for _, hi in bounds)


def _score(spec: InstrumentSpec, answers: dict, where: str) -> Score | None:
    """The score the journal gives these answers on submit (kap.content.scoring.score)."""
    try:
        result = score(spec, answers)
    except IncompleteAnswers as e:
        raise _refuse(
            where,
            f"it was submitted without an answer to {', '.join(e.missing)}, so its score"
            " cannot be worked out",
        ) from None
    except (ValueError, ArithmeticError) as e:
        raise _refuse(where, f"its score cannot be worked out ({e})") from None
    if result is not None and not math.isfinite(result.total):
        raise _refuse(where, "its score is not a finite number")
    return result


@dataclass
class _Worked:
    """One response of the file as this instance works it out from its answers."""

    answers: dict
    total: float | None
    band: str
    history: list[tuple[dict, float | None]]
    # (rule key, when the answer that first set it off was saved), in that order.
    events: list[tuple[str, datetime]]
    # Scores and bands of the file that were not those of the answers.
    corrected: int


def _differs(claimed: float | None, total: float | None) -> bool:
    if claimed is None or total is None:
        return claimed is not total
    return abs(claimed - total) > 1e-9


def _work_out(export: Export, instruments: dict[tuple[str, int], Instrument]) -> list[_Worked]:
    """Each response's answers checked, its scores, bands and safety events worked out again."""
    rules: dict[int, list[SafetyRule]] = {}
    worked = []
    for index, r in enumerate(export.responses):
        instrument = instruments[r.instrument.as_tuple()]
        spec = instrument.parsed
        for answers in [r.answers, *(h.answers for h in r.history)]:
            unknown = sorted(set(answers) - set(spec.items_by_key))
            if unknown:
                raise ImportRefused(
                    f"Response {r.id} answers an item {unknown[0]!r} that the instrument"
                    f" {spec.key!r} version {spec.version} does not have. Nothing was imported."
                )
        record = _record("responses", index, r.id, spec.key)
        submitted = r.status == Response.Status.SUBMITTED
        # Oldest first: the history (each an earlier submitted version), then the answers now.
        versions = [
            (f"history[{n}].", h.answers, h.score_total, h.saved_at, True)
            for n, h in enumerate(r.history)
        ]
        now_saved = r.updated_at if r.history else (r.submitted_at or r.updated_at)
        versions.append(("", r.answers, r.score_total, now_saved, submitted))
        found: list[tuple[dict, Score | None]] = []
        events: list[tuple[str, datetime]] = []
        corrected = 0
        for prefix, given, claimed, saved, scored in versions:
            answers = {}
            for key, value in given.items():
                if value is None or value == "":  # left empty: not stored, as on submit
                    continue
                problem = _answer_problem(spec, spec.items_by_key[key], value)
                if problem:
                    raise _refuse(f"{record}, {prefix}answers.{key}", problem)
                answers[key] = value
            if claimed is not None and spec.scoring is not None:
                lo, hi = _score_range(spec)
                if not lo <= claimed <= hi:
                    raise _refuse(
                        f"{record}, {prefix}score_total",
                        f"{_shown(claimed)} is outside {lo:g}–{hi:g}, the scores of {spec.title!r}",
                    )
            where = f"{record}, {prefix[:-1]}" if prefix else record
            result = _score(spec, answers, where) if scored else None
            corrected += _differs(claimed, result.total if result else None)
            found.append((answers, result))
            if scored:
                if instrument.pk not in rules:
                    rules[instrument.pk] = safety_rules_for(instrument)
                for rule in triggered(rules[instrument.pk], spec, answers):
                    if rule.key not in {key for key, _ in events}:
                        events.append((rule.key, saved))
        answers, result = found.pop()
        band = result.band.label if result and result.band else ""
        corrected += r.score_band != band
        worked.append(
            _Worked(
                answers=answers,
                total=result.total if result else None,
                band=band,
                history=[(a, s.total if s else None) for a, s in found],
                events=events,
                corrected=corrected,
            )
        )
    return worked


def _check_practices(export: Export, instruments: dict[tuple[str, int], Instrument]) -> None:
    for index, p in enumerate(export.practice_logs):
        where = _record("practice_logs", index, p.id, p.instrument.key)
        for name in ("planned_seconds", "elapsed_seconds"):
            value = getattr(p, name)
            if value > LONGEST_PRACTICE_SECONDS:
                raise _refuse(f"{where}, {name}", f"{value} seconds is longer than a day")
        for label, count in p.notings.items():
            if not 0 <= count <= MOST_NOTINGS:
                raise _refuse(
                    f"{where}, notings.{label}", f"{count} is not a count from 0 to {MOST_NOTINGS}"
                )
        if p.pace is not None:
            try:
                Pace.model_validate(p.pace)
            except ValidationError:
                raise _refuse(
                    f"{where}, pace",
                    "it is not a breathing pace (inhale and exhale of more than 0 and at most 20"
                    " seconds, holds from 0 to 20)",
                ) from None


def _restore_times(model: type[models.Model], objs: list, times: list[dict]) -> None:
    """auto_now and auto_now_add fields overwrite what is saved; put the original times back."""
    names = sorted({name for t in times for name in t})
    if not objs or not names:
        return
    for obj, t in zip(objs, times, strict=True):
        for name, value in t.items():
            setattr(obj, name, value)
    model.objects.bulk_update(objs, names)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _import_safety_events(
    account, export: Export, worked: list[_Worked], response_pk: dict[int, int]
) -> tuple[list[SafetyEvent], list[str]]:
    """The safety events the answers set off under this instance's rules (never the file's list).

    Each keeps the time the file gives it when the file has the same one (so that a round trip
    changes nothing), else the time its answer was saved. Like a submit, each goes through
    kap.care.alerts.on_safety_event, so that linked therapists who share safety alerts hear of
    it, but only when its answer was saved within ALERT_WINDOW (see there).
    """
    claimed = {(e.response, e.rule_key): e.created_at for e in export.safety_events}
    now = timezone.now()
    found: list[tuple[datetime, int, str]] = []
    for row, w in zip(export.responses, worked, strict=True):
        for rule_key, saved in w.events:
            when = claimed.get((row.id, rule_key))
            if when is None or not row.created_at <= when <= now:
                when = saved
            found.append((when, response_pk[row.id], rule_key))
    found.sort(key=lambda f: f[0])
    events = SafetyEvent.objects.bulk_create(
        SafetyEvent(client=account, response_id=pk, rule_key=key) for _, pk, key in found
    )
    _restore_times(SafetyEvent, events, [{"created_at": when} for when, _, _ in found])
    recent = now - ALERT_WINDOW
    for event in events:
        if event.created_at >= recent:
            on_safety_event(event)

    notes = []
    ours = {
        (row.id, key)
        for row, w in zip(export.responses, worked, strict=True)
        for key, _ in w.events
    }
    added, left_out = len(ours - set(claimed)), len(set(claimed) - ours)
    if added:
        notes.append(
            f"{_count(added, 'safety event was', 'safety events were')} recorded for answers"
            " in the file that set off a safety rule here, though the file did not list"
            f" {'it' if added == 1 else 'them'}."
        )
    if left_out:
        notes.append(
            f"{_count(left_out, 'safety event', 'safety events')} of the file"
            f" {'was' if left_out == 1 else 'were'} left out: the answers named do not set off"
            " a safety rule here."
        )
    return events, notes


@transaction.atomic
def import_export(*, user, export: Export) -> Imported:
    """Load an export into this (empty) account, all of it or nothing."""

    # Lock the account, so that two imports sent at once cannot both find it empty.
    account = User.objects.select_for_update().get(pk=user.pk)
    if has_records(account):
        raise ImportRefused(
            "This account already has records, so importing would mix or duplicate them."
            " Import into a new, empty account instead. Nothing was imported."
        )
    instruments = _resolve_instruments(account, export)
    worked = _work_out(export, instruments)
    _check_practices(export, instruments)
    result = Imported()

    sessions = KapSession.objects.bulk_create(
        KapSession(
            client=account,
            starts_at=s.starts_at,
            status=s.status,
            clinician_name=s.clinician_name,
            setting=s.setting,
            notes=s.notes,
        )
        for s in export.sessions
    )
    _restore_times(
        KapSession,
        sessions,
        [{"created_at": s.created_at, "updated_at": s.updated_at} for s in export.sessions],
    )
    session_pk = {row.id: obj.pk for row, obj in zip(export.sessions, sessions, strict=True)}

    responses = Response.objects.bulk_create(
        Response(
            client=account,
            instrument=instruments[r.instrument.as_tuple()],
            session_id=session_pk.get(r.session) if r.session else None,
            status=r.status,
            answers=w.answers,
            version=r.version,
            score_total=w.total,
            score_band=w.band,
            submitted_at=r.submitted_at,
        )
        for r, w in zip(export.responses, worked, strict=True)
    )
    _restore_times(
        Response,
        responses,
        [{"created_at": r.created_at, "updated_at": r.updated_at} for r in export.responses],
    )
    response_pk = {row.id: obj.pk for row, obj in zip(export.responses, responses, strict=True)}
    ResponseVersion.objects.bulk_create(
        ResponseVersion(
            response_id=response_pk[r.id],
            version=h.version,
            answers=answers,
            score_total=total,
            saved_at=h.saved_at,
        )
        for r, w in zip(export.responses, worked, strict=True)
        for h, (answers, total) in zip(r.history, w.history, strict=True)
    )
    events, notes = _import_safety_events(account, export, worked, response_pk)

    Insight.objects.bulk_create(
        Insight(
            client=account,
            session_id=session_pk.get(i.session) if i.session else None,
            text=i.text,
            created_at=i.created_at,
        )
        for i in export.insights
    )
    steps = ActionStep.objects.bulk_create(
        ActionStep(
            client=account,
            session_id=session_pk.get(s.session) if s.session else None,
            source_id=response_pk.get(s.source_response) if s.source_response else None,
            text=s.text,
            status=s.status,
            created_at=s.created_at,
        )
        for s in export.action_steps
    )
    CheckIn.objects.bulk_create(
        CheckIn(step=step, status=c.status, note=c.note, created_at=c.created_at)
        for row, step in zip(export.action_steps, steps, strict=True)
        for c in row.check_ins
    )
    QuestionToBring.objects.bulk_create(
        QuestionToBring(
            client=account,
            source_id=response_pk.get(q.source_response) if q.source_response else None,
            text=q.text,
            asked_at=q.asked_at,
            created_at=q.created_at,
        )
        for q in export.questions
    )
    SupportItem.objects.bulk_create(
        SupportItem(client=account, category=s.category, text=s.text, created_at=s.created_at)
        for s in export.support_items
    )

    # A practice's uuid only stops a retried send from being stored twice; one already taken
    # here (the same export imported into a second account) is given a new one.
    taken = set(
        PracticeLog.objects.filter(uuid__in=[p.uuid for p in export.practice_logs]).values_list(
            "uuid", flat=True
        )
    )
    practices = PracticeLog.objects.bulk_create(
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
    )
    _restore_times(
        PracticeLog, practices, [{"created_at": p.created_at} for p in export.practice_logs]
    )

    if pref := export.reminder_preference:
        obj, _ = ReminderPreference.objects.update_or_create(
            client=account,
            defaults={
                "email_enabled": pref.email_enabled,
                "include_clinician": pref.include_clinician,
            },
        )
        _restore_times(ReminderPreference, [obj], [{"updated_at": pref.updated_at}])

    # The profile: the name and region come back unless this account already chose its own;
    # "with us since" keeps the earlier date.
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
    user.display_name, user.region, user.date_joined = (
        account.display_name,
        account.region,
        account.date_joined,
    )

    if export.care_links:
        result.not_imported.append(
            "Links to therapists are not imported: a therapist on this instance can invite you"
            " again, and you choose again what to share."
        )
    corrected = sum(w.corrected for w in worked)
    if corrected:
        result.not_imported.append(
            f"{_count(corrected, 'score or band', 'scores or bands')} in the file did not match"
            " the answers. Scores and bands are always worked out again from the answers, so"
            " those were corrected."
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
    return result


def import_json(*, user, raw: bytes) -> Imported:
    export = parse_export(raw)
    try:
        return import_export(user=user, export=export)
    except IntegrityError:
        # The schema cannot see everything the database checks (e.g. two open drafts of one
        # check-in); the transaction was rolled back, so nothing is half-imported.
        raise ImportRefused(
            "Some records in this export contradict each other (for example two open drafts of"
            " the same check-in), so it was not imported. Nothing was imported."
        ) from None
    except DataError:
        # A value the database cannot hold that the checks above let through (e.g. a NUL
        # character in a name on PostgreSQL); rolled back as well.
        raise ImportRefused(
            "Some values in this export cannot be stored here (for example a control character"
            " in a name), so it was not imported. Nothing was imported."
        ) from None


# --- FHIR Questionnaire import ------------------------------------------------------------------


def parse_questionnaire(raw: bytes) -> InstrumentSpec:
    """An uploaded Questionnaire as an instrument spec; ImportRefused says why it cannot be."""
    if len(raw) > MAX_QUESTIONNAIRE_BYTES:
        raise ImportRefused(
            f"This file is larger than {MAX_QUESTIONNAIRE_BYTES // (1024 * 1024)} MB; a"
            " Questionnaire is far smaller. Nothing was imported."
        )
    try:
        data = parse_json(raw, max_bytes=MAX_QUESTIONNAIRE_BYTES, max_depth=64)
    except BadJson as e:  # not UTF-8, not valid JSON, nested too deep, NaN, ...
        raise ImportRefused(f"This file is {e.reason}. Nothing was imported.") from None
    try:
        return instrument_from_questionnaire(data)
    except ValueError as e:  # UnsupportedQuestionnaire names the item and the feature
        raise ImportRefused(
            f"This Questionnaire cannot be imported: {e}. Nothing was stored."
        ) from None


def _taken_elsewhere(owner, key: str) -> Instrument | None:
    """The server's or the person's clinic's instrument under this key, if there is one."""
    return (
        Instrument.objects.visible_to(owner)
        .filter(key=key, scope__lt=Scope.PERSONAL)
        .order_by("-scope", "-version")
        .first()
    )


def _free_key(owner, key: str) -> str:
    """The key itself, unless the person already sees it in server or clinic content: then
    the key with "-imported" (their import never shadows a pack's instrument, which would drop
    the pack's safety rules for them). Other people's imports do not count: keys are unique
    per person."""
    candidate, n = key, 1
    while _taken_elsewhere(owner, candidate) is not None:
        suffix = "-imported" if n == 1 else f"-imported-{n}"
        candidate, n = key[: 60 - len(suffix)].rstrip("-") + suffix, n + 1
    return candidate


@transaction.atomic
def store_instrument(spec: InstrumentSpec, *, owner) -> tuple[Instrument, bool]:
    """Store an instrument imported by `owner`, as theirs alone. Returns (instrument, created).

    The same questionnaire imported again by the same person is their instrument already
    stored; a different one under a key of theirs becomes that key's next version (their earlier
    answers keep the version they answered). Another person's import of the same key is that
    person's own instrument and never touches this one.

    A key the person already sees from the server or their clinic is never reused: the import
    is stored as "KEY-imported", so that each key means one instrument for each person and the
    guide's own (with its safety rules) is never shadowed.
    """
    # One import at a time per person: the next version number is read, then written.
    User.objects.select_for_update().filter(pk=owner.pk).exists()
    key = _free_key(owner, spec.key)
    existing = list(
        Instrument.objects.filter(scope=Scope.PERSONAL, owner=owner, key=key).order_by("version")
    )
    wanted = _spec_without_version(spec.model_dump(mode="json")) | {"key": key}
    for inst in reversed(existing):
        if _spec_without_version(inst.spec) == wanted:
            return inst, False
    versions = {i.version for i in existing}
    version = spec.version
    if version in versions:
        version = max(versions) + 1
    spec = spec.model_copy(update={"key": key, "version": version})
    spec = InstrumentSpec.model_validate(spec.model_dump(mode="json"))
    dumped = spec.model_dump(mode="json")
    instrument = Instrument.objects.create(
        scope=Scope.PERSONAL,
        owner=owner,
        pack=None,
        key=spec.key,
        version=spec.version,
        kind=spec.kind,
        title=spec.title,
        spec=dumped,
        checksum=instrument_checksum(spec),
    )
    return instrument, True


def _known_measures(owner, code: str | None) -> list[InstrumentSpec]:
    """The scored pack instruments `owner` sees under this LOINC panel code, their clinic's before
    the server's (a narrower scope wins), for `with_known_scoring`. One query."""
    if not code:
        return []
    found = (
        Instrument.objects.current()
        .filter(
            models.Q(scope=Scope.SERVER)
            | models.Q(scope=Scope.CLINIC, clinic_id__in=clinics_of(owner)),
            pack__isnull=False,
            spec__code=code,
        )
        .order_by("-scope", "key")
    )
    return [i.parsed for i in found]


def import_questionnaire(*, owner, raw: bytes) -> tuple[Instrument, bool]:
    """A FHIR Questionnaire uploaded by `owner`: a personal instrument of theirs. One that is a
    measure a pack already has (the PHQ-9 by its LOINC code) gets that measure's score bands."""
    spec = parse_questionnaire(raw)
    return store_instrument(
        with_known_scoring(spec, _known_measures(owner, spec.code)), owner=owner
    )
