"""Today, the e-mail reminders and the calendar feed show one list of what is due
(kap.journal.due): the same things, from the same day, for the same person."""

from datetime import timedelta

import icalendar
import pytest
from django.utils import timezone

from kap.journal import reminders
from kap.journal.due import MEASURE, STEPS, due_for


def summaries(client) -> set[str]:
    cal = icalendar.Calendar.from_ical(reminders.calendar_ics(client))
    return {str(e["SUMMARY"]) for e in cal.walk("VEVENT")}


def today(logged_in) -> str:
    return logged_in.get("/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("days_ago", [2, 3, 5])
def test_a_step_check_in_is_due_on_the_same_day_everywhere(
    logged_in, client_user, make_step, days_ago
):
    make_step(client_user, days_ago=days_ago)
    due = days_ago >= 3
    kinds = {r.kind for r in reminders.due_reminders(client_user)}
    assert ("Check in on your action steps" in today(logged_in)) is due
    assert (STEPS in kinds) is due
    # The calendar also shows the day ahead, and keeps the past one in its history.
    assert "Check in on your action steps" in summaries(client_user)
    (step,) = [d for d in due_for(client_user) if d.kind == STEPS]
    assert step.start == timezone.localdate(timezone.now() - timedelta(days=days_ago - 3))


@pytest.mark.django_db
@pytest.mark.parametrize("days_ago", [13, 15])
def test_a_measure_is_due_again_on_the_same_day_everywhere(
    guide, logged_in, client_user, scored, days_ago
):
    scored(client_user, "phq9", days_ago=days_ago)
    scored(client_user, "gad7", days_ago=1)
    due = days_ago >= 14
    emailed = [r for r in reminders.due_reminders(client_user) if r.kind == MEASURE]
    assert ("PHQ-9 check-in" in today(logged_in)) is due
    assert any(r.key.startswith("phq9:") for r in emailed) is due
    (phq9,) = [
        d for d in due_for(client_user) if d.kind == MEASURE and d.measure.instrument == "phq9"
    ]
    last = timezone.localdate(timezone.now() - timedelta(days=days_ago))
    assert phq9.start == last + timedelta(days=14)
    assert "A short check-in" in summaries(client_user)


@pytest.mark.django_db
def test_a_session_and_its_insight_window_are_one_rule(logged_in, client_user, make_session):
    make_session(client_user, hours_from_now=-5, status="completed")
    body = today(logged_in)
    assert "5 hours since your session" in body
    assert {r.kind for r in reminders.due_reminders(client_user)} >= {"insights"}
    assert "Capture insights" in summaries(client_user)
