"""Sign-up, first run, login, logout and password change."""

import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from kap.accounts.models import Clinic, User
from kap.cli import main
from tests.conftest import PASSWORD


def signup_data(**over):
    data = {
        "display_name": "Robin",
        "email": "robin@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(over)
    return data


@pytest.mark.django_db
def test_first_run_home_offers_the_set_up_with_its_code(client, guide):
    body = client.get("/").content.decode()
    assert 'href="/setup/"' in body
    assert "set-up code printed on the server's console" in body


@pytest.mark.django_db
def test_the_first_sign_up_is_a_client_even_when_it_asks_to_be_an_admin(client, guide):
    # The first admin comes from /setup/ (a code from the server's console), never from here.
    response = client.post("/signup/", signup_data(role="admin"))
    assert response.status_code == 302
    user = User.objects.get()
    assert (user.role, user.clinic) == ("client", None)
    assert user.password.startswith("argon2$")


@pytest.mark.django_db
def test_later_sign_ups_are_always_clients(client, make_user, guide):
    make_user("first@example.com", role="admin")
    assert "Create the first account" not in client.get("/").content.decode()
    response = client.post("/signup/", signup_data(role="admin"))
    assert response.status_code == 302
    assert User.objects.get(email="robin@example.com").role == "client"
    # and they are logged in: offered the first steps once (tests/accounts/test_onboarding.py),
    # then on the Today page
    assert client.get("/")["Location"] == "/welcome/"
    client.get("/welcome/")
    assert "Hello, Robin" in client.get("/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "over, field, message",
    [
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"password2": "something else entirely"}, "password2", "not the same"),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_sign_up_refuses_bad_input_next_to_the_field(client, guide, over, field, message):
    response = client.post("/signup/", signup_data(**over))
    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    body = response.content.decode()
    assert f'id="id_{field}_error"' in body
    assert 'value="Robin"' in body  # what the person typed is kept
    assert not User.objects.exists()


@pytest.mark.django_db
def test_sign_up_returns_to_where_the_person_came_from_but_only_on_this_site(
    client, make_user, guide
):
    make_user("first@example.com", role="admin")
    page = client.get("/signup/?next=/invite/ABCD-EFGH/").content.decode()
    assert 'name="next" value="/invite/ABCD-EFGH/"' in page

    response = client.post("/signup/", signup_data(next="/invite/ABCD-EFGH/"))
    assert response["Location"] == "/invite/ABCD-EFGH/"

    client.logout()
    response = client.post(
        "/signup/", signup_data(email="sam@example.com", next="https://evil.example/")
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_sign_up_refuses_an_email_already_used(client, make_user, guide):
    make_user("robin@example.com")
    response = client.post("/signup/", signup_data(email="ROBIN@example.com"))
    assert "already exists" in str(response.context["form"].errors["email"])
    assert User.objects.count() == 1


@pytest.mark.django_db
@override_settings(OPEN_SIGNUP=False)
def test_sign_up_can_be_closed_after_the_first_account(client, make_user, guide):
    make_user("first@example.com", role="admin")
    assert client.get("/signup/").status_code == 404


@pytest.mark.django_db
def test_login_and_logout(client, client_user, guide):
    response = client.post("/login/", {"username": "ALEX@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 200
    client.post("/logout/")
    assert client.get("/account/").status_code == 302


@pytest.mark.django_db
def test_login_with_a_wrong_password_says_so(client, client_user, guide):
    response = client.post("/login/", {"username": "alex@example.com", "password": "nope"})
    assert response.status_code == 200
    assert "do not match an account" in response.content.decode()


@pytest.mark.django_db
def test_password_change(logged_in, client_user):
    new = "another quiet morning by the sea"
    response = logged_in.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.check_password(new)
    # still logged in on this device
    assert logged_in.get("/account/").status_code == 200


@pytest.mark.django_db
def test_password_change_refuses_a_wrong_old_password(logged_in, client_user):
    response = logged_in.post(
        "/account/password/",
        {"old_password": "wrong", "new_password1": "x" * 12, "new_password2": "x" * 12},
    )
    assert response.status_code == 200
    client_user.refresh_from_db()
    assert client_user.check_password(PASSWORD)


@pytest.mark.django_db
def test_account_settings_save_the_region(logged_in, client_user):
    response = logged_in.post("/account/", {"display_name": "Alex", "region": "GB"})
    assert response.status_code == 302
    client_user.refresh_from_db()
    assert client_user.region == "GB"


@pytest.mark.django_db
def test_account_settings_refuse_an_unknown_region(logged_in, client_user):
    response = logged_in.post("/account/", {"display_name": "Alex", "region": "ZZ"})
    assert response.status_code == 200
    client_user.refresh_from_db()
    assert client_user.region == ""


@pytest.mark.django_db
def test_kap_users_add_reads_the_password_from_stdin(monkeypatch, capsys):
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    assert (
        main(
            [
                "users",
                "add",
                "Dr.Lee@Example.com",
                "--role",
                "therapist",
                "--clinic",
                "Lakeside Clinic",
            ]
        )
        == 0
    )
    user = User.objects.get()
    assert (user.email, user.role, user.clinic) == ("dr.lee@example.com", "therapist", clinic)
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_kap_users_add_refuses_a_common_password(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("password\n"))
    assert main(["users", "add", "x@example.com"]) == 1
    assert "password refused" in capsys.readouterr().err
    assert not User.objects.exists()


def test_the_kap_command_is_installed_in_the_virtual_environment():
    kap = Path(sys.executable).parent / "kap"
    out = subprocess.run([str(kap), "--help"], capture_output=True, text=True, check=True)
    for word in ("serve", "content", "users"):
        assert word in out.stdout
