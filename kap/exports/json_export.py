"""The JSON export: everything a person keeps here, in one file built through the schema
(kap.exports.schema).

It is the one complete copy: the CSV files (kap.exports.csv_export) are made from it, so the two
always agree, and it is the file the import (kap.exports.json_import) reads back.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from kap.accounts.models import CareLink
from kap.content.models import Instrument
from kap.exports.schema import (
    FORMAT,
    SCHEMA_VERSION,
    ActionStepRow,
    CareLinkRow,
    CheckInRow,
    Export,
    HistoryRow,
    InsightRow,
    InstrumentEntry,
    InstrumentRef,
    PracticeRow,
    Profile,
    QuestionRow,
    ReminderPreferenceRow,
    ResponseRow,
    SafetyEventRow,
    SessionRow,
    SupportRow,
)
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
from kap.practices.models import PracticeLog


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
    """The export as plain JSON values."""
    return build_export(user).model_dump(mode="json")


def export_json(user) -> bytes:
    """The export file: UTF-8 JSON, indented."""
    return json.dumps(export_dict(user), ensure_ascii=False, indent=2).encode("utf-8")
