""" "Download all of my data" as JSON: complete, as docs/export-schema.md describes it, and
re-importable into a fresh instance with nothing lost."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.messages import get_messages
from django.db import models as dj_models
from django.urls import reverse

from kap.content.models import Instrument
from kap.exports import import_checks, schema
from kap.exports.erasure import erase_client
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
    ResponseVersion,
    SafetyEvent,
    SupportItem,
)
from kap.practices.models import PracticeLog
from tests.data.conftest import ALEX_PHRASE, download_json, import_export_file, page_text
from tests.data.people import TRICKY

DOCS = Path(__file__).resolve().parents[2] / "docs" / "export-schema.md"

# Section of docs/export-schema.md → the schema model it documents.
SECTIONS: dict[str, type[schema.Row]] = {
    "Top level": schema.Export,
    "profile": schema.Profile,
    "instruments[]": schema.InstrumentEntry,
    "sessions[]": schema.SessionRow,
    "responses[]": schema.ResponseRow,
    "responses[].history[]": schema.HistoryRow,
    "safety_events[]": schema.SafetyEventRow,
    "insights[]": schema.InsightRow,
    "action_steps[]": schema.ActionStepRow,
    "action_steps[].check_ins[]": schema.CheckInRow,
    "questions[]": schema.QuestionRow,
    "support_items[]": schema.SupportRow,
    "practice_logs[]": schema.PracticeRow,
    "reminder_preference": schema.ReminderPreferenceRow,
    "care_links[]": schema.CareLinkRow,
}

UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def documented() -> dict[str, dict[str, str]]:
    """Each section of the schema document: field name → documented type."""
    out: dict[str, dict[str, str]] = {}
    heading = None
    with open(DOCS, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
                continue
            match = re.match(r"^\| `([a-z_]+)` \| ([^|]+) \|", line)
            if match and heading:
                out.setdefault(heading, {})[match[1]] = match[2].strip()
    return out


def objects_of(export: dict, section: str) -> list[dict]:
    """Every object of the export that a section of the document describes."""
    if section == "Top level":
        return [export]
    path = section.split(".")
    found: list = [export]
    for part in path:
        name = part.removesuffix("[]")
        nxt = []
        for obj in found:
            value = obj[name]
            if part.endswith("[]"):
                nxt.extend(value)
            elif value is not None:
                nxt.append(value)
        found = nxt
    return found


def matches_type(value, doc_type: str) -> bool:
    if value is None:
        return doc_type.endswith("or null")
    base = doc_type.removesuffix(" or null")
    return {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "list": lambda v: isinstance(v, list),
        "list of strings": lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v),
        "time": lambda v: isinstance(v, str) and bool(UTC_TIME.match(v)),
    }[base](value)


def comparable(export: dict, *, other_account: bool = False) -> dict:
    """An export without what the schema says is not carried over by an import: when the file was
    made, and the links to therapists (not imported). Beside the original account, the e-mail
    address and the practices' uuids (already taken) differ too."""
    out = json.loads(json.dumps(export))
    del out["exported_at"]
    del out["care_links"]
    if other_account:
        del out["profile"]["email"]
        for p in out["practice_logs"]:
            del p["uuid"]
    return out


# --- The download -------------------------------------------------------------------------------


