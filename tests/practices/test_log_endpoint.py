"""POST /practices/log/: the JSON the practice page sends when a practice ends."""

import uuid

import pytest

from kap.practices.models import PracticeLog

pytestmark = pytest.mark.django_db


def test_it_saves_a_practice_with_both_ratings(post_log, payload, client_user):
    data = payload()
    response = post_log(data)
    assert response.status_code == 201
    assert response.json()["uuid"] == data["uuid"]
    log = PracticeLog.objects.get()
    assert log.client == client_user
    assert (log.instrument.key, log.instrument.version) == ("grounding", 1)
    assert (log.settled_before, log.settled_after) == (3, 7)
    assert (log.planned_seconds, log.elapsed_seconds, log.completed) == (300, 300, True)
    assert log.pace_used.key == "calm" and log.pace_used.exhale == 6
    assert log.source == PracticeLog.Source.TIMER
    assert str(log.uuid) == data["uuid"]


def test_a_retried_send_is_stored_once(post_log, payload):
    data = payload()
    assert post_log(data).status_code == 201
    again = post_log(data)
    assert again.status_code == 200
    assert again.json() == {
        "uuid": data["uuid"],
        "id": PracticeLog.objects.get().pk,
        "created": False,
    }
    assert PracticeLog.objects.count() == 1


def test_it_stores_a_stopped_practice_without_ratings(post_log, payload):
    response = post_log(
        payload(completed=False, elapsed_seconds=42, settled_before=None, settled_after=None)
    )
    assert response.status_code == 201
    log = PracticeLog.objects.get()
    assert (log.completed, log.elapsed_seconds) == (False, 42)
    assert log.settled_before is None and log.settled_after is None


def test_it_keeps_the_guides_numbers_for_a_preset_pace(post_log, payload):
    post_log(payload(pace={"key": "box", "inhale": 1, "exhale": 1}))
    pace = PracticeLog.objects.get().pace_used
    assert (pace.label, pace.inhale, pace.hold_in, pace.exhale, pace.hold_out) == (
        "Box (4-4-4-4)",
        4,
        4,
        4,
        4,
    )


def test_it_stores_a_custom_pace(post_log, payload):
    pace = {"key": "custom", "inhale": 5, "hold_in": 2, "exhale": 7.5, "hold_out": 0}
    assert post_log(payload(pace=pace)).status_code == 201
    stored = PracticeLog.objects.get().pace_used
    assert stored.label == "Your own pace (5 in, 2 hold, 7.5 out)"
    assert (stored.inhale, stored.hold_in, stored.exhale) == (5, 2, 7.5)


def test_it_stores_the_notings_of_gentle_awareness(post_log, payload):
    data = payload(
        instrument="gentle-awareness",
        pace=None,
        planned_seconds=600,
        elapsed_seconds=600,
        notings={"thought": 4, "emotion": 1, "sensation": 0},
    )
    assert post_log(data).status_code == 201
    log = PracticeLog.objects.get()
    assert log.instrument.key == "gentle-awareness"
    assert log.notings == {"thought": 4, "emotion": 1, "sensation": 0}
    assert log.pace is None


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("settled_after", 11, "settled_after must be a whole number from 0 to 10"),
        ("settled_before", -1, "settled_before must be a whole number from 0 to 10"),
        ("settled_before", "calm", "settled_before must be a whole number from 0 to 10"),
        ("planned_seconds", -60, "planned_seconds must be a whole number of seconds"),
        ("elapsed_seconds", -5, "elapsed_seconds must be a whole number of seconds, 0 or more"),
        ("planned_seconds", 30, "planned_seconds must be from 60 to"),
        ("planned_seconds", 99999, "planned_seconds must be from 60 to"),
        ("instrument", "no-such-practice", "there is no practice called 'no-such-practice'"),
        ("instrument", "phq9", "'phq9' is not a practice"),
        ("version", 99, "'grounding' has no version 99"),
        ("uuid", "not-a-uuid", "uuid must be a UUID"),
        ("started_at", "yesterday", "started_at must be a date and time"),
        ("started_at", "2999-01-01T00:00:00Z", "started_at must not be in the future"),
        ("completed", "maybe", "completed must be true or false"),
        ("pace", {"key": "fast"}, "'fast' is not one of this practice's paces"),
        ("pace", {"key": "custom", "inhale": 0, "exhale": 6}, "pace must give inhale"),
        ("notings", {"dream": 1}, "'dream' is not one of this practice's notings"),
    ],
)
def test_bad_input_is_refused_with_the_field_named_and_nothing_stored(
    post_log, payload, field, value, words
):
    response = post_log(payload(**{field: value}))
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"], body
    assert words in body["errors"][field]
    assert words in body["error"]
    assert PracticeLog.objects.count() == 0


def test_a_missing_field_is_named(post_log, payload):
    data = payload()
    del data["completed"]
    response = post_log(data)
    assert response.status_code == 400
    assert response.json()["errors"] == {"completed": "completed must be true or false."}
    assert not PracticeLog.objects.exists()


def test_gentle_awareness_has_no_pace(post_log, payload):
    response = post_log(payload(instrument="gentle-awareness", planned_seconds=600))
    assert response.status_code == 400
    assert "no breathing pace" in response.json()["errors"]["pace"]
    assert not PracticeLog.objects.exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(logged_in, body):
    response = logged_in.post("/practices/log/", body, content_type="application/json")
    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    assert not PracticeLog.objects.exists()


def test_a_uuid_used_by_someone_else_is_refused(post_log, payload, stranger, guide):
    from kap.content.models import Instrument
    from kap.practices.services import record_practice

    data = payload()
    record_practice(
        client=stranger,
        uuid=uuid.UUID(data["uuid"]),
        instrument=Instrument.objects.get(key="grounding"),
        started_at="2026-01-01T10:00:00Z",
        planned_seconds=60,
        elapsed_seconds=60,
        completed=True,
    )
    response = post_log(data)
    assert response.status_code == 400
    assert "uuid" in response.json()["errors"]
    assert PracticeLog.objects.get().client == stranger


def test_the_log_endpoint_takes_posts_only(logged_in):
    assert logged_in.get("/practices/log/").status_code == 405


def test_anonymous_visitors_are_sent_to_log_in(client, guide, payload):
    response = client.post("/practices/log/", payload(), content_type="application/json")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not PracticeLog.objects.exists()


def test_it_needs_the_csrf_token(client_user, guide, payload):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(client_user)
    response = browser.post("/practices/log/", payload(), content_type="application/json")
    assert response.status_code == 403
    assert not PracticeLog.objects.exists()
