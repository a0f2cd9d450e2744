"""The export file's schema, written once as the pydantic models below (and documented in
docs/export-schema.md): the JSON export is built through them and the import reads through them,
so what is documented is what is produced. Also what is and is not exported, and ImportRefused,
the refusal of a file that cannot be imported.

Ids in a file are local references (1, 2, 3 … per kind, in time order), never database keys.
Text is plain (decrypted): the export is the person's own download.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.db import models
from django.utils.translation import gettext as _
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from kap.journal.models import ActionStep, CheckIn, KapSession, Response, SupportItem
from kap.lib.limits import LONG_TEXT, SHORT_TEXT, date_range_message, in_date_range
from kap.practices.models import PracticeLog

FORMAT = "kap-companion-export"
SCHEMA_VERSION = 1

# Every model with a foreign key to the user, and what happens to it here. tests/data checks
# that a model added later is listed in one of these, so it is never silently left out.
EXPORTED = {
    "journal.KapSession": "sessions",
    "journal.Response": "responses",
    "journal.SafetyEvent": "safety_events",
    "journal.Insight": "insights",
    "journal.ActionStep": "action_steps",
    "journal.CheckIn": "action_steps (each step's check_ins)",
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
    "journal.WordIndex": "the search index of the records: written again as they are imported",
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
    "content.TranslationReview": "a clinician's review of a pack's translation: the clinic's",
}


class ImportRefused(Exception):
    """A file that cannot be imported. The message is shown to the person as it is."""


def _not_one_of(value: str, values: list[str]) -> ValueError:
    return ValueError(
        _("%(value)s is not one of %(values)s")
        % {"value": repr(value), "values": ", ".join(values)}
    )


def _choice_of(choices: type[models.TextChoices]):
    def check(value: str) -> str:
        if value not in choices.values:
            raise _not_one_of(value, choices.values)
        return value

    return AfterValidator(check)


def _setting(value: str) -> str:
    if value and value not in KapSession.Setting.values:
        raise _not_one_of(value, KapSession.Setting.values)
    return value


def _in_date_range(value: datetime) -> datetime:
    if not in_date_range(value):
        raise ValueError(date_range_message())
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
    notes: str = Field(max_length=LONG_TEXT)
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
    text: str = Field(max_length=LONG_TEXT)
    created_at: Stamp


class CheckInRow(Row):
    status: Annotated[str, _choice_of(CheckIn.Status)]
    note: str = Field(max_length=SHORT_TEXT)
    created_at: Stamp


class ActionStepRow(Row):
    id: LocalId
    session: LocalId | None
    source_response: LocalId | None
    text: str = Field(max_length=SHORT_TEXT)
    status: Annotated[str, _choice_of(ActionStep.Status)]
    created_at: Stamp
    check_ins: list[CheckInRow]


class QuestionRow(Row):
    id: LocalId
    source_response: LocalId | None
    text: str = Field(max_length=SHORT_TEXT)
    asked_at: Stamp | None
    created_at: Stamp


class SupportRow(Row):
    id: LocalId
    category: Annotated[str, _choice_of(SupportItem.Category)]
    text: str = Field(max_length=SHORT_TEXT)
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
                    problems.append(
                        _("%(kind)s: id %(id)s is used twice") % {"kind": kind, "id": row.id}
                    )
                seen.add(row.id)
            return seen

        def points(where: str, ref: int | None, known: set[int], kind: str) -> None:
            if ref is not None and ref not in known:
                if kind == "session":
                    words = _("%(where)s refers to session %(id)s, which is not in the file")
                else:
                    words = _("%(where)s refers to response %(id)s, which is not in the file")
                problems.append(words % {"where": where, "id": ref})

        def uses(where: str, ref: InstrumentRef) -> None:
            if ref.as_tuple() not in instruments:
                problems.append(
                    _(
                        "%(where)s uses instrument %(key)s version %(version)s, which is not in"
                        " the file's instruments"
                    )
                    % {"where": where, "key": repr(ref.key), "version": ref.version}
                )

        instruments = {(i.key, i.version) for i in self.instruments}
        if len(instruments) != len(self.instruments):
            problems.append(_("instruments: an instrument is listed twice"))
        sessions = ids("sessions", self.sessions)
        responses = ids("responses", self.responses)
        for r in self.responses:
            where = _("response %(id)s") % {"id": r.id}
            points(where, r.session, sessions, "session")
            uses(where, r.instrument)
        for e in self.safety_events:
            where = _("safety event %(id)s") % {"id": e.id}
            points(where, e.response, responses, "response")
        ids("safety_events", self.safety_events)
        for i in self.insights:
            points(_("insight %(id)s") % {"id": i.id}, i.session, sessions, "session")
        ids("insights", self.insights)
        for s in self.action_steps:
            where = _("action step %(id)s") % {"id": s.id}
            points(where, s.session, sessions, "session")
            points(where, s.source_response, responses, "response")
        ids("action_steps", self.action_steps)
        for q in self.questions:
            where = _("question %(id)s") % {"id": q.id}
            points(where, q.source_response, responses, "response")
        ids("questions", self.questions)
        ids("support_items", self.support_items)
        ids("practice_logs", self.practice_logs)
        for p in self.practice_logs:
            uses(_("practice %(id)s") % {"id": p.id}, p.instrument)
        if problems:
            raise ValueError("; ".join(problems[:5]))
        return self
