"""Password reset by e-mail: Django's views, the same answer for any address, throttled, and a
discreet e-mail from the person's clinic, sent by the worker (never during the request)."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from kap.accounts import onboarding
from kap.accounts.models import CareLink, Clinic, User
from kap.content.models import Instrument
from tests.conftest import PASSWORD

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
NEW_PASSWORD = "a slow walk along the river"

pytestmark = [
    # Committed as in production, where the worker (a separate connection) reads the queue.
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("guide", "worker_cleanup"),
]


@pytest.fixture(autouse=True)
def mail_server(settings):
    settings.MAILERS = LOCMEM
    settings.BASE_URL = "https://care.example.org"
    settings.DEFAULT_FROM_EMAIL = "Anything <noreply@care.example.org>"
    settings.MAIL_NAME = "Quiet Notes"


def ask(client, email: str, **extra):
    return client.post("/password-reset/", {"email": email}, **extra)


def work() -> None:
    """`kap worker`'s queue, run until empty: the e-mails the requests queued are sent."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


def sent():
    work()
    return mail.outbox


def link_in(message) -> str:
    url = re.search(r"https://care\.example\.org/reset/\S+/", message.body).group(0)
    return urlsplit(url).path


def test_the_login_page_links_to_the_reset(client):
    page = client.get("/login/").content.decode()
    assert '<a href="/password-reset/">Forgot your password?</a>' in page


def test_a_known_address_gets_a_discreet_link_that_works_once(client, make_user):
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    user = make_user("dr.lee@example.com", role="therapist", clinic=clinic)
    response = ask(client, "Dr.Lee@Example.com")
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    (message,) = sent()
    assert message.to == ["dr.lee@example.com"]
    assert message.subject == "Resetting your password"
    assert message.from_email == "Lakeside Clinic <noreply@care.example.org>"
    everything = f"{message.subject}\n{message.from_email}\n{message.body}".lower()
    words = {"ketamine", "kap", "psychedelic"}
    words |= {i.key.lower() for i in Instrument.objects.all()}
    words |= {i.title.lower() for i in Instrument.objects.all() if i.title}
    words |= {"phq", "gad"}
    found = {w for w in words if re.search(rf"\b{re.escape(w)}\b", everything)}
    assert found == set(), found

    link = link_in(message)
    page = client.get(link, follow=True)
    set_url = page.redirect_chain[-1][0]
    assert "Choose a password" in page.content.decode()
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, make_user):
    make_user("alex@example.com")
    known = ask(client, "alex@example.com")
    unknown = ask(client, "nobody@example.com")
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert [m.to for m in sent()] == [["alex@example.com"]]
    page = client.get(unknown["Location"]).content.decode()
    assert "If an account uses the address you entered" in page


def test_a_client_gets_it_from_their_therapists_clinic_else_from_the_site(client, make_user):
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    therapist = make_user("dr.lee@example.com", role="therapist", clinic=clinic)
    alex = make_user("alex@example.com")
    make_user("sam@example.com")
    CareLink.objects.create(client=alex, therapist=therapist, scopes=[])
    ask(client, "alex@example.com")
    ask(client, "sam@example.com")
    senders = {m.to[0]: m.from_email for m in sent()}
    assert senders == {
        "alex@example.com": "Lakeside Clinic <noreply@care.example.org>",
        "sam@example.com": "Quiet Notes <noreply@care.example.org>",
    }


def test_an_admin_who_never_chose_a_password_can_ask_again(client):
    _, admin = onboarding.create_clinic(name="Lakeside Clinic", admin_email="pat@example.com")
    assert not admin.has_usable_password()
    ask(client, "pat@example.com")
    assert [m.to for m in sent()] == [["pat@example.com"]]


def test_an_inactive_account_gets_no_mail(client, make_user):
    make_user("gone@example.com", is_active=False)
    assert ask(client, "gone@example.com").status_code == 302
    assert sent() == []


@override_settings(PASSWORD_RESET_PER_ADDRESS=3, PASSWORD_RESET_PER_CLIENT=100)
@pytest.mark.parametrize("email", ["alex@example.com", "nobody@example.com"])
def test_requests_for_one_address_are_throttled_whether_or_not_it_has_an_account(
    client, make_user, email
):
    make_user("alex@example.com")
    for i in range(3):
        assert ask(client, email, REMOTE_ADDR=f"192.0.2.{i}").status_code == 302
    response = ask(client, email, REMOTE_ADDR="192.0.2.99")
    assert response.status_code == 429
    assert "Please wait a while" in response.content.decode()
    assert len(sent()) == (3 if email == "alex@example.com" else 0)
    # Another address is not held back.
    assert ask(client, "other@example.com").status_code == 302


