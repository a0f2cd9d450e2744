"""The JSON import refuses a bad file with a message that names what is wrong and where, with
status 400, and changes nothing: not one row is created."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.urls import reverse

from kap.exports import import_checks, json_import
from kap.lib.limits import LONG_TEXT, SHORT_TEXT
from tests.data.conftest import import_export_file, page_text, row_counts, upload
from tests.data.people import FHIR_FIXTURES, NLM_PHQ9


def _response_of(export: dict, key: str) -> dict:
    return next(r for r in export["responses"] if r["instrument"]["key"] == key)


def _entry_of(export: dict, key: str) -> dict:
    return next(i for i in export["instruments"] if i["key"] == key)


def drop_starts_at(e):
    del e["sessions"][0]["starts_at"]


def add_unknown_field(e):
    e["responses"][0]["mood"] = "fine"


def time_without_offset(e):
    e["sessions"][0]["starts_at"] = "2026-03-14T09:30:00"


def year_9999(e):
    e["sessions"][0]["starts_at"] = "9999-12-31T23:30:00-11:00"


def year_1(e):
    e["insights"][0]["created_at"] = "0001-01-01T00:00:00+14:00"


def bad_status(e):
    e["sessions"][1]["status"] = "maybe"


def dangling_session(e):
    _response_of(e, "intention-setting")["session"] = 99


def duplicate_insight_id(e):
    e["insights"][1]["id"] = e["insights"][0]["id"]


def instrument_not_loaded(e):
    _entry_of(e, "gad7")["version"] = 9
    _response_of(e, "gad7")["instrument"]["version"] = 9


def other_checksum(e):
    _entry_of(e, "gad7")["checksum"] = "0" * 64


def unknown_item(e):
    _response_of(e, "gad7")["answers"]["q99"] = "not-at-all"


def two_open_drafts(e):
    draft = dict(_response_of(e, "self-assessment"))
    draft["id"] = len(e["responses"]) + 1
    e["responses"].append(draft)


def wrong_version(e):
    e["schema_version"] = 2


def wrong_format(e):
    e["format"] = "something-else"


def _text_answer(e) -> tuple[dict, str]:
    """A submitted response with a text answer, and that answer's item key."""
    for response in e["responses"]:
        for key, value in response["answers"].items():
            if isinstance(value, str) and response["status"] == "submitted" and len(value) > 20:
                return response, key
    raise AssertionError("the export has no text answer")


# One character over each documented limit (kap/lib/limits.py): an import is held to the same
# lengths as the forms.
def long_session_notes(e):
    e["sessions"][0]["notes"] = "n" * (LONG_TEXT + 1)


def long_insight(e):
    e["insights"][0]["text"] = "i" * (LONG_TEXT + 1)


def long_step(e):
    e["action_steps"][0]["text"] = "s" * (SHORT_TEXT + 1)


def long_check_in_note(e):
    step = next(s for s in e["action_steps"] if s["check_ins"])
    step["check_ins"][0]["note"] = "c" * (SHORT_TEXT + 1)


def long_question(e):
    e["questions"][0]["text"] = "q" * (SHORT_TEXT + 1)


def long_support_item(e):
    e["support_items"][0]["text"] = "h" * (SHORT_TEXT + 1)


def long_answer(e):
    response, key = _text_answer(e)
    response["answers"][key] = "a" * (LONG_TEXT + 1)


LONG_TEXTS: list[tuple[Callable, list[str]]] = [
    (long_session_notes, ["sessions.0.notes", f"at most {LONG_TEXT} characters"]),
    (long_insight, ["insights.0.text", f"at most {LONG_TEXT} characters"]),
    (long_step, ["action_steps.0.text", f"at most {SHORT_TEXT} characters"]),
    (long_check_in_note, [".check_ins.0.note", f"at most {SHORT_TEXT} characters"]),
    (long_question, ["questions.0.text", f"at most {SHORT_TEXT} characters"]),
    (long_support_item, ["support_items.0.text", f"at most {SHORT_TEXT} characters"]),
    (long_answer, [f"{LONG_TEXT + 1:,} characters, more than the {LONG_TEXT:,} allowed"]),
]

CHANGES: list[tuple[Callable, list[str]]] = [
    (wrong_version, ["schema version 2", "this app reads schema version 1"]),
    (wrong_format, ["its format is 'something-else'", "expected 'kap-companion-export'"]),
    (drop_starts_at, ["sessions.0.starts_at: Field required"]),
    (add_unknown_field, ["responses.0.mood: Extra inputs are not permitted"]),
    (time_without_offset, ["sessions.0.starts_at", "timezone"]),
    (year_9999, ["sessions.0.starts_at", "a date between 1900 and 2100"]),
    (year_1, ["insights.0.created_at", "a date between 1900 and 2100"]),
    (bad_status, ["sessions.1.status", "'maybe' is not one of planned, completed, cancelled"]),
    (dangling_session, ["refers to session 99, which is not in the file"]),
    (duplicate_insight_id, ["insights: id 1 is used twice"]),
    (instrument_not_loaded, ["'gad7' version 9", "'kap-guide'", "which is not loaded here"]),
    (other_checksum, ["'gad7' version 1", "checksums differ"]),
    (unknown_item, ["answers an item 'q99'", "'gad7' version 1 does not have"]),
    (two_open_drafts, ["contradict each other", "two open drafts"]),
    *LONG_TEXTS,
]


