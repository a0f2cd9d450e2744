"""Setting up: `kap clinic create`, `kap users add --clinic`, and the first-run web set-up that
only the person at the server's console can do (a one-time set-up code)."""

from __future__ import annotations

import io
import re
import sys
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from kap.accounts import setup_code
from kap.accounts.models import Clinic, Role, SetupCode, User
from kap.accounts.views_setup import WRONG_CODES_PER_HOUR
from kap.cli import main
from tests.conftest import PASSWORD

NEW_PASSWORD = "a slow walk along the river"


def printed_link(text: str) -> str:
    """The path of the one-time link in what a command printed."""
    url = re.search(r"https?://\S+/reset/\S+/", text).group(0)
    return urlsplit(url).path


def setup_data(code: str, **over) -> dict:
    data = {
        "code": code,
        "clinic_name": "Lakeside Clinic",
        "display_name": "Pat",
        "email": "pat@lakeside.example",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "time_zone": "Europe/Paris",
    }
    data.update(over)
    return data


# --- kap clinic create --------------------------------------------------------------------------


@pytest.mark.django_db
def test_kap_clinic_create_makes_the_clinic_and_its_admin_with_a_one_time_link(client, capsys):
    assert main(["clinic", "create", "Lakeside Clinic", "--admin", "Pat@Lakeside.example"]) == 0
    out = capsys.readouterr().out
    clinic = Clinic.objects.get()
    admin = User.objects.get()
    assert clinic.name == "Lakeside Clinic"
    assert (admin.email, admin.role, admin.clinic) == ("pat@lakeside.example", Role.ADMIN, clinic)
    assert not admin.has_usable_password()
    assert "works once, for 3 days" in out

    # The link: Django's reset page moves the token out of the URL, then takes a password.
    link = printed_link(out)
    form_page = client.get(link, follow=True)
    assert "Choose a password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)

    # Once only.
    again = client.get(link, follow=True).content.decode()
    assert "This link no longer works" in again


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv, message",
    [
        (["clinic", "create", "   ", "--admin", "pat@lakeside.example"], "the clinic needs a name"),
        (["clinic", "create", "Lakeside", "--admin", "not-an-address"], "is not an e-mail address"),
        (["clinic", "create", "Lakeside", "--admin", "Taken@Example.com"], "already exists"),
        (["clinic", "create", "L" * 201, "--admin", "pat@lakeside.example"], "longer than 200"),
    ],
)
def test_kap_clinic_create_refuses_bad_input_and_changes_nothing(make_user, capsys, argv, message):
    make_user("taken@example.com")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "nothing was changed" in err
    assert not Clinic.objects.exists()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_kap_users_add_puts_staff_in_a_clinic_by_id_or_name(monkeypatch, capsys):
    lakeside = Clinic.objects.create(name="Lakeside Clinic")
    hill = Clinic.objects.create(name="Hill Clinic")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "a@example.com", "--role", "admin", "--clinic", str(hill.pk)]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            ["users", "add", "t@example.com", "--role", "therapist", "--clinic", "lakeside clinic"]
        )
        == 0
    )
    assert User.objects.get(email="a@example.com").clinic == hill
    assert User.objects.get(email="t@example.com").clinic == lakeside


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["users", "add", "t@example.com", "--role", "therapist"],
            "belongs to a clinic: add --clinic",
        ),
        (
            ["users", "add", "a@example.com", "--role", "admin", "--clinic", "Nowhere"],
            "no clinic 'Nowhere'",
        ),
        (
            ["users", "add", "c@example.com", "--clinic", "Lakeside Clinic"],
            "clients belong to no clinic",
        ),
    ],
)
def test_kap_users_add_refuses_staff_without_a_clinic(monkeypatch, capsys, argv, message):
    Clinic.objects.create(name="Lakeside Clinic")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not User.objects.exists()


# --- The set-up code ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_code_is_issued_only_while_no_account_exists(make_user):
    code = setup_code.issue_if_needed()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    stored = SetupCode.objects.get()
    assert code.replace("-", "") not in stored.code_hash  # only a hash is kept
    assert setup_code.is_valid(code.lower().replace("-", " "))  # as a person might type it
    make_user("someone@example.com")
    assert setup_code.issue_if_needed() is None


@pytest.mark.django_db
def test_kap_setup_prints_the_code_and_the_address_then_stops_once_an_account_exists(make_user):
    out = io.StringIO()
    with override_settings(BASE_URL="https://kap.example.org"):
        call_command("kap_setup", stdout=out)
    text = out.getvalue()
    assert "https://kap.example.org/setup/" in text
    code = re.search(r"set-up code: (\S+)", text).group(1)
    assert setup_code.is_valid(code)

    out = io.StringIO()
    call_command("kap_setup", "--no-setup-code", stdout=out)
    assert "set-up code" not in out.getvalue()

    make_user("someone@example.com")
    out = io.StringIO()
    call_command("kap_setup", stdout=out)
    assert "set-up code" not in out.getvalue()