def test_the_json_download_is_an_attachment_that_is_never_cached(logged_in, alex):
    response = logged_in.get(reverse("exports:json"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="kap-export-\d{4}-\d\d-\d\d\.json"',
        response["Content-Disposition"],
    )
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    text = response.content.decode("utf-8")
    # Indented UTF-8 with non-ASCII as itself, not \u escapes.
    assert "\n  " in text and "🌿" in text and "\\ud83c" not in text


def test_a_therapist_has_no_data_download(client, therapist, guide):
    client.force_login(therapist)
    for name in ("json", "csv", "fhir", "index"):
        assert client.get(reverse(f"exports:{name}")).status_code == 404


def test_the_json_export_holds_every_kind_of_record_the_client_keeps(logged_in, alex):
    user = alex.user
    export = download_json(logged_in)

    assert export["format"] == "kap-companion-export"
    assert export["schema_version"] == 1
    assert export["site_name"] == settings.SITE_NAME
    assert export["profile"]["email"] == user.email
    assert export["profile"]["name"] == "Alex"
    counts = {
        "sessions": KapSession.objects.filter(client=user).count(),
        "responses": Response.objects.filter(client=user).count(),
        "safety_events": SafetyEvent.objects.filter(client=user).count(),
        "insights": Insight.objects.filter(client=user).count(),
        "action_steps": ActionStep.objects.filter(client=user).count(),
        "questions": QuestionToBring.objects.filter(client=user).count(),
        "support_items": SupportItem.objects.filter(client=user).count(),
        "practice_logs": PracticeLog.objects.filter(client=user).count(),
        "care_links": 1,
    }
    assert {kind: len(export[kind]) for kind in counts} == counts
    assert counts == {
        "sessions": 2,
        "responses": 10,
        "safety_events": 2,
        "insights": 2,
        # 2 typed + 2 from the worksheet's "what I might do next"
        "action_steps": 4,
        # 2 typed + 1 from the preparation's concerns
        "questions": 3,
        "support_items": 3,
        "practice_logs": 2,
        "care_links": 1,
    }

    by_key = {}
    for r in export["responses"]:
        by_key.setdefault(r["instrument"]["key"], []).append(r)
    # Drafts, with what was typed so far.
    drafts = [r for r in export["responses"] if r["status"] == "draft"]
    assert sorted(r["instrument"]["key"] for r in drafts) == ["capture-insights", "self-assessment"]
    assert by_key["self-assessment"][0]["answers"] == {
        "most-stuck-patterns": f"{ALEX_PHRASE} {TRICKY} draft"
    }
    assert by_key["self-assessment"][0]["submitted_at"] is None
    session_draft = by_key["capture-insights"][0]
    assert export["sessions"][session_draft["session"] - 1]["status"] == "completed"

    # The edited worksheet keeps its earlier version.
    (worksheet,) = by_key["integration-worksheet"]
    assert worksheet["version"] == 2
    assert worksheet["answers"]["insight-emerged"].endswith("worksheet answer, edited")
    assert [h["version"] for h in worksheet["history"]] == [1]
    assert worksheet["history"][0]["answers"]["insight-emerged"].endswith("worksheet answer")
    assert "felt-different" not in worksheet["history"][0]["answers"]

    # Scores, bands and the safety event of PHQ-9 item 9.
    (phq9,) = by_key["phq9"]
    assert phq9["score_total"] == 9.0 and phq9["score_band"] == "Mild"
    rules = {
        (e["rule_key"], export["responses"][e["response"] - 1]["instrument"]["key"])
        for e in export["safety_events"]
    }
    assert rules == {
        ("phq9-item-9", "phq9"),
        ("phq9-item-9", "phq-9-quick-depression-assessment-panel"),
    }

    # Follow-ups keep their source.
    steps = {s["text"]: s for s in export["action_steps"]}
    from_worksheet = steps[f"{ALEX_PHRASE} walk every morning"]
    assert export["responses"][from_worksheet["source_response"] - 1]["instrument"]["key"] == (
        "integration-worksheet"
    )
    typed = steps[f"{ALEX_PHRASE} {TRICKY} action step"]
    assert [(c["status"], c["note"]) for c in typed["check_ins"]] == [
        ("working", f"{ALEX_PHRASE} {TRICKY} check-in note"),
        ("done", ""),
    ]
    questions = {q["text"]: q for q in export["questions"]}
    assert questions[f"{ALEX_PHRASE} asked already"]["asked_at"] is not None
    source = questions[f"{ALEX_PHRASE} What about sleep?"]["source_response"]
    assert export["responses"][source - 1]["instrument"]["key"] == "first-session-preparation"
    assert {s["category"] for s in export["support_items"]} == {"therapy", "people", "routines"}

    grounding, awareness = export["practice_logs"]
    assert grounding["instrument"]["key"] == "grounding"
    assert grounding["pace"]["inhale"] == 4 and grounding["notings"] == {"thought": 3, "emotion": 1}
    assert (grounding["settled_before"], grounding["settled_after"]) == (3, 7)
    assert (awareness["completed"], awareness["source"]) == (False, "manual")
    assert export["reminder_preference"]["email_enabled"] is True
    assert export["care_links"][0]["therapist_email"] == "dr.lee@example.com"
    assert export["care_links"][0]["scopes"] == ["scores", "safety"]

    # Every instrument used is listed; only the imported one carries its whole spec.
    used = {(r["instrument"]["key"], r["instrument"]["version"]) for r in export["responses"]}
    used |= {(p["instrument"]["key"], p["instrument"]["version"]) for p in export["practice_logs"]}
    assert {(i["key"], i["version"]) for i in export["instruments"]} == used
    for entry in export["instruments"]:
        if entry["pack"] is None:
            assert entry["key"] == "phq-9-quick-depression-assessment-panel"
            assert len(entry["spec"]["items"]) == 10
        else:
            assert entry["pack"] == "kap-guide" and entry["spec"] is None


def test_every_field_of_the_schema_is_documented_in_export_schema_md():
    docs = documented()
    rows = {m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, schema.Row)}
    # InstrumentRef is the {"key", "version"} reference described under Conventions.
    assert rows - set(SECTIONS.values()) == {schema.Row, schema.InstrumentRef}
    with open(DOCS, encoding="utf-8") as f:
        assert '`{"key": …, "version": …}`' in f.read()
    for section, model in SECTIONS.items():
        assert section in docs, f"docs/export-schema.md has no section {section!r}"
        assert set(docs[section]) == set(model.model_fields), section


