import hashlib
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from icalendar import Calendar

from kap.journal import reminders
from kap.journal.models import CalendarFeed, CheckIn, Insight, ReminderPreference
from tests.reminders.conftest import CANARY


def _path(feed) -> str:
    return f"/calendar/{feed.token}.ics"


def _events(response) -> dict:
    cal = Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def _day(value) -> date:
    return value.dt if not isinstance(value.dt, datetime) else value.dt.date()


@pytest.fixture
def feed(client_user):
    return reminders.reset_feed(client=client_user)


@pytest.fixture
def records(client_user, make_session, make_step, scored):
    """One of everything the feed shows, each carrying the canary phrase where text is allowed."""
    planned = make_session(client_user, hours_from_now=48, clinician_name="Dr Canary Lee")
    completed = make_session(client_user, hours_from_now=-5, status="completed")
    make_session(client_user, hours_from_now=24, status="cancelled")
    Insight.objects.create(client=client_user, session=completed, text=f"insight {CANARY}")
    make_step(client_user, days_ago=1)
    make_step(client_user, days_ago=1)  # same day: one event for both
    checked = make_step(client_user, days_ago=10)
    CheckIn.objects.create(
        step=checked,
        status="working",
        note=f"note {CANARY}",
        created_at=timezone.now() - timedelta(days=1),
    )
    make_step(client_user, days_ago=5, status="done")
    scored(client_user, "phq9", days_ago=3)
    return planned, completed


def test_the_feed_parses_and_holds_the_expected_events(client, client_user, feed, records):
    planned, completed = records
    today = timezone.localdate()

    response = client.get(_path(feed))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    cal = Calendar.from_ical(response.content)
    assert str(cal["VERSION"]) == "2.0"
    # A calendar syncs to other companies' servers and shows on shared screens: discreet names.
    assert "KAP" not in response.content.decode()
    assert str(cal["X-WR-CALNAME"]) == "Companion"
    events = _events(response)
    pk = client_user.pk
    assert set(events) == {
        f"session-{planned.pk}@kap-companion",
        f"insights-{completed.pk}@kap-companion",
        f"steps-{pk}-{today + timedelta(days=2):%Y%m%d}@kap-companion",
        f"scores-phq9-{pk}@kap-companion",
        f"scores-gad7-{pk}@kap-companion",
    }
    session = events[f"session-{planned.pk}@kap-companion"]
    assert str(session["SUMMARY"]) == "Session"
    assert session["DTSTART"].dt == planned.starts_at.replace(microsecond=0)
    assert session["DTEND"].dt - session["DTSTART"].dt == timedelta(hours=1)
    window = events[f"insights-{completed.pk}@kap-companion"]
    assert str(window["SUMMARY"]) == "Capture insights"
    assert window["DTEND"].dt - window["DTSTART"].dt == timedelta(hours=72)
    steps = events[f"steps-{pk}-{today + timedelta(days=2):%Y%m%d}@kap-companion"]
    assert str(steps["SUMMARY"]) == "Check in on your action steps"
    assert _day(steps["DTSTART"]) == today + timedelta(days=2)
    assert _day(events[f"scores-phq9-{pk}@kap-companion"]["DTSTART"]) == (
        timezone.localdate(timezone.now() - timedelta(days=3)) + timedelta(days=14)
    )
    # Never taken: ready today.
    assert _day(events[f"scores-gad7-{pk}@kap-companion"]["DTSTART"]) == today
    for event in events.values():
        assert "DTSTAMP" in event


def test_the_feed_has_crlf_line_endings_and_folded_lines(client, feed, records):
    body = client.get(_path(feed)).content

    assert b"\r\n" in body
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))


def test_the_uids_stay_the_same_from_one_fetch_to_the_next(client, feed, records):
    first = set(_events(client.get(_path(feed))))
    second = set(_events(client.get(_path(feed))))

    assert first == second


def test_the_feed_holds_nothing_the_person_wrote(client, feed, records):
    body = client.get(_path(feed)).content.decode()
    unfolded = body.replace("\r\n ", "")

    assert CANARY not in unfolded
    assert "Canary Lee" not in unfolded


def test_the_clinician_is_named_only_when_the_person_chose_it(client, client_user, feed, records):
    ReminderPreference.objects.create(client=client_user, include_clinician=True)
    planned, _ = records

    events = _events(client.get(_path(feed)))

    assert str(events[f"session-{planned.pk}@kap-companion"]["SUMMARY"]) == (
        "Session with Dr Canary Lee"
    )


def test_a_reset_link_is_not_found(client, client_user, feed):
    old = _path(feed)

    new = reminders.reset_feed(client=client_user)

    assert client.get(old).status_code == 404
    assert client.get(_path(new)).status_code == 200


def test_a_turned_off_link_is_not_found(client, client_user, feed):
    reminders.stop_feed(client=client_user)

    assert client.get(_path(feed)).status_code == 404


def test_an_unknown_token_is_not_found(client, feed):
    assert client.get("/calendar/" + "x" * 43 + ".ics").status_code == 404


def test_anothers_token_shows_only_their_events(client, client_user, stranger, make_session):
    mine = make_session(client_user, hours_from_now=30)
    theirs = make_session(stranger, hours_from_now=30)
    their_feed = reminders.reset_feed(client=stranger)

    uids = set(_events(client.get(_path(their_feed))))

    assert f"session-{theirs.pk}@kap-companion" in uids
    assert f"session-{mine.pk}@kap-companion" not in uids
    assert all(str(stranger.pk) in uid for uid in uids if uid.startswith(("steps", "scores")))


def test_a_deactivated_account_has_no_feed(client, client_user, feed):
    client_user.is_active = False
    client_user.save()

    assert client.get(_path(feed)).status_code == 404


def test_the_token_is_stored_encrypted_and_looked_up_by_its_hash(client, feed):
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, token_hash FROM journal_calendarfeed")
        stored, token_hash = cursor.fetchone()

    assert feed.token not in stored
    assert stored.startswith("enc1:")
    assert token_hash == hashlib.sha256(feed.token.encode()).hexdigest()


def test_a_fetch_is_remembered(client, feed):
    client.get(_path(feed))

    feed.refresh_from_db()
    assert feed.last_fetched_at is not None


def test_the_feed_does_not_take_a_post(client, feed):
    assert client.post(_path(feed)).status_code == 405
    assert CalendarFeed.objects.count() == 1
