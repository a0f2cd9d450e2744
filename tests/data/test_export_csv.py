"""The CSV download: a zip with one CSV file per kind of record, holding only the requesting
person's records, each typed phrase in the file of its kind."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from django.urls import reverse

from tests.data.conftest import ALEX_PHRASE, SAM_PHRASE, download_json
from tests.data.people import TRICKY

HEADERS = {
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


def download_zip(client) -> zipfile.ZipFile:
    response = client.get(reverse("exports:csv"))
    assert response.status_code == 200
    return zipfile.ZipFile(io.BytesIO(response.content))


def read_csv(zf: zipfile.ZipFile, name: str) -> list[dict]:
    raw = zf.read(name)
    assert raw.startswith(b"\xef\xbb\xbf"), f"{name} has no byte-order mark"
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


@pytest.fixture
def alex_zip(logged_in, alex, sam):
    return download_zip(logged_in)


def test_the_csv_download_is_a_zip_attachment_that_is_never_cached(logged_in, alex):
    response = logged_in.get(reverse("exports:csv"))
    assert response["Content-Type"] == "application/zip"
    assert re.fullmatch(
        r'attachment; filename="kap-export-\d{4}-\d\d-\d\d\.zip"', response["Content-Disposition"]
    )
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert zipfile.ZipFile(io.BytesIO(response.content)).testzip() is None


def test_the_zip_holds_one_csv_per_kind_with_the_documented_columns(alex_zip):
    assert sorted(alex_zip.namelist()) == sorted([*HEADERS, "README.txt"])
    readme = alex_zip.read("README.txt").decode("utf-8")
    for name, header in HEADERS.items():
        first_line = alex_zip.read(name).decode("utf-8-sig").split("\r\n", 1)[0]
        assert first_line == ",".join(header), name
        # The README names every file and every one of its columns.
        assert name in readme
        for column in header:
            assert column in readme, (name, column)


def test_each_kind_has_as_many_rows_as_the_json_export_with_the_same_ids(logged_in, alex_zip):
    export = download_json(logged_in)
    pairs = {
        "sessions.csv": ("sessions", "session_id"),
        "safety_events.csv": ("safety_events", "event_id"),
        "insights.csv": ("insights", "insight_id"),
        "action_steps.csv": ("action_steps", "step_id"),
        "questions.csv": ("questions", "question_id"),
        "support.csv": ("support_items", "support_id"),
        "practices.csv": ("practice_logs", "practice_id"),
    }
    for name, (kind, id_column) in pairs.items():
        rows = read_csv(alex_zip, name)
        assert [int(r[id_column]) for r in rows] == [x["id"] for x in export[kind]], name
    check_ins = read_csv(alex_zip, "check_ins.csv")
    assert len(check_ins) == sum(len(s["check_ins"]) for s in export["action_steps"]) == 2
    # Responses in long form: one row per answer, every response present.
    responses = read_csv(alex_zip, "responses.csv")
    assert {int(r["response_id"]) for r in responses} == {r["id"] for r in export["responses"]}
    assert len(responses) == sum(len(r["answers"]) for r in export["responses"])
    (profile,) = read_csv(alex_zip, "profile.csv")
    assert profile["email"] == "alex@example.com" and profile["name"] == "Alex"


def test_a_typed_phrase_is_in_the_file_of_its_kind_exactly_as_typed(alex_zip):
    files = {name: read_csv(alex_zip, name) for name in HEADERS}
    where = {
        f"{ALEX_PHRASE} {TRICKY} insight": ("insights.csv", "text"),
        f"{ALEX_PHRASE} {TRICKY} session notes": ("sessions.csv", "notes"),
        f"{ALEX_PHRASE} {TRICKY} action step": ("action_steps.csv", "text"),
        f"{ALEX_PHRASE} {TRICKY} check-in note": ("check_ins.csv", "note"),
        f"{ALEX_PHRASE} {TRICKY} question": ("questions.csv", "text"),
        f"{ALEX_PHRASE} {TRICKY} people": ("support.csv", "text"),
        f"{ALEX_PHRASE} {TRICKY} worksheet answer, edited": ("responses.csv", "value"),
    }
    for phrase, (name, column) in where.items():
        holders = [n for n, rows in files.items() for r in rows if phrase in r.values()]
        assert holders == [name], phrase
        assert any(r[column] == phrase for r in files[name]), phrase


def test_answers_are_labelled_with_their_question_and_chosen_option(alex_zip):
    rows = read_csv(alex_zip, "responses.csv")
    (worksheet,) = [r for r in rows if r["item_key"] == "insight-emerged"]
    assert worksheet["instrument"] == "integration-worksheet"
    assert worksheet["item_text"] == "What Insight Emerged:"
    assert worksheet["status"] == "submitted"
    q9 = next(r for r in rows if r["instrument"] == "phq9" and r["item_key"] == "q9")
    assert (q9["value"], q9["value_label"]) == ("several-days", "Several days")
    assert (q9["score_total"], q9["score_band"]) == ("9.0", "Mild")
    (draft,) = [r for r in rows if r["instrument"] == "self-assessment"]
    assert (draft["status"], draft["submitted_at"]) == ("draft", "")
    practices = read_csv(alex_zip, "practices.csv")
    assert practices[0]["notings"] == '{"emotion": 1, "thought": 3}'
    assert practices[1]["completed"] == "false"


def test_a_cell_that_looks_like_a_formula_is_made_plain_text(alex_zip):
    texts = [r["text"] for r in read_csv(alex_zip, "action_steps.csv")]
    assert "'=SUM(A1:A9) looks like a formula" in texts
    assert "=SUM(A1:A9) looks like a formula" not in texts


def test_the_zip_holds_only_the_requesting_persons_data(alex_zip, sam):
    blob = b"".join(alex_zip.read(n) for n in alex_zip.namelist()).decode("utf-8-sig")
    assert ALEX_PHRASE in blob
    assert SAM_PHRASE not in blob
    assert sam.user.email not in blob
