"""Sign-up tells no one whether an address has an account (issue 16, item 8).

Found by the second security review: sign-up answered "An account with this email address
already exists", so anyone could test addresses. On a server that sends e-mail, sign-up now
answers "check your e-mail" whatever the address: a new address gets a link to choose a password
(nobody can log in before), an address already in use gets a discreet note to its holder.
Without a mail server the account is opened at once, so there the form still says so
(tests/test_accounts.py).
"""

from __future__ import annotations

import re
import socket
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import override_settings

from kap.accounts.models import Clinic, User
from kap.content.models import Instrument
from tests.conftest import PASSWORD
from tests.hashers import CheapArgon2PasswordHasher

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
NEW_PASSWORD = "a slow walk along the river"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("guide")]


@pytest.fixture(autouse=True)
def mail_server(settings):
    settings.MAILERS = LOCMEM
    settings.BASE_URL = "https://care.example.org"
    settings.DEFAULT_FROM_EMAIL = "Anything <noreply@care.example.org>"
    settings.MAIL_NAME = "Quiet Notes"


def sign_up(client, email: str, name: str = "Robin", **extra):
    data = {"display_name": name, "email": email, "time_zone": "Europe/Paris"}
    return client.post("/signup/", data, **extra)


def page_text(client, url: str) -> str:
    """What a visitor reads on the page (the per-response CSP nonce and CSRF token aside)."""
    body = client.get(url).content.decode()
    return re.sub(r'(nonce|value)="[^"]*"', "", body)


def link_in(message) -> str:
    url = re.search(r"https://care\.example\.org/reset/\S+/", message.body).group(0)
    return urlsplit(url).path


def discreet(message) -> set[str]:
    everything = f"{message.subject}\n{message.from_email}\n{message.body}".lower()
    words = {"ketamine", "kap", "psychedelic", "phq", "gad", "companion"}
    words |= {i.key.lower() for i in Instrument.objects.all()}
    words |= {i.title.lower() for i in Instrument.objects.all() if i.title}
    return {w for w in words if re.search(rf"\b{re.escape(w)}\b", everything)}


@pytest.fixture
def robin(make_user):
    return make_user("robin@example.com", display_name="Robin")


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(client, robin):
    taken = sign_up(client, "ROBIN@example.com", name="Someone else")
    new = sign_up(client, "sam@example.com", name="Sam")
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert (new.status_code, new["Location"]) == (302, "/signup/?sent")
    page = page_text(client, new["Location"])
    assert "Check your e-mail" in page
    assert "already exists" not in page
    assert "_auth_user_id" not in client.session  # nobody is logged in by signing up

    # The holder of the address is told, and nothing of theirs changed.
    robin.refresh_from_db()
    assert (robin.display_name, robin.check_password(PASSWORD)) == ("Robin", True)
    assert User.objects.filter(email__iexact="robin@example.com").count() == 1
    note, finish = mail.outbox
    assert note.to == ["robin@example.com"]
    assert note.subject == "Someone tried to create an account with your address"
    assert "no new one was made and nothing was changed" in note.body
    assert "https://care.example.org/login/" in note.body
    assert "https://care.example.org/password-reset/" in note.body
    assert finish.to == ["sam@example.com"]
    assert finish.subject == "Finish creating your account"
    for message in (note, finish):
        assert message.from_email == "Quiet Notes <noreply@care.example.org>"
        assert discreet(message) == set()


def test_a_new_account_is_usable_only_through_the_e_mailed_link(client):
    sign_up(client, "sam@example.com", name="Sam")
    sam = User.objects.get(email="sam@example.com")
    assert (sam.role, sam.display_name, sam.time_zone) == ("client", "Sam", "Europe/Paris")
    assert not sam.has_usable_password()
    # What the visitor typed on the sign-up page opens nothing.
    login = client.post("/login/", {"username": "sam@example.com", "password": ""})
    assert "_auth_user_id" not in client.session, login

    page = client.get(link_in(mail.outbox[0]), follow=True)
    assert "Choose a password" in page.content.decode()
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == "/reset/done/"
    client.post("/login/", {"username": "sam@example.com", "password": NEW_PASSWORD})
    assert client.session["_auth_user_id"] == str(sam.pk)
    assert (
        "This link no longer works"
        in client.get(link_in(mail.outbox[0]), follow=True).content.decode()
    )