def test_the_export_follows_the_documented_schema_field_by_field(logged_in, alex):
    export = download_json(logged_in)
    docs = documented()
    for section in SECTIONS:
        objects = objects_of(export, section)
        assert objects, f"the rich person has no {section}: the check would prove nothing"
        for obj in objects:
            assert set(obj) == set(docs[section]), section
            for name, doc_type in docs[section].items():
                assert matches_type(obj[name], doc_type), (section, name, obj[name], doc_type)
    # And the file reads back through the schema the import uses.
    assert import_checks.parse_export(json.dumps(export).encode()).profile.email == alex.user.email


def test_ids_are_local_references_numbered_in_time_order(client, sam, alex):
    client.force_login(alex.user)
    export = download_json(client)
    for kind in ("sessions", "responses", "safety_events", "insights", "action_steps"):
        rows = export[kind]
        assert [r["id"] for r in rows] == list(range(1, len(rows) + 1)), kind
    times = [r["created_at"] for r in export["responses"]]
    assert times == sorted(times)
    starts = [s["starts_at"] for s in export["sessions"]]
    assert starts == sorted(starts)
    # Not database keys: Sam's records were stored first, so Alex's keys are higher.
    assert alex.objects["session"].pk > sam.objects["planned"].pk
    assert export["sessions"][0]["starts_at"] < export["sessions"][1]["starts_at"]
    (insight,) = [i for i in export["insights"] if i["session"] is not None]
    assert insight["session"] == 1


def test_every_model_that_belongs_to_a_person_is_exported_or_deliberately_left_out():
    from kap.accounts.models import User

    owned = set()
    for model in apps.get_models():
        for f in model._meta.get_fields():
            if isinstance(f, dj_models.ForeignKey) and f.related_model is User:
                owned.add(model._meta.label)
    decided = set(schema.EXPORTED) | set(schema.NOT_EXPORTED)
    assert owned - decided == set(), "a new kind of record: export it or say why not"
    # Some models point at the user only as its author (an invite, an audit entry); every entry of
    # the two lists names a model that exists.
    for label in decided:
        assert apps.get_model(label)
    assert not set(schema.EXPORTED) & set(schema.NOT_EXPORTED)
    sections = set(schema.Export.model_fields)
    for label, section in schema.EXPORTED.items():
        assert section.split()[0] in sections, label


def test_free_text_comes_back_exactly_in_the_export(logged_in, alex):
    export = download_json(logged_in)
    session = export["sessions"][0]
    assert session["notes"] == f"{ALEX_PHRASE} {TRICKY} session notes"
    assert session["clinician_name"] == "Dr. Müller 🌿"
    assert f"{ALEX_PHRASE} {TRICKY} insight" in [i["text"] for i in export["insights"]]
    assert f"{ALEX_PHRASE} {TRICKY} question" in [q["text"] for q in export["questions"]]
    (intention,) = [r for r in export["responses"] if r["instrument"]["key"] == "intention-setting"]
    assert intention["answers"]["want-to-understand"] == f"{ALEX_PHRASE} {TRICKY} intention"
    assert "\r\n" in intention["answers"]["want-to-understand"]


# --- Round trip ---------------------------------------------------------------------------------


