"""Every JSON a person can send is read by kap.lib.jsonbody.parse_json: invalid, too deep or too
large JSON is a clear 400 (or a refusal on the page), never a 500, and nothing is stored."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kap.lib.jsonbody import MAX_BODY_BYTES, MAX_DEPTH, BadJson, parse_json

KAP = Path(__file__).resolve().parents[2] / "kap"

# Deep enough for json.loads to raise RecursionError, small enough to be under 64 KB.
DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000


@pytest.mark.parametrize(
    "raw, reason",
    [
        (DEEP_ARRAY, "nested more than"),
        (DEEP_OBJECT, "nested more than"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
        ("1" * 5000, "too many digits"),
        ('{"a": NaN}', "not standard JSON"),
        ("[Infinity]", "not standard JSON"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ("{", "not valid JSON (Expecting property name"),
        ("", "not valid JSON"),
        (" " * (MAX_BODY_BYTES + 1), "larger than 64 KB"),
    ],
)
def test_what_parse_json_refuses(raw, reason):
    with pytest.raises(BadJson) as refused:
        parse_json(raw, max_bytes=MAX_BODY_BYTES)
    assert reason in refused.value.reason


def test_what_parse_json_reads():
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(nested, max_bytes=MAX_BODY_BYTES) is not None
    assert parse_json(b'\xef\xbb\xbf{"a": [1, 2.5, "\\u00e9"]}', max_bytes=100) == {
        "a": [1, 2.5, "é"]
    }


def test_no_view_reads_a_body_or_json_but_through_the_helper():
    """A new JSON endpoint that calls json.loads itself fails here, naming its file."""
    allowed_loads = {
        "lib/jsonbody.py",
        "lib/fields.py",  # the app's own encrypted values, read back from the database
        "lib/crypto.py",  # the key file
        # The export import reads its upload itself and refuses deep nesting and long numbers
        # with its own messages (tests/data/test_import_refusals.py).
        "exports/import_checks.py",
    }
    offenders = []
    for path in KAP.rglob("*.py"):
        name = path.relative_to(KAP).as_posix()
        if "/migrations/" in name:
            continue
        source = path.read_text()
        if "request.body" in source and name != "lib/jsonbody.py":
            offenders.append(f"{name}: reads request.body (use kap.lib.jsonbody.read_json)")
        if re.search(r"\bjson\.loads\(", source) and name not in allowed_loads:
            offenders.append(f"{name}: calls json.loads (use kap.lib.jsonbody.parse_json)")
    assert offenders == []


def _log(**fields) -> dict:
    return {
        "uuid": str(uuid.uuid4()),
        "instrument": "grounding",
        "started_at": datetime.now(UTC).isoformat(),
        "planned_seconds": 300,
        "elapsed_seconds": 300,
        "completed": True,
        **fields,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, words",
    [
        (DEEP_ARRAY, "nested more than"),
        (DEEP_OBJECT, "nested more than"),
        (json.dumps(_log(notings={"x": 1})).replace("1}", "NaN}"), "not standard JSON"),
        (json.dumps(_log(pad="x" * MAX_BODY_BYTES)), "larger than 64 KB"),
        ('{"uuid": "\\ud800"}', "lone surrogate"),
        ("1" * 5000, "too many digits"),
    ],
)
def test_the_practice_log_answers_bad_json_with_a_clear_400(logged_in, body, words):
    from kap.practices.models import PracticeLog

    response = logged_in.post("/practices/log/", body, content_type="application/json")
    assert response.status_code == 400
    assert words in response.json()["errors"]["body"]
    assert not PracticeLog.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, field",
    [("exports:import", "export-file"), ("exports:import-questionnaire", "questionnaire-file")],
)
def test_uploads_of_deeply_nested_json_are_refused_on_the_page(logged_in, url, field):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from kap.content.models import Instrument

    before = Instrument.objects.count()
    upload = SimpleUploadedFile("deep.json", DEEP_ARRAY.encode(), content_type="application/json")
    response = logged_in.post(reverse(url), {field: upload})
    assert response.status_code in (200, 400)
    page = response.content.decode()
    assert "nested" in page and "Nothing was imported" in page
    assert Instrument.objects.count() == before