def test_a_clients_note_comes_from_their_therapists_clinic(client, make_user):
    from kap.accounts.models import CareLink

    clinic = Clinic.objects.create(name="Lakeside Clinic")
    therapist = make_user("dr.lee@example.com", role="therapist", clinic=clinic)
    alex = make_user("alex@example.com")
    CareLink.objects.create(client=alex, therapist=therapist, scopes=[])
    sign_up(client, "alex@example.com")
    (note,) = mail.outbox
    assert note.from_email == "Lakeside Clinic <noreply@care.example.org>"


def test_no_password_is_hashed_either_way(client, robin):
    """Hashing a password takes a measurable time: a sign-up that hashed one only for a new
    address would tell them apart by the clock."""
    with (
        mock.patch.object(CheapArgon2PasswordHasher, "encode", autospec=True) as encode,
        mock.patch.object(CheapArgon2PasswordHasher, "verify", autospec=True) as verify,
    ):
        sign_up(client, "robin@example.com")
        sign_up(client, "sam@example.com")
    assert (encode.call_count, verify.call_count) == (0, 0)


def test_the_form_asks_for_no_password_and_says_what_happens_next(client):
    page = client.get("/signup/").content.decode()
    assert 'name="password1"' not in page
    assert "We will e-mail you a link to choose your password" in page
    response = client.post("/signup/", {"display_name": "Robin", "email": "not-an-email"})
    assert response.status_code == 200
    assert "valid email" in str(response.context["form"].errors["email"])
    assert not User.objects.exists()
    assert mail.outbox == []


def test_signing_up_again_before_using_the_link_sends_a_new_link(client):
    sign_up(client, "sam@example.com", name="Sam")
    sign_up(client, "sam@example.com", name="Someone else")
    first, second = mail.outbox
    assert first.subject == second.subject == "Finish creating your account"
    sam = User.objects.get(email="sam@example.com")
    assert sam.display_name == "Sam"  # as first given
    page = client.get(link_in(second), follow=True)
    assert "Choose a password" in page.content.decode()


def test_a_deactivated_account_gets_no_note_and_the_same_answer(client, make_user):
    make_user("gone@example.com", is_active=False)
    response = sign_up(client, "gone@example.com")
    assert (response.status_code, response["Location"]) == (302, "/signup/?sent")
    assert mail.outbox == []


@override_settings(PASSWORD_RESET_PER_ADDRESS=3, PASSWORD_RESET_PER_CLIENT=100)
@pytest.mark.parametrize("email", ["robin@example.com", "nobody@example.com"])
def test_sign_ups_for_one_address_are_throttled_whether_or_not_it_has_an_account(
    client, robin, email
):
    for i in range(3):
        assert sign_up(client, email, REMOTE_ADDR=f"192.0.2.{i}").status_code == 302
    response = sign_up(client, email, REMOTE_ADDR="192.0.2.99")
    assert response.status_code == 429
    assert "Please wait a while" in response.content.decode()
    # Robin is told each time; the new address is sent the link each time (the first may be lost).
    assert [m.to for m in mail.outbox] == [[email]] * 3
    assert {m.subject for m in mail.outbox} == {
        "Someone tried to create an account with your address"
        if email == "robin@example.com"
        else "Finish creating your account"
    }
    assert sign_up(client, "other@example.com").status_code == 302


@override_settings(PASSWORD_RESET_PER_ADDRESS=100, PASSWORD_RESET_PER_CLIENT=4)
def test_sign_ups_from_one_client_are_throttled(client, robin):
    for i in range(4):
        assert sign_up(client, f"person{i}@example.com").status_code == 302
    assert sign_up(client, "robin@example.com").status_code == 429
    assert sign_up(client, "robin@example.com", REMOTE_ADDR="198.51.100.4").status_code == 302


def test_a_mail_server_that_does_not_answer_changes_nothing_in_the_answer(client, robin, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 2},
        }
    }
    taken = sign_up(client, "robin@example.com")
    new = sign_up(client, "sam@example.com")
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert new.status_code == 302


def test_without_a_mail_server_the_account_opens_at_once(client, settings):
    """Nothing can be confirmed by e-mail here: the account is made and logged in as before."""
    settings.MAILERS = {}
    data = {"display_name": "Robin", "email": "robin@example.com"}
    data |= {"password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/signup/", data)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get().pk)