def assert_refused(response, before: dict, *expected: str) -> str:
    text = page_text(response)
    assert response.status_code == 400
    for fragment in expected:
        assert fragment in text, fragment
    assert "nothing was imported" in text.lower()
    # Shown at the top of the page, linked to the file field.
    assert 'class="error-summary" role="alert"' in response.content.decode()
    assert 'href="#id_export-file"' in response.content.decode()
    assert row_counts() == before
    return text


@pytest.mark.parametrize(("change", "expected"), CHANGES, ids=[c.__name__ for c, _ in CHANGES])
def test_a_damaged_export_is_refused_naming_the_problem_and_nothing_is_created(
    client, exported, newcomer, change, expected
):
    change(exported)
    before = row_counts()
    response = import_export_file(client, json.dumps(exported).encode())
    assert_refused(response, before, *expected)
    assert not json_import.has_records(newcomer)


def test_the_unchanged_file_is_accepted_so_the_refusals_are_about_the_changes(
    client, exported, newcomer
):
    response = import_export_file(client, json.dumps(exported).encode())
    assert response.status_code == 302
    assert json_import.has_records(newcomer)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"format": "kap-companion-export", "schema_version": 1,', ["not valid JSON", "line 1"]),
        (b"\xff\xfe\x00not text", ["not UTF-8 text"]),
        (b"[1, 2, 3]", ["not a KAP Companion export", "it has no format"]),
        ((FHIR_FIXTURES / NLM_PHQ9).read_bytes(), ["it has no format"]),
    ],
    ids=["malformed-json", "not-utf8", "a-list", "a-fhir-questionnaire"],
)
def test_a_file_that_is_not_an_export_is_refused(client, newcomer, content, expected):
    before = row_counts()
    response = import_export_file(client, content)
    assert_refused(response, before, *expected)


def test_malformed_json_is_refused_with_the_line_and_column(client, exported, newcomer):
    text = json.dumps(exported, indent=2)
    lines = text.splitlines()
    lines[4] = lines[4].rstrip(",")  # a missing comma on line 5
    before = row_counts()
    response = import_export_file(client, "\n".join(lines).encode())
    assert_refused(response, before, "not valid JSON (Expecting ',' delimiter at line 6, column")


def test_no_file_or_an_empty_file_is_refused_with_a_plain_message(client, newcomer):
    before = row_counts()
    response = client.post(reverse("exports:import"), {})
    assert response.status_code == 400
    assert "Choose a file first." in page_text(response)
    response = import_export_file(client, b"")
    assert response.status_code == 400
    assert "That file is empty." in page_text(response)
    assert row_counts() == before


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(client, newcomer, monkeypatch):
    monkeypatch.setattr(import_checks, "MAX_IMPORT_BYTES", 1024 * 1024)
    before = row_counts()
    response = import_export_file(client, b" " * (1024 * 1024 + 10))
    assert response.status_code == 400
    assert "This file is larger than 1 MB" in page_text(response)
    assert row_counts() == before


def test_a_file_with_more_records_than_an_import_takes_is_refused(
    client, exported, newcomer, monkeypatch
):
    """Bounded in rows as well as bytes: the import's write transaction stays short, so nobody
    else's save waits out the database's lock timeout. Versions and check-ins inside records
    count too."""
    monkeypatch.setattr(import_checks, "MAX_IMPORT_RECORDS", 40)
    exported["insights"] = [{**exported["insights"][0], "id": 1000 + n} for n in range(41)]
    before = row_counts()
    response = import_export_file(client, json.dumps(exported).encode())
    assert_refused(response, before, "more than the 40 an import takes at once")


def test_opening_the_import_address_without_a_file_goes_back_to_your_data(client, newcomer):
    response = client.get(reverse("exports:import"))
    assert response.status_code == 302 and response.url == reverse("exports:index")


def test_a_therapist_cannot_import_into_their_account(client, therapist, exported):
    from tests.security.support import log_in_with_second_factor

    log_in_with_second_factor(client, therapist)
    before = row_counts()
    response = upload(client, "exports:import", "export-file", json.dumps(exported).encode())
    assert response.status_code == 404
    assert row_counts() == before
