"""The first steps after signing up (kap.journal.views_onboarding): when the next session is,
reminders, and what the app is and is not. Each one skippable; offered once; clients only."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kap.accounts.models import User
from kap.journal.models import CalendarFeed, KapSession, ReminderPreference
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_up(client, **over):
    data = {
        "display_name": "Robin",
        "email": "robin@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "time_zone": "Europe/Paris",
    }
    return client.post("/signup/", data | over)


@pytest.fixture
def new_client(client, make_user, guide):
    """Someone who has just signed up (the first account of a server is its admin's)."""
    make_user("admin@example.com", role="admin")
    assert sign_up(client).status_code == 302
    return client


def robin() -> User:
    return User.objects.get(email="robin@example.com")


def in_a_week() -> str:
    return (timezone.localtime() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


def test_signing_up_leads_to_the_first_steps_then_never_again(new_client):
    assert robin().onboarded_at is None
    response = new_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/welcome/"

    page = new_client.get("/welcome/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "When is your next session?" in html
    assert "Step 1 of 3" in html
    assert re.search(r'<li class="is-current" aria-current="step">Your next session</li>', html)
    assert "Welcome. Your account is ready." in html  # the sign-up's message, shown here
    assert robin().onboarded_at is not None

    # Offered once: Today is Today from now on.
    assert new_client.get("/").status_code == 200
    assert "Hello, Robin" in new_client.get("/").content.decode()


def test_the_first_step_plans_the_next_session_in_the_journal(new_client):
    when = in_a_week()
    response = new_client.post("/welcome/", {"starts_at": when})
    assert response.status_code == 302
    assert response["Location"] == "/welcome/reminders/"
    session = KapSession.objects.get(client=robin())
    assert session.status == KapSession.Status.PLANNED
    assert timezone.localtime(session.starts_at, robin_zone()).strftime("%Y-%m-%dT%H:%M") == when
    # Back on the step, the session is acknowledged rather than asked for again.
    assert "already in your journal" in new_client.get("/welcome/").content.decode()


def robin_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")


def test_the_first_step_sent_empty_plans_nothing_and_moves_on(new_client):
    response = new_client.post("/welcome/", {"starts_at": ""})
    assert response["Location"] == "/welcome/reminders/"
    assert not KapSession.objects.exists()


@pytest.mark.parametrize(
    "typed, message",
    [
        ("next tuesday", "Give a date and a time, e.g. 2026-12-01 14:00."),
        ("2001-05-04T10:00", "That time has passed."),
        ("1850-05-04T10:00", "Please give a date between 1900 and 2100."),
    ],
)
def test_a_date_that_cannot_be_used_is_explained_and_kept(new_client, typed, message):
    response = new_client.post("/welcome/", {"starts_at": typed})
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'class="error-summary"' in html
    assert f'value="{typed}"' in html  # what was typed survives
    assert not KapSession.objects.exists()


def test_the_second_step_keeps_the_reminder_settings(new_client, settings):
    settings.SMTP_HOST = "mail.example.org"
    html = new_client.get("/welcome/reminders/").content.decode()
    assert "Step 2 of 3" in html
    assert "Send me e-mail reminders" in html
    response = new_client.post("/welcome/reminders/", {"email": "on", "calendar": "on"})
    assert response["Location"] == "/welcome/about/"
    assert ReminderPreference.objects.get(client=robin()).email_enabled is True
    feed = CalendarFeed.objects.get(client=robin())
    # Sent again (a reload), the calendar link is not replaced: one already added still works.
    new_client.post("/welcome/reminders/", {"email": "on", "calendar": "on"})
    assert CalendarFeed.objects.get(client=robin()).token == feed.token
    # Both are the Reminders page's own settings.
    page = new_client.get("/reminders/").content.decode()
    assert feed.token in page


def test_without_a_mail_server_the_second_step_offers_the_calendar_only(new_client, settings):
    settings.SMTP_HOST = ""
    html = new_client.get("/welcome/reminders/").content.decode()
    assert "Send me e-mail reminders" not in html
    assert "Make me a private calendar link" in html
    new_client.post("/welcome/reminders/", {})
    assert not CalendarFeed.objects.exists()


def test_the_third_step_says_what_the_app_never_does_and_where_help_is(new_client):
    html = new_client.get("/welcome/about/").content.decode()
    assert "Step 3 of 3" in html
    assert "It never diagnoses." in html
    assert "It never gives medical or dosing advice." in html
    assert "It is not watched in real time" in html
    assert 'href="/crisis/">Crisis support</a>' in html
    assert '<a class="button" href="/">Go to Today</a>' in html


def test_every_step_can_be_skipped(new_client):
    first = new_client.get("/welcome/").content.decode()
    assert '<a class="link-row" href="/welcome/reminders/">Skip this step</a>' in first
    assert '<a class="link-row" href="/">Skip the rest and go to Today</a>' in first
    second = new_client.get("/welcome/reminders/").content.decode()
    assert '<a class="link-row" href="/welcome/about/">Skip this step</a>' in second
    assert new_client.get("/").status_code == 200


def test_a_step_reached_first_counts_as_offered_too(new_client):
    new_client.get("/welcome/about/")
    assert robin().onboarded_at is not None
    assert new_client.get("/").status_code == 200


def test_accounts_made_any_other_way_go_straight_to_today(client, make_user, guide):
    client.force_login(make_user("sam@example.com"))
    assert client.get("/").status_code == 200


def test_a_sign_up_by_e_mail_is_offered_the_steps_after_its_first_login(client, settings, guide):
    from kap.accounts import signup_by_mail

    settings.SMTP_HOST = "mail.example.org"
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    signup_by_mail.start(email="kim@example.com", display_name="Kim")
    kim = User.objects.get(email="kim@example.com")
    assert kim.onboarded_at is None
    kim.set_password(PASSWORD)
    kim.save()
    client.force_login(kim)
    assert client.get("/")["Location"] == "/welcome/"


def test_the_steps_are_a_clients(client, make_user, guide):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.security.support import verified_test_client

    therapist = make_user("dr@example.com", role="therapist")
    device = TOTPDevice.objects.create(user=therapist, name="Authenticator app", confirmed=True)
    staff = verified_test_client(therapist, device)
    for url in ("/welcome/", "/welcome/reminders/", "/welcome/about/"):
        assert staff.get(url).status_code == 404
    assert client.get("/welcome/")["Location"] == "/login/?next=/welcome/"
