"""Guesses at the current password on the password-change page are counted (issue 16, item 8).

Found by the second security review: someone with a logged-in session (an unlocked computer, a
stolen cookie) could try current passwords there without limit, and so find out the password.
Now five wrong ones within an hour pause the form for that account, from wherever they came,
the right password included, until the hour has passed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kap.accounts.models import ThrottleHit
from kap.accounts.views import PasswordChange
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "a long walk by the harbour at dusk"
PAUSED = "changing the password of this account is paused for now"


def change(client, old: str, new: str = NEW, again: str | None = None, **extra):
    data = {"old_password": old, "new_password1": new, "new_password2": again or new}
    return client.post("/account/password/", data, **extra)


def logged_in_as(user, **defaults) -> Client:
    c = Client(**defaults)
    c.force_login(user)
    return c


def an_hour_passes() -> None:
    ThrottleHit.objects.update(at=timezone.now() - timedelta(hours=1, minutes=1))


def test_wrong_guesses_pause_the_form_even_for_the_right_password(logged_in, client_user):
    assert PasswordChange.PASSWORD_GUESSES == 5
    for n in range(1, 5):
        response = change(logged_in, f"guess number {n}")
        assert response.status_code == 200
        assert "Your old password was entered incorrectly" in response.content.decode()
        assert PAUSED not in response.content.decode()
    # The fifth wrong guess says at once that the form is paused.
    response = change(logged_in, "guess number 5")
    assert PAUSED in response.content.decode()

    response = change(logged_in, PASSWORD)
    assert response.status_code == 429
    body = response.content.decode()
    assert PAUSED in body
    assert "Your password has not changed" in body
    assert 'name="old_password"' not in body  # nothing to try until then
    client_user.refresh_from_db()
    assert client_user.check_password(PASSWORD)
    assert not client_user.check_password(NEW)
    # The page says so when opened again, too.
    assert PAUSED in logged_in.get("/account/password/").content.decode()

    an_hour_passes()
    assert change(logged_in, PASSWORD)["Location"] == "/account/password/done/"
    client_user.refresh_from_db()
    assert client_user.check_password(NEW)


def test_the_count_is_per_account_whatever_the_session_or_address(client_user, stranger, guide):
    first = logged_in_as(client_user, REMOTE_ADDR="192.0.2.1")
    second = logged_in_as(client_user, REMOTE_ADDR="198.51.100.7")
    for n in range(3):
        change(first, f"guess {n}")
    for n in range(2):
        change(second, f"other guess {n}")
    assert change(first, PASSWORD).status_code == 429
    assert change(second, PASSWORD).status_code == 429
    # Someone else's account is not held back.
    other = logged_in_as(stranger)
    assert change(other, PASSWORD)["Location"] == "/account/password/done/"


def test_only_wrong_current_passwords_count(logged_in, client_user):
    for _ in range(6):
        response = change(logged_in, PASSWORD, new=NEW, again="not the same at all")
        assert response.status_code == 200
        assert "two password fields didn" in response.content.decode()
    assert change(logged_in, PASSWORD)["Location"] == "/account/password/done/"