@override_settings(PASSWORD_RESET_PER_ADDRESS=100, PASSWORD_RESET_PER_CLIENT=5)
def test_requests_from_one_client_are_throttled(client, make_user):
    make_user("alex@example.com")
    for i in range(5):
        assert ask(client, f"person{i}@example.com").status_code == 302
    assert ask(client, "alex@example.com").status_code == 429
    assert sent() == []
    assert ask(client, "alex@example.com", REMOTE_ADDR="198.51.100.4").status_code == 302
    assert len(sent()) == 1


def test_without_a_mail_server_the_pages_say_so(client, make_user, settings):
    settings.MAILERS = {}
    make_user("alex@example.com")
    assert "E-mail is not set up on this server" in client.get("/password-reset/").content.decode()
    response = ask(client, "alex@example.com")
    assert response.status_code == 302
    assert "no link was sent" in client.get(response["Location"]).content.decode()


def test_a_new_password_is_checked_like_any_other(client, make_user):
    user = make_user("alex@example.com")
    ask(client, "alex@example.com")
    page = client.get(link_in(sent()[0]), follow=True)
    response = client.post(
        page.redirect_chain[-1][0], {"new_password1": "password", "new_password2": "password"}
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert User.objects.count() == 1


def test_without_a_base_url_the_link_is_on_the_address_the_request_came_to(
    client, make_user, settings
):
    # A laptop on another port (`make run PORT=8123`): not the default 127.0.0.1:8000.
    from kap.lib.links import DEFAULT_BASE_URL

    settings.BASE_URL = DEFAULT_BASE_URL
    make_user("alex@example.com")
    ask(client, "alex@example.com", HTTP_HOST="localhost:8123")
    (message,) = sent()
    assert re.search(r"http://localhost:8123/reset/\S+/", message.body), message.body
    assert "127.0.0.1:8000" not in message.body


class MailServer(locmem.EmailBackend):
    """The mail server as the worker meets it: down (every send refused) until `up`. Counts
    every send tried, to show the request itself never tries one."""

    up = False
    tries = 0

    def send_messages(self, messages):
        MailServer.tries += 1
        if not MailServer.up:
            raise ConnectionRefusedError(111, "Connection refused")
        return super().send_messages(messages)


def test_with_the_mail_server_down_a_known_address_is_answered_like_an_unknown_one(
    client, make_user, settings, caplog
):
    """An address's answer must not tell whether an account uses it: the request only queues the
    e-mail (no round trip to the mail server, nor its timeout when it is down), and the worker
    sends it once the server is back, with a link that works."""
    from django_tasks_db.models import DBTaskResult

    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.MailServer"}}
    MailServer.up, MailServer.tries = False, 0
    user = make_user("alex@example.com")

    known = ask(client, "alex@example.com")
    unknown = ask(client, "nobody@example.com")
    assert MailServer.tries == 0  # nothing was sent, or tried, while the person waited
    answer = [
        (r.status_code, r["Location"], r.content, sorted(r.cookies)) for r in (known, unknown)
    ]
    assert answer[0] == answer[1] == (302, "/password-reset/sent/", b"", [])
    # Each queued a task (the same write either way), with an account's id and the site's
    # address: no link, no address.
    queued = [r.args_kwargs["args"] for r in DBTaskResult.objects.order_by("enqueued_at")]
    assert queued == [[user.pk, "https://care.example.org"], [None, "https://care.example.org"]]

    with caplog.at_level(logging.INFO):
        work()  # the server is down: tried once, queued again for later
    assert (MailServer.tries, mail.outbox) == (1, [])
    assert "failed (attempt 1 of 5: ConnectionRefusedError)" in caplog.text
    assert "alex@example.com" not in caplog.text

    MailServer.up = True
    # The pause before the next attempt has passed.
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    (message,) = sent()
    assert message.to == ["alex@example.com"]
    page = client.get(link_in(message), follow=True)
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == "/reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
