"""An imported export is not taken on trust: scores, bands and safety events are worked out again
from the answers with the journal's own scoring and safety rules; a number no export holds (NaN,
Infinity, 1e308, a score outside the instrument's range) or an answer its item does not allow is
refused naming the record and the field, and a refused import changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from kap.accounts.models import CareLink
from kap.care.models import AlertNotification
from kap.care.roster import open_events
from kap.exports import json_import
from kap.journal.models import Response, ResponseVersion, SafetyEvent
from tests.data.conftest import import_export_file, page_text, row_counts

PHQ9_QUIET = {f"q{i}": "several-days" for i in range(1, 9)} | {"q9": "not-at-all"}


def indexed(export: dict, key: str) -> tuple[int, dict]:
    return next((n, r) for n, r in enumerate(export["responses"]) if r["instrument"]["key"] == key)


def refused(client, raw: bytes, *expected: str) -> str:
    before = row_counts()
    response = import_export_file(client, raw)
    text = page_text(response)
    assert response.status_code == 400, text[:500]
    for fragment in expected:
        assert fragment in text, fragment
    assert "nothing was imported" in text.lower()
    assert row_counts() == before
    return text


def imported(client, export: dict):
    response = import_export_file(client, json.dumps(export).encode())
    assert response.status_code == 302, page_text(response)[:2000]
    return [m.message for m in get_messages(response.wsgi_request)]


# --- Numbers no export holds --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelled", "problem"),
    [
        ("1e308", "1e+308 is far beyond any value an export holds"),
        ("Infinity", "Infinity is not a finite number"),
        ("-Infinity", "-Infinity is not a finite number"),
        ("NaN", "NaN is not a finite number"),
        ("1e999", "Infinity is not a finite number"),  # Python's json reads it as Infinity
    ],
)
def test_a_score_no_export_holds_is_refused_naming_the_response_and_field(
    client, exported, newcomer, spelled, problem
):
    n, phq9 = indexed(exported, "phq9")
    phq9["score_total"] = 123456.5
    raw = json.dumps(exported).encode().replace(b"123456.5", spelled.encode())
    refused(client, raw, f"response {phq9['id']} (responses[{n}], phq9), score_total: {problem}")
    assert not json_import.has_records(newcomer)


def test_a_score_outside_the_instruments_range_is_refused(client, exported, newcomer):
    n, phq9 = indexed(exported, "phq9")
    phq9["score_total"] = 28
    refused(
        client,
        json.dumps(exported).encode(),
        f"response {phq9['id']} (responses[{n}], phq9), score_total: 28 is outside 0–27",
    )


def test_a_non_finite_score_in_an_earlier_version_is_refused(client, exported, newcomer):
    n, worksheet = indexed(exported, "integration-worksheet")
    worksheet["history"][0]["score_total"] = 123456.5
    raw = json.dumps(exported).encode().replace(b"123456.5", b"NaN")
    refused(
        client,
        raw,
        f"response {worksheet['id']} (responses[{n}], integration-worksheet),"
        " history[0].score_total: NaN is not a finite number",
    )


def test_a_number_no_export_holds_is_refused_wherever_it_is(client, exported, newcomer):
    exported["practice_logs"][0]["pace"]["inhale"] = 123456.5
    raw = json.dumps(exported).encode().replace(b"123456.5", b"Infinity")
    refused(client, raw, "practice 1 (practice_logs[0], grounding), pace.inhale: Infinity")

    exported["practice_logs"][0]["pace"]["inhale"] = 4
    exported["practice_logs"][0]["elapsed_seconds"] = 10**6
    refused(
        client,
        json.dumps(exported).encode(),
        "practice 1 (practice_logs[0], grounding), elapsed_seconds: 1000000 seconds is longer"
        " than a day",
    )

    exported["practice_logs"][0]["elapsed_seconds"] = 60
    exported["responses"][0]["version"] = 10**40
    refused(client, json.dumps(exported).encode(), "responses[0]", "version", "far beyond")


def test_a_number_of_thousands_of_digits_is_refused_not_a_server_error(client, newcomer):
    raw = b'{"format": "kap-companion-export", "schema_version": 1, "n": ' + b"9" * 5000 + b"}"
    refused(client, raw, "a number far too long")


# --- Answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "item", "value", "problem"),
    [
        ("phq9", "q9", "always", '"always" is not one of its options (not-at-all,'),
        ("phq9", "q9", 3, "3 is not one of its options"),
        ("closing-outcomes", "less-heaviness", 11, "11 is not a whole number from 0 to 10"),
        ("closing-outcomes", "less-heaviness", 6.5, "6.5 is not a whole number from 0 to 10"),
        ("closing-outcomes", "less-heaviness", True, "true is not a whole number from 0 to 10"),
        ("signs-you-might-benefit", "stuck-despite-insight", "yes", '"yes" is not true or false'),
        ("intention-setting", "own-words", 5, "5 is not text"),
    ],
)
def test_an_answer_its_item_does_not_allow_is_refused_naming_record_and_item(
    client, exported, newcomer, key, item, value, problem
):
    n, row = indexed(exported, key)
    row["answers"][item] = value
    refused(
        client,
        json.dumps(exported).encode(),
        f"response {row['id']} (responses[{n}], {key}), answers.{item}: {problem}",
    )


def test_a_submitted_questionnaire_missing_an_answer_is_refused(client, exported, newcomer):
    n, row = indexed(exported, "gad7")
    del row["answers"]["q3"]
    refused(
        client,
        json.dumps(exported).encode(),
        f"response {row['id']} (responses[{n}], gad7): it was submitted without an answer to q3",
    )


# --- Scores and bands: worked out again -------------------------------------------------------


def test_a_finite_wrong_score_or_band_is_ignored_and_the_true_one_stored(
    client, alex, exported, newcomer
):
    _, phq9 = indexed(exported, "phq9")
    assert (phq9["score_total"], phq9["score_band"]) == (9.0, "Mild")
    phq9["score_total"], phq9["score_band"] = 0, "Minimal"
    _, gad7 = indexed(exported, "gad7")
    gad7["score_band"] = "Severe"
    _, outcomes = indexed(exported, "closing-outcomes")
    outcomes["score_band"] = "Made up by hand"
    _, worksheet = indexed(exported, "integration-worksheet")
    worksheet["history"][0]["score_total"] = 5  # an unscored worksheet has no score
    _, draft = indexed(exported, "self-assessment")
    draft["score_total"] = 3  # nor has a draft

    notes = imported(client, exported)

    stored = Response.objects.get(client=newcomer, instrument__key="phq9")
    assert (stored.score_total, stored.score_band) == (9.0, "Mild")
    original = alex.objects["gad7"]
    stored = Response.objects.get(client=newcomer, instrument__key="gad7")
    assert (stored.score_total, stored.score_band) == (original.score_total, original.score_band)
    original = alex.objects["outcomes"]
    stored = Response.objects.get(client=newcomer, instrument__key="closing-outcomes")
    assert (stored.score_total, stored.score_band) == (original.score_total, original.score_band)
    assert ResponseVersion.objects.get(response__client=newcomer).score_total is None
    assert (
        Response.objects.get(client=newcomer, instrument__key="self-assessment").score_total is None
    )
    assert any(
        "6 scores or bands in the file did not match the answers" in note for note in notes
    ), notes


def test_an_answer_changed_by_hand_gets_the_score_of_the_new_answer(client, exported, newcomer):
    _, phq9 = indexed(exported, "phq9")
    phq9["answers"] = {f"q{i}": "nearly-every-day" for i in range(1, 10)}
    imported(client, exported)
    stored = Response.objects.get(client=newcomer, instrument__key="phq9")
    assert (stored.score_total, stored.score_band) == (27.0, "Severe")


# --- Safety events: worked out again ----------------------------------------------------------


def test_phq9_item_9_answered_2_without_a_safety_event_in_the_file_yields_one(
    client, guide, make_user, submit_phq9
):
    source = submit_phq9(PHQ9_QUIET)
    client.force_login(source.client)
    export = json.loads(client.get(reverse("exports:json")).content)
    assert export["safety_events"] == []
    (phq9,) = export["responses"]
    phq9["answers"]["q9"] = "more-than-half"  # item 9 = 2, edited in without an event

    newcomer = make_user("newcomer@example.com")
    client.force_login(newcomer)
    notes = imported(client, export)

    (event,) = SafetyEvent.objects.filter(client=newcomer)
    assert event.rule_key == "phq9-item-9"
    assert event.response == Response.objects.get(client=newcomer)
    assert event.response.score_total == 10.0  # eight answers of 1, and item 9 of 2
    assert "1 safety event was recorded for answers in the file" in " ".join(notes)


def test_a_safety_event_the_answers_do_not_set_off_is_left_out(client, exported, newcomer):
    _, gad7 = indexed(exported, "gad7")
    exported["safety_events"].append(
        {
            "id": len(exported["safety_events"]) + 1,
            "response": gad7["id"],
            "rule_key": "made-up",
            "created_at": gad7["created_at"],
        }
    )
    notes = imported(client, exported)
    assert set(
        SafetyEvent.objects.filter(client=newcomer).values_list(
            "response__instrument__key", flat=True
        )
    ) == {"phq9", "phq-9-quick-depression-assessment-panel"}
    assert "1 safety event of the file was left out" in " ".join(notes)


def test_a_draft_with_a_positive_item_9_records_no_event_as_on_the_journal(
    client, guide, make_user, submit_phq9
):
    """Safety rules run when answers are submitted, not on a draft: the import does the same."""
    source = submit_phq9(PHQ9_QUIET)
    client.force_login(source.client)
    export = json.loads(client.get(reverse("exports:json")).content)
    (phq9,) = export["responses"]
    phq9["answers"]["q9"] = "nearly-every-day"
    phq9["status"], phq9["submitted_at"], phq9["score_total"] = "draft", None, None

    newcomer = make_user("newcomer@example.com")
    client.force_login(newcomer)
    imported(client, export)
    assert not SafetyEvent.objects.filter(client=newcomer).exists()
    assert Response.objects.get(client=newcomer).score_total is None


def test_an_earlier_version_that_set_off_a_rule_keeps_its_event(
    client, guide, make_user, submit_phq9
):
    """Editing an answer never removed the event its first version recorded; an import keeps it."""
    source = submit_phq9(PHQ9_QUIET)
    client.force_login(source.client)
    export = json.loads(client.get(reverse("exports:json")).content)
    (phq9,) = export["responses"]
    phq9["history"] = [
        {
            "version": 1,
            "answers": PHQ9_QUIET | {"q9": "several-days"},
            "score_total": 9.0,
            "saved_at": phq9["submitted_at"],
        }
    ]
    phq9["version"] = 2

    newcomer = make_user("newcomer@example.com")
    client.force_login(newcomer)
    imported(client, export)
    (event,) = SafetyEvent.objects.filter(client=newcomer)
    assert event.created_at == datetime.fromisoformat(phq9["submitted_at"])


def test_a_recent_imported_answer_alerts_a_linked_therapist_an_old_one_is_only_shown(
    client, guide, make_user, submit_phq9, therapist
):
    """A positive answer saved within ALERT_WINDOW is news: a therapist who is given safety
    alerts is told, as after a submit. An older one is recorded and shown as an open alert on
    their roster, without an e-mail about the past."""
    source = submit_phq9(PHQ9_QUIET | {"q9": "several-days"})
    submit_phq9(PHQ9_QUIET | {"q9": "nearly-every-day"}, client_user=source.client)
    client.force_login(source.client)
    export = json.loads(client.get(reverse("exports:json")).content)
    old, recent = export["responses"]
    long_ago = (timezone.now() - json_import.ALERT_WINDOW - timedelta(days=30)).isoformat()
    for field in ("created_at", "updated_at", "submitted_at"):
        old[field] = long_ago
    export["safety_events"] = []  # the times come from the answers

    newcomer = make_user("newcomer@example.com")
    CareLink.objects.create(client=newcomer, therapist=therapist, scopes=["safety"])
    client.force_login(newcomer)
    imported(client, export)

    events = SafetyEvent.objects.filter(client=newcomer)
    assert events.count() == 2
    alerted = AlertNotification.objects.filter(event__client=newcomer)
    assert [n.event.response.answers["q9"] for n in alerted] == ["nearly-every-day"]
    assert alerted.get().therapist == therapist
    assert open_events(therapist).filter(client=newcomer).count() == 2


@pytest.fixture
def submit_phq9(make_user):
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    def submit(answers: dict, client_user=None):
        user = client_user or make_user("source@example.com")
        return submit_response(
            client=user,
            instrument=Instrument.objects.current().get(key="phq9"),
            session=None,
            answers=answers,
        ).response

    return submit
