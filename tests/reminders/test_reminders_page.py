import re

import pytest

from kap.journal import reminders
from kap.journal.models import CalendarFeed, ReminderPreference

PAGE = "/reminders/"


def _shown_url(response) -> str:
    match = re.search(
        r'<input type="text" id="calendar-url" value="([^"]+)"', response.content.decode()
    )
    assert match, "the page shows no calendar address"
    return match.group(1)


def test_the_page_asks_visitors_to_log_in(client, db):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_the_page_offers_a_calendar_link_without_making_one(logged_in, client_user):
    response = logged_in.get(PAGE)

    assert response.status_code == 200
    assert b'name="calendar-create"' in response.content
    assert not CalendarFeed.objects.filter(client=client_user).exists()


def test_creating_the_link_shows_it_labelled_and_it_can_be_seen_again(
    logged_in, client_user, settings
):
    settings.BASE_URL = "https://kap.example.org"

    response = logged_in.post(PAGE, {"calendar-create": "1"})

    assert response.status_code == 302
    feed = CalendarFeed.objects.get(client=client_user)
    page = logged_in.get(PAGE)
    assert _shown_url(page) == f"https://kap.example.org/calendar/{feed.token}.ics"
    assert b'<label for="calendar-url">' in page.content
    assert f"webcal://kap.example.org/calendar/{feed.token}.ics".encode() in page.content
    assert _shown_url(logged_in.get(PAGE)) == _shown_url(page)


def test_resetting_the_link_stops_the_old_one(logged_in, client_user):
    old = reminders.reset_feed(client=client_user)

    response = logged_in.post(PAGE, {"calendar-reset": "1"})

    assert response.status_code == 302
    new = CalendarFeed.objects.get(client=client_user)
    assert new.token != old.token
    assert logged_in.get(f"/calendar/{old.token}.ics").status_code == 404
    assert logged_in.get(f"/calendar/{new.token}.ics").status_code == 200
    assert new.token in _shown_url(logged_in.get(PAGE))


def test_the_link_can_be_turned_off(logged_in, client_user):
    feed = reminders.reset_feed(client=client_user)

    logged_in.post(PAGE, {"calendar-stop": "1"})

    assert not CalendarFeed.objects.filter(client=client_user).exists()
    assert logged_in.get(f"/calendar/{feed.token}.ics").status_code == 404


def test_someone_else_never_sees_my_link(client, client_user, stranger, guide):
    mine = reminders.reset_feed(client=client_user)
    client.force_login(stranger)

    response = client.get(PAGE)

    assert mine.token not in response.content.decode()


@pytest.mark.parametrize("email_enabled", [True, False])
def test_the_settings_are_saved(logged_in, client_user, settings, email_enabled):
    settings.SMTP_HOST = "smtp.example.org"
    data = {"include_clinician": "on", "settings-save": "1"}
    if email_enabled:
        data["email_enabled"] = "on"

    response = logged_in.post(PAGE, data)

    assert response.status_code == 302
    pref = ReminderPreference.objects.get(client=client_user)
    assert pref.include_clinician is True
    assert pref.email_enabled is email_enabled


def test_email_cannot_be_turned_on_when_the_server_has_no_email(logged_in, client_user, settings):
    settings.SMTP_HOST = ""

    page = logged_in.get(PAGE).content.decode()
    logged_in.post(PAGE, {"email_enabled": "on", "settings-save": "1"})

    assert "E-mail is not set up here" in page
    assert ReminderPreference.objects.get(client=client_user).email_enabled is False


def test_both_are_off_until_the_person_turns_them_on(logged_in, client_user, settings):
    settings.SMTP_HOST = "smtp.example.org"

    html = logged_in.get(PAGE).content.decode()

    assert re.search(r'<input type="checkbox" name="email_enabled"(?![^>]*checked)[^>]*>', html)
    assert re.search(r'<input type="checkbox" name="include_clinician"(?![^>]*checked)[^>]*>', html)
    assert not ReminderPreference.objects.filter(client=client_user).exists()


def test_without_kap_base_url_the_address_is_the_one_the_person_is_using(
    logged_in, client_user, settings
):
    settings.BASE_URL = "http://127.0.0.1:8000"  # the default: not where this server is reached
    settings.ALLOWED_HOSTS = ["kap.lan"]
    feed = reminders.reset_feed(client=client_user)

    page = logged_in.get(PAGE, HTTP_HOST="kap.lan:8123")

    assert _shown_url(page) == f"http://kap.lan:8123/calendar/{feed.token}.ics"
    assert f'href="webcal://kap.lan:8123/calendar/{feed.token}.ics"'.encode() in page.content
    assert b"127.0.0.1:8000" not in page.content
    # Beside it, a Copy button (shown by copy.js) that says what it copies.
    assert b'data-copy="calendar-url" hidden>Copy<span class="visually-hidden"> your calendar' in (
        page.content
    )


def test_the_feeds_links_go_back_to_the_address_the_calendar_app_was_given(
    client, client_user, make_session, settings
):
    settings.BASE_URL = "http://127.0.0.1:8000"
    settings.ALLOWED_HOSTS = ["kap.lan"]
    session = make_session(client_user, hours_from_now=30)
    feed = reminders.reset_feed(client=client_user)

    ics = client.get(f"/calendar/{feed.token}.ics", HTTP_HOST="kap.lan:8123").content.decode()

    assert f"URL:http://kap.lan:8123/sessions/{session.pk}/" in ics.replace("\r\n ", "")
    assert "127.0.0.1:8000" not in ics


def test_kap_base_url_when_set_is_used_whatever_host_the_request_names(
    logged_in, client_user, settings
):
    settings.BASE_URL = "https://kap.example.org"
    settings.ALLOWED_HOSTS = ["kap.lan", "kap.example.org"]
    feed = reminders.reset_feed(client=client_user)

    page = logged_in.get(PAGE, HTTP_HOST="kap.lan:8123")

    assert _shown_url(page) == f"https://kap.example.org/calendar/{feed.token}.ics"
