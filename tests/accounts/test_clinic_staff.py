"""A clinic admin adds another admin and resets a colleague's second factor, on the clinic page;
both are audited, and only an admin of the same clinic may do them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kap.accounts.models import Clinic, Role, User
from kap.care.models import AuditEntry
from tests.security.support import verified_test_client

NEW_PASSWORD = "a slow walk along the river"


@pytest.fixture
def lakeside(db):
    return Clinic.objects.create(name="Lakeside Clinic")


@pytest.fixture
def hill(db):
    return Clinic.objects.create(name="Hill Clinic")


def staff(email, role, clinic, *, factor=True):
    user = User.objects.create_user(email, None, role=role, clinic=clinic, display_name=email[:3])
    if factor:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
        static = StaticDevice.objects.create(user=user, name="Recovery codes")
        StaticToken.objects.create(device=static, token="abcdef1234")
        user.device = device
    return user


@pytest.fixture
def admin(lakeside, guide):
    return staff("pat@lakeside.example", Role.ADMIN, lakeside)


@pytest.fixture
def therapist(lakeside):
    return staff("lee@lakeside.example", Role.THERAPIST, lakeside)


@pytest.fixture
def as_admin(admin):
    return verified_test_client(admin, admin.device)


def test_the_clinic_page_lists_admins_and_second_factors(as_admin, admin, therapist, lakeside):
    staff("new@lakeside.example", Role.THERAPIST, lakeside, factor=False)
    page = as_admin.get("/care/clinic/").content.decode()
    assert "Admins and second factors" in page
    assert 'action="/care/clinic/admins/add/"' in page
    assert f'action="/care/clinic/staff/{therapist.pk}/second-factor/reset/"' in page
    assert f"/care/clinic/staff/{admin.pk}/second-factor/reset/" not in page  # not for oneself
    assert "Not set up yet" in page
    assert "I checked that it is really" in page


def test_an_admin_adds_another_admin_of_their_clinic(client, as_admin, admin, lakeside):
    response = as_admin.post(
        "/care/clinic/admins/add/", {"email": "Sam@Lakeside.example", "display_name": "Sam"}
    )
    assert response.status_code == 200
    added = User.objects.get(email="sam@lakeside.example")
    assert (added.role, added.clinic, added.display_name) == (Role.ADMIN, lakeside, "Sam")
    assert not added.has_usable_password()
    entry = AuditEntry.objects.get(subject=added)
    assert (entry.actor, entry.action) == (admin, "add admin")

    # The one-time link, shown once, lets them choose a password.
    url = re.search(r"http://[^<\s]+/reset/[^<\s]+/", response.content.decode()).group(0)
    page = client.get(urlsplit(url).path, follow=True)
    client.post(
        page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    added.refresh_from_db()
    assert added.check_password(NEW_PASSWORD)
    # ... and they are listed on the clinic page.
    assert "sam@lakeside.example" in as_admin.get("/care/clinic/").content.decode()


@pytest.mark.parametrize(
    "email, message", [("pat@lakeside.example", "already exists"), ("nope", "valid email")]
)
def test_adding_an_admin_refuses_bad_input_and_changes_nothing(as_admin, email, message):
    before = User.objects.count()
    response = as_admin.post("/care/clinic/admins/add/", {"email": email})
    assert response.status_code == 400
    assert message in str(response.context["form"].errors["email"])
    assert User.objects.count() == before
    assert not AuditEntry.objects.exists()


def test_an_admin_resets_a_therapists_second_factor_and_it_is_audited(as_admin, admin, therapist):
    as_therapist = verified_test_client(therapist, therapist.device)
    assert as_therapist.get("/care/").status_code == 200

    url = f"/care/clinic/staff/{therapist.pk}/second-factor/reset/"
    response = as_admin.post(url, {"confirm": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=therapist).exists()
    assert not StaticDevice.objects.filter(user=therapist).exists()
    assert not StaticToken.objects.filter(device__user=therapist).exists()
    entry = AuditEntry.objects.get(subject=therapist)
    assert (entry.actor, entry.action, entry.what) == (
        admin,
        "reset second factor",
        "second factor",
    )

    # The therapist's open session is ended: whoever holds it (a stolen or forgotten login) is
    # sent to the login page, not to enrolling an authenticator of their own.
    response = as_therapist.get("/care/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert as_therapist.get("/account/two-factor/").status_code == 302
    assert not TOTPDevice.objects.filter(user=therapist).exists()
    assert "logged out everywhere" in as_admin.get("/care/clinic/").content.decode()

    # With the password, their next page asks for a new authenticator app.
    therapist.set_password(NEW_PASSWORD)
    therapist.save()
    response = as_therapist.post("/login/", {"username": therapist.email, "password": NEW_PASSWORD})
    assert response.status_code == 302
    response = as_therapist.get("/care/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")
    setup = as_therapist.get(response["Location"]).content.decode()
    assert "authenticator" in setup.lower()
    assert TOTPDevice.objects.filter(user=therapist, confirmed=False).exists()


def test_without_the_confirmation_nothing_is_reset(as_admin, therapist):
    response = as_admin.post(f"/care/clinic/staff/{therapist.pk}/second-factor/reset/")
    assert response.status_code == 302
    assert TOTPDevice.objects.filter(user=therapist, confirmed=True).exists()
    assert not AuditEntry.objects.exists()
    assert "Nothing was changed" in as_admin.get("/care/clinic/").content.decode()


def test_an_admin_of_the_same_clinic_may_reset_another_admin_but_not_themselves(
    as_admin, admin, lakeside
):
    other = staff("sam@lakeside.example", Role.ADMIN, lakeside)
    url = "/care/clinic/staff/{}/second-factor/reset/"
    assert as_admin.post(url.format(admin.pk), {"confirm": "yes"}).status_code == 403
    assert TOTPDevice.objects.filter(user=admin).exists()
    assert as_admin.post(url.format(other.pk), {"confirm": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(user=other).exists()


def test_another_clinics_admin_gets_403_and_changes_nothing(admin, therapist, hill):
    stranger = staff("kim@hill.example", Role.ADMIN, hill)
    as_stranger = verified_test_client(stranger, stranger.device)
    url = f"/care/clinic/staff/{therapist.pk}/second-factor/reset/"
    assert as_stranger.post(url, {"confirm": "yes"}).status_code == 403
    assert (
        as_stranger.post(
            url.replace(str(therapist.pk), str(admin.pk)), {"confirm": "yes"}
        ).status_code
        == 403
    )
    assert TOTPDevice.objects.filter(user=therapist).exists()
    assert not AuditEntry.objects.exists()
    # An admin they add is of their own clinic, whatever they send.
    as_stranger.post("/care/clinic/admins/add/", {"email": "x@example.com", "clinic": "1"})
    assert User.objects.get(email="x@example.com").clinic == hill


@pytest.mark.parametrize("role", [Role.THERAPIST, Role.CLIENT])
def test_therapists_and_clients_do_not_find_these_actions(client, admin, therapist, lakeside, role):
    if role == Role.THERAPIST:
        http = verified_test_client(therapist, therapist.device)
        target = admin
    else:
        alex = User.objects.create_user("alex@example.com", None)
        http = client
        http.force_login(alex)
        target = therapist
    url = f"/care/clinic/staff/{target.pk}/second-factor/reset/"
    assert http.post(url, {"confirm": "yes"}).status_code == 404
    assert http.post("/care/clinic/admins/add/", {"email": "x@example.com"}).status_code == 404
    assert TOTPDevice.objects.filter(user=target).exists()
    assert not User.objects.filter(email="x@example.com").exists()
