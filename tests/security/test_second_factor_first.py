"""A therapist's or admin's password alone changes nothing (issue 16, item 4).

Found by the second security review: a session that had given the password but not yet the
second factor could change the account's password and name. Now, until the second factor is
given in the session, every request but GET and HEAD from a therapist or clinic admin is refused
before its view runs (kap.accounts.middleware.SecondFactorMiddleware), but for the two-factor
page and logging out.

The URLConf is walked (tests/security/support.py), so a route added later is covered without
touching this file: each is POSTed, as an unverified therapist and as an unverified admin, with
fields that would be accepted where they fit (a new name, the right current password and a new
one, ...), and must answer with the two-factor page (or a 403 for a background request) and
change no table.
"""

from __future__ import annotations

import hashlib

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD
from tests.security.support import build_world, concrete_urls, totp_code, walk

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long walk by the harbour at dusk"
# What a form of the app would accept, where it fits: the settings page, the password change,
# sign-up and login, a note, an invitation.
FIELDS = {
    "display_name": "Changed by a password alone",
    "region": "",
    "time_zone": "Europe/Paris",
    "old_password": PASSWORD,
    "new_password1": NEW_PASSWORD,
    "new_password2": NEW_PASSWORD,
    "email": "someone.new@example.com",
    "password1": NEW_PASSWORD,
    "password2": NEW_PASSWORD,
    "username": "dr.lee@example.com",
    "password": PASSWORD,
    "text": "A note written on a password alone",
    "note": "A note written on a password alone",
    "name": "A new clinic name",
    "emails": "new.person@example.com",
    "active": "false",
}
# May be sent before the second factor (and are tested below on their own).
BEFORE_SECOND_FACTOR = {"two-factor", "logout"}
# Answered before any session is read (kap.ops.middleware.ProbeMiddleware): they know no one.
PROBES = {"ops:healthz", "ops:readyz"}
# Written by design on any request: the session itself, the sign-in throttle's records, and the
# audit trail of reads.
IGNORED = ("django_session", "django_migrations", "axes_", "care_auditentry")


def snapshot() -> dict[str, str]:
    """A digest of every row of every table but the IGNORED ones."""
    qn = connection.ops.quote_name
    tables = sorted(t for t in connection.introspection.table_names() if not t.startswith(IGNORED))
    out = {}
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {qn(table)}")  # noqa: S608 (names from Django)
            rows = sorted(repr(row) for row in cursor.fetchall())
            out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def changed(before: dict, after: dict) -> list[str]:
    return sorted(t for t in after if before.get(t) != after[t])


@pytest.fixture
def world(guide):
    return build_world(["An insight"], "A longer reflection.\nA second line.")


def password_only(user) -> Client:
    """Logged in with the password, the second factor not given yet."""
    c = Client()
    c.force_login(user)
    return c


def verified(user, device) -> Client:
    c = password_only(user)
    response = c.post("/account/two-factor/", {"code": totp_code(device), "next": "/"})
    assert response.status_code == 302, response.content.decode()[:500]
    return c


def sends_to_two_factor(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/account/two-factor/")


def routes(world) -> list[tuple[str, str]]:
    out = []
    for name, route in walk():
        urls = concrete_urls(route, world)
        if urls:
            out.append((name, urls[0]))
    return out


@pytest.mark.parametrize("persona", ["therapist", "admin"])
def test_a_password_alone_changes_nothing_anywhere(world, persona):
    user = getattr(world, persona)
    browser = password_only(user)
    checked, wrong = 0, []
    for name, url in routes(world):
        if name in BEFORE_SECOND_FACTOR:
            continue
        before = snapshot()
        response = browser.post(url, FIELDS)
        after = snapshot()
        if changed(before, after):
            wrong.append(f"POST {url} ({name}) wrote to {changed(before, after)}")
        if name in PROBES:
            continue
        checked += 1
        if not (sends_to_two_factor(response) or response.status_code == 403):
            wrong.append(f"POST {url} ({name}) answered {response.status_code}")
    assert wrong == [], "\n".join(wrong)
    assert checked > 60
    user.refresh_from_db()
    assert user.display_name != FIELDS["display_name"]
    assert user.check_password(PASSWORD)
    assert not user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("persona", ["therapist", "admin"])
def test_the_settings_and_the_password_wait_for_the_second_factor(world, persona):
    user = getattr(world, persona)
    name = user.display_name
    browser = password_only(user)
    page = browser.get("/account/")
    assert page.status_code == 200
    assert "first <a href" in page.content.decode()  # finish two-step login first

    response = browser.post(
        "/account/", {"display_name": "Someone else"}, HTTP_REFERER="http://testserver/account/"
    )
    assert response["Location"] == "/account/two-factor/?next=/account/"
    followed = browser.get(response["Location"])
    assert "Please finish two-step login first. Nothing was changed." in followed.content.decode()
    response = browser.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert sends_to_two_factor(response)
    user.refresh_from_db()
    assert (user.display_name, user.check_password(PASSWORD)) == (name, True)

    # Once the second factor is given, both work.
    browser = verified(user, world.devices[user.email])
    assert browser.post("/account/", {"display_name": "Dr Lee Jr"})["Location"] == "/account/"
    response = browser.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response["Location"] == "/account/password/done/"
    user.refresh_from_db()
    assert (user.display_name, user.check_password(NEW_PASSWORD)) == ("Dr Lee Jr", True)


def test_a_background_save_is_refused_with_a_403(world):
    browser = password_only(world.therapist)
    response = browser.post("/account/", {"display_name": "x"}, HTTP_X_KAP_BACKGROUND="1")
    assert response.status_code == 403
    assert response.json()["status"] == "second-factor"


def test_the_two_factor_page_and_logging_out_work_before_the_second_factor(world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a right code straight after a wrong one
    therapist = world.therapist
    browser = password_only(therapist)
    wrong = browser.post("/account/two-factor/", {"code": "000000", "next": "/"})
    assert wrong.status_code == 200
    assert "That code did not work" in wrong.content.decode()
    device = world.devices[therapist.email]
    right = browser.post("/account/two-factor/", {"code": totp_code(device), "next": "/care/"})
    assert right["Location"] == "/care/"
    assert browser.get("/care/").status_code == 200

    browser = password_only(therapist)
    assert browser.post("/logout/").status_code == 302
    assert "_auth_user_id" not in browser.session


def test_setting_up_the_second_factor_works_before_it(world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin = world.admin
    TOTPDevice.objects.filter(user=admin).delete()
    browser = password_only(admin)
    assert "Set up" in browser.get("/account/two-factor/").content.decode()
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    response = browser.post("/account/two-factor/", {"code": totp_code(device), "next": "/"})
    assert response.status_code == 200
    assert "recovery" in response.content.decode().lower()
    device.refresh_from_db()
    assert device.confirmed


def test_clients_are_not_asked_for_a_second_factor(world):
    browser = password_only(world.client)
    assert browser.post("/account/", {"display_name": "Alexa"})["Location"] == "/account/"
    world.client.refresh_from_db()
    assert world.client.display_name == "Alexa"