def test_an_export_imported_into_a_fresh_instance_exports_again_identically(
    client, alex, make_user
):
    user = alex.user
    user.region = "GB"
    user.date_joined = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    user.save()
    client.force_login(user)
    first = download_json(client)
    raw = client.get(reverse("exports:json")).content

    # A fresh instance: the person and the questionnaire they imported are gone; only the
    # guide's pack is loaded.
    erase_client(user)
    Instrument.objects.filter(pack__isnull=True).delete()
    assert not Response.objects.exists() and not Instrument.objects.filter(pack=None).exists()

    newcomer = make_user(first["profile"]["email"])
    client.force_login(newcomer)
    response = import_export_file(client, raw)
    assert response.status_code == 302
    assert response.url == reverse("exports:index")
    notes = [m.message for m in get_messages(response.wsgi_request)]
    assert notes[0] == (
        "Your data was imported: 2 KAP sessions, 10 check-ins and worksheets, 2 safety events,"
        " 2 insights, 4 action steps, 3 questions, 3 support items, 2 practices."
    )
    assert "Links to therapists are not imported" in notes[1]

    second = download_json(client)
    assert comparable(second) == comparable(first)
    assert second["care_links"] == []
    # The questionnaire was made again from the file, under its own key and version.
    again = Instrument.objects.get(pack=None)
    assert (again.key, again.version) == ("phq-9-quick-depression-assessment-panel", 1)
    # The account took the name, region and earlier "with us since" from the file.
    newcomer.refresh_from_db()
    assert (newcomer.display_name, newcomer.region) == ("Alex", "GB")
    assert newcomer.date_joined == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)


def test_an_export_imported_into_a_second_account_keeps_every_record(client, alex, make_user):
    client.force_login(alex.user)
    first = download_json(client)
    raw = client.get(reverse("exports:json")).content
    before = Instrument.objects.count()

    other = make_user("alex.new@example.com")
    client.force_login(other)
    assert import_export_file(client, raw).status_code == 302
    second = download_json(client)

    assert comparable(second, other_account=True) == comparable(first, other_account=True)
    assert second["profile"]["email"] == "alex.new@example.com"
    # The imported questionnaire is Alex's own: the second account gets a copy of its own
    # (issue 13), Alex's stays as it was. The practices got new uuids.
    assert Instrument.objects.count() == before + 1
    mine, theirs = (Instrument.objects.get(pack=None, owner=u) for u in (other, alex.user))
    assert (mine.key, mine.version, mine.checksum) == (theirs.key, theirs.version, theirs.checksum)
    old = {p["uuid"] for p in first["practice_logs"]}
    assert old.isdisjoint(p["uuid"] for p in second["practice_logs"])
    # The imported records are real records of the new account: the app reads them back.
    imported = Response.objects.get(client=other, instrument__key="integration-worksheet")
    assert imported.history.get().answers["insight-emerged"].endswith("worksheet answer")
    assert ResponseVersion.objects.filter(response__client=other).count() == 1
    assert CheckIn.objects.filter(step__client=other).count() == 2
    page = client.get(reverse("journal:response", args=[imported.pk]))
    assert f"{alex.phrase} Ünïcödé — 日本語 🌿🦋" in page_text(page)
    # Shown as text, never run as markup.
    assert "&lt;script&gt;alert(" in page.content.decode()
    assert "<script>alert(" not in page.content.decode()


def test_importing_into_an_account_that_already_has_records_is_refused(logged_in, alex):
    raw = logged_in.get(reverse("exports:json")).content
    before = Insight.objects.count()
    response = import_export_file(logged_in, raw)
    assert response.status_code == 400
    assert "This account already has records" in page_text(response)
    assert Insight.objects.count() == before


def test_the_times_of_an_import_are_those_of_the_file_not_of_the_import(client, alex, make_user):
    long_ago = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    Insight.objects.filter(pk=alex.objects["insight"].pk).update(created_at=long_ago)
    KapSession.objects.filter(pk=alex.objects["session"].pk).update(
        created_at=long_ago, updated_at=long_ago + timedelta(hours=1)
    )
    client.force_login(alex.user)
    raw = client.get(reverse("exports:json")).content
    other = make_user("alex.new@example.com")
    client.force_login(other)
    assert import_export_file(client, raw).status_code == 302
    insight = Insight.objects.get(client=other, session__isnull=False)
    assert insight.created_at == long_ago
    session = KapSession.objects.get(client=other, status="completed")
    assert (session.created_at, session.updated_at) == (long_ago, long_ago + timedelta(hours=1))


@pytest.mark.parametrize("field", ["text", "notes"])
def test_free_text_survives_the_round_trip_byte_for_byte(client, guide, make_user, field):
    source, target = make_user("a@example.com"), make_user("b@example.com")
    value = f"  leading spaces, {TRICKY}\n\n trailing  \n"
    if field == "text":
        Insight.objects.create(client=source, text=value)
    else:
        KapSession.objects.create(client=source, starts_at=datetime.now(UTC), notes=value)
    client.force_login(source)
    raw = client.get(reverse("exports:json")).content
    client.force_login(target)
    assert import_export_file(client, raw).status_code == 302
    if field == "text":
        assert Insight.objects.get(client=target).text == value
    else:
        assert KapSession.objects.get(client=target).notes == value
