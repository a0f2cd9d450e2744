"""What is made for a person outside a request (the worker's e-mails, the calendar feed a calendar
app fetches without a cookie) is in the language they chose, whatever the request's."""

import icalendar
import pytest
from django.utils import translation

from kap.accounts.views_reset import reset_message
from kap.journal import reminders


def summaries(client) -> set[str]:
    cal = icalendar.Calendar.from_ical(reminders.calendar_ics(client))
    return {str(e["SUMMARY"]) for e in cal.walk("VEVENT")}


@pytest.mark.django_db
def test_the_calendar_feed_is_in_the_persons_language(make_user, make_session, guide):
    ana = make_user("ana@example.com", language="es")
    bo = make_user("bo@example.com")
    for person in (ana, bo):
        make_session(person, hours_from_now=30)
    with translation.override("en"):  # the fetching request's language does not matter
        spanish, english = summaries(ana), summaries(bo)
    assert len(spanish) == len(english) >= 1
    assert spanish.isdisjoint(english), (spanish, english)
    assert any("sesión" in s.lower() for s in spanish), spanish


@pytest.mark.django_db
def test_a_password_reset_e_mail_is_in_the_account_holders_language(make_user):
    spanish = reset_message(make_user("ana@example.com", language="es"), "https://kap.example")
    english = reset_message(make_user("bo@example.com"), "https://kap.example")
    assert spanish.subject != english.subject
    assert "contraseña" in spanish.body.lower() and "password" not in spanish.body.lower()
    assert "password" in english.body.lower()
