"""Each person's time zone: from the browser at sign-up, changeable on the account page, and used
for the times they are shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kap.accounts.models import User
from kap.journal.models import KapSession
from tests.conftest import PASSWORD


def signup(client, **over):
    data = {
        "display_name": "Robin",
        "email": "robin@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    return client.post("/signup/", {**data, **over})


@pytest.mark.django_db
def test_sign_up_keeps_the_browsers_time_zone(client, guide):
    page = client.get("/signup/").content.decode()
    assert '<input type="hidden" name="time_zone" data-browser-time-zone' in page
    assert '<script src="/static/kap/timezone.js" defer></script>' in page
    assert signup(client, time_zone="America/New_York").status_code == 302
    assert User.objects.get().time_zone == "America/New_York"


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["Mars/Olympus_Mons", "localtime", "", "x" * 500])
def test_an_unknown_time_zone_is_ignored_and_the_account_still_made(client, guide, sent):
    assert signup(client, time_zone=sent).status_code == 302
    assert User.objects.get().time_zone == ""


@pytest.mark.django_db
def test_the_account_page_changes_it(logged_in, client_user):
    page = logged_in.get("/account/").content.decode()
    assert '<select name="time_zone"' in page
    assert '<option value="Asia/Tokyo">Asia/Tokyo</option>' in page
    response = logged_in.post("/account/", {"display_name": "Alex", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.time_zone == "Asia/Tokyo"
    assert '<option value="Asia/Tokyo" selected>' in logged_in.get("/account/").content.decode()

    # Back to the server's.
    logged_in.post("/account/", {"display_name": "Alex", "time_zone": ""})
    client_user.refresh_from_db()
    assert client_user.time_zone == ""


@pytest.mark.django_db
def test_the_account_page_refuses_an_unknown_time_zone(logged_in, client_user):
    response = logged_in.post("/account/", {"display_name": "Alex", "time_zone": "Mars/Base"})
    assert response.status_code == 200
    assert "time_zone" in response.context["form"].errors
    client_user.refresh_from_db()
    assert client_user.time_zone == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    "zone, shown",
    [("Asia/Tokyo", "21:00"), ("America/New_York", "07:00"), ("", "12:00")],
)
def test_times_are_shown_in_the_persons_time_zone(logged_in, client_user, settings, zone, shown):
    settings.TIME_ZONE = "UTC"
    client_user.time_zone = zone
    client_user.save()
    KapSession.objects.create(
        client=client_user, starts_at=datetime(2031, 1, 15, 12, 0, tzinfo=UTC), status="planned"
    )
    page = logged_in.get("/sessions/").content.decode()
    assert f"15 January 2031, {shown}" in page