@pytest.mark.django_db
def test_kap_serve_prints_the_code_with_the_address_it_serves(monkeypatch, capsys):
    from gunicorn.app.wsgiapp import WSGIApplication

    monkeypatch.delenv("KAP_BASE_URL", raising=False)
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # _serve hands gunicorn its own argv
    monkeypatch.setattr(WSGIApplication, "run", lambda self: None)
    assert main(["serve", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/setup/" in out
    codes = re.findall(r"set-up code: (\S+)", out)
    assert len(codes) == 1  # kap setup, run first by kap serve, prints none of its own
    assert setup_code.is_valid(codes[0])


# --- /setup/ ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_set_up_creates_the_clinic_and_its_admin_with_the_code(client, guide):
    code = setup_code.issue_if_needed()
    page = client.get("/setup/").content.decode()
    assert "Set-up code" in page and 'name="clinic_name"' in page

    response = client.post("/setup/", setup_data(code))
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/?next=/care/clinic/"
    clinic = Clinic.objects.get()
    admin = User.objects.get()
    assert clinic.name == "Lakeside Clinic"
    assert (admin.email, admin.role, admin.clinic) == ("pat@lakeside.example", Role.ADMIN, clinic)
    assert admin.check_password(PASSWORD)
    assert admin.time_zone == "Europe/Paris"
    assert not SetupCode.objects.exists()  # every code is gone
    # Logged in: the next step is the second factor.
    assert "authenticator" in client.get(response["Location"]).content.decode().lower()


@pytest.mark.django_db
@pytest.mark.parametrize("wrong", ["", "ABCD-EFGH-JKMN", "expired"])
def test_without_a_valid_code_nothing_is_created(client, guide, wrong):
    code = setup_code.issue_if_needed()
    if wrong == "expired":
        SetupCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        wrong = code
    response = client.post("/setup/", setup_data(wrong))
    assert response.status_code == 200
    errors = str(response.context["form"].errors["code"])
    assert "not right, or it has expired" in errors or "required" in errors
    assert 'id="id_code_error"' in response.content.decode()
    assert not User.objects.exists()
    assert not Clinic.objects.exists()


@pytest.mark.django_db
def test_a_code_works_once(client, guide):
    code = setup_code.issue_if_needed()
    assert client.post("/setup/", setup_data(code)).status_code == 302
    client.logout()
    response = client.post("/setup/", setup_data(code, email="sam@example.com", clinic_name="Hill"))
    assert response.status_code == 302
    assert response["Location"] == "/login/"  # the installation is set up: no page any more
    assert list(User.objects.values_list("email", flat=True)) == ["pat@lakeside.example"]
    assert Clinic.objects.count() == 1
    assert setup_code.issue_if_needed() is None  # and no new code is printed


@pytest.mark.django_db
def test_two_printed_codes_make_one_installation(client, guide):
    first, second = setup_code.issue_if_needed(), setup_code.issue_if_needed()
    assert client.post("/setup/", setup_data(second)).status_code == 302
    from django.db import transaction

    with transaction.atomic():
        assert setup_code.use(first) is False
    assert Clinic.objects.count() == 1


@pytest.mark.django_db
def test_wrong_codes_are_throttled_by_client_address(client, guide):
    code = setup_code.issue_if_needed()
    for _ in range(WRONG_CODES_PER_HOUR):
        assert client.post("/setup/", setup_data("WRONG-CODE-0000")).status_code == 200
    response = client.post("/setup/", setup_data(code))
    assert response.status_code == 429
    assert "Too many wrong set-up codes" in response.content.decode()
    assert not User.objects.exists()
    # Another address is not held back.
    assert client.post("/setup/", setup_data(code), REMOTE_ADDR="192.0.2.7").status_code == 302


@pytest.mark.django_db
def test_the_set_up_is_gone_once_an_account_exists(client, make_user, guide):
    make_user("first@example.com")
    response = client.get("/setup/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"


# --- Public sign-up -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_public_sign_up_never_offers_or_makes_an_admin(client, guide):
    page = client.get("/signup/").content.decode()
    assert "Who is this for?" not in page
    assert "setting it up" not in page
    assert 'name="role"' not in page
    response = client.post(
        "/signup/",
        {
            "display_name": "Robin",
            "email": "robin@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "role": "admin",
            "clinic": "1",
        },
    )
    assert response.status_code == 302
    user = User.objects.get()
    assert (user.role, user.clinic) == (Role.CLIENT, None)


@pytest.mark.django_db
@override_settings(OPEN_SIGNUP=False)
def test_with_sign_up_closed_the_first_run_is_only_the_set_up(client, guide):
    assert client.get("/signup/").status_code == 404
    home = client.get("/").content.decode()
    assert 'href="/setup/"' in home
    assert "Using it for yourself?" not in home
