"""Invitation e-mails are sent by the worker (kap.care.tasks.INVITES), from the clinic's name,
in discreet words, through a real SMTP server: plain, STARTTLS (port 587 style) and TLS from the
first byte (port 465 style), the server's certificate checked. The code travels only inside the
e-mail: the queued task carries a row id, the row keeps the code encrypted until the e-mail is
settled, and no log line holds it."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from kap.accounts.models import Invite
from kap.care import services, tasks
from kap.care.models import InviteEmail
from kap.lib.mail import smtp_mailers
from tests.care.helpers import body
from tests.care.invitation_helpers import (
    admin_client,
    assert_discreet,
    send_list,
    smtp_server,
)
from tests.tls import self_signed

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
SITE = "https://care.example.org"
LINK = re.compile(r"https://care\.example\.org/invite/([A-Za-z0-9_-]+)/")


@pytest.fixture
def as_admin(clinic_admin):
    return admin_client(clinic_admin)


@pytest.fixture
def locmem(settings):
    settings.MAILERS = LOCMEM
    settings.BASE_URL = SITE


def invite_one(sender, address="dr.new@example.org", **kw) -> InviteEmail:
    kind = kw.pop("kind", "therapist")
    services.send_invites(sender=sender, kind=kind, emails=[address], days=7, **kw)
    return InviteEmail.objects.latest("pk")


def code_in(message) -> str:
    return LINK.search(message.body if hasattr(message, "body") else message.get_content())[1]


def stored_code_column(row: InviteEmail):
    with connection.cursor() as cursor:
        cursor.execute("SELECT code FROM care_inviteemail WHERE id = %s", [row.pk])
        return cursor.fetchone()[0]


# --- Through the real queue and worker -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_each_invitation_of_a_list_through_the_queue(
    settings, clinic_admin, keep_signal_handlers, caplog
):
    from django_tasks_db.models import DBTaskResult

    settings.MAILERS = LOCMEM
    settings.BASE_URL = SITE
    as_admin = admin_client(clinic_admin)
    response = send_list(as_admin, addresses="dr.ana@example.org\ndr.ben@example.org")
    assert response.status_code == 302
    assert mail.outbox == []  # nothing is sent by the web request itself
    rows = list(InviteEmail.objects.order_by("pk"))
    codes = [row.code for row in rows]
    # What is queued is the row's id; the code waits on the row, encrypted.
    queued = [r.args_kwargs for r in DBTaskResult.objects.all()]
    assert sorted(q["args"] for q in queued) == [[row.pk] for row in rows]
    for code, row in zip(codes, rows, strict=True):
        assert code not in json.dumps(queued)
        assert code not in stored_code_column(row)

    with caplog.at_level(logging.DEBUG):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert sorted(m.to[0] for m in mail.outbox) == ["dr.ana@example.org", "dr.ben@example.org"]
    for message in mail.outbox:
        assert code_in(message) in codes
        assert message.from_email == "Lakeside Clinic <companion@localhost>"
        assert message.subject == "An invitation to join Lakeside Clinic"
        assert_discreet(message.subject, message.body)
    # Settled: sent, and the code erased from the row (the invitation keeps only its hash).
    for row in InviteEmail.objects.all():
        assert (row.status, row.code, stored_code_column(row)) == ("sent", None, None)
        assert row.message_id.startswith(f"<invite-{row.pk}.")
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}
    for code in codes:
        assert code not in caplog.text
    # The link works: it opens the invitation to create a therapist account.
    code = code_in(mail.outbox[0])
    page = Client().get(f"/invite/{code}/")
    assert page.status_code == 200 and "as a therapist" in page.content.decode()


# --- What the e-mail says -----------------------------------------------------------------------


def test_a_client_invitation_names_the_therapist_and_the_clinic_and_nothing_more(
    locmem, clinic_admin, therapist
):
    row = invite_one(clinic_admin, "robin@example.org", kind="client", therapist=therapist)

    assert tasks.send_invite_email.call(row.pk) == "sent"

    (message,) = mail.outbox
    assert message.subject == "An invitation from Lakeside Clinic"
    assert message.from_email == "Lakeside Clinic <companion@localhost>"
    assert message.to == ["robin@example.org"]
    assert "Dr Lee at Lakeside Clinic invites you to create an account" in message.body
    code = code_in(message)
    assert f"{SITE}/invite/ and type this code: {code}" in message.body
    expires = Invite.objects.get().expires_at
    assert f"until {timezone.localtime(expires):%-d %B %Y}" in message.body
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert_discreet(message.subject, message.body)


def test_a_therapists_own_invitation_by_a_therapist_is_sent_as_their_clinic(locmem, therapist):
    row = invite_one(therapist, "robin@example.org", kind="client")

    tasks.deliver_invite_email(row.pk)

    (message,) = mail.outbox
    assert message.from_email == "Lakeside Clinic <companion@localhost>"
    assert "Dr Lee at Lakeside Clinic invites you" in message.body


def test_the_clinics_own_words_open_the_email(locmem, clinic, clinic_admin):
    clinic.invitation_text = "Welcome to our ketamine-assisted therapy programme."
    clinic.save()
    row = invite_one(clinic_admin)

    tasks.deliver_invite_email(row.pk)

    body_text = mail.outbox[0].body
    # The clinic chose to say it: its words replace the standard opening; the link still follows.
    assert body_text.startswith("Hello,\n\nWelcome to our ketamine-assisted therapy programme.\n")
    assert "invites you to create a therapist account" not in body_text
    assert LINK.search(body_text)


# --- When it is not sent, and what the clinic page says ------------------------------------------


def test_an_email_whose_invitation_was_withdrawn_or_sent_again_meanwhile_is_not_sent(
    locmem, clinic_admin
):
    first = invite_one(clinic_admin, "dr.ana@example.org")
    second = invite_one(clinic_admin, "dr.ben@example.org")
    # As if changed while the rows were already claimed by a worker (so not cancelled then).
    Invite.objects.filter(pk=first.invite_id).update(withdrawn_at=timezone.now())
    Invite.objects.filter(pk=second.invite_id).update(code_hash="0" * 64)

    for row in (first, second):
        result = tasks.deliver_invite_email(row.pk)
        assert result == "not sent: the invitation was withdrawn, used or sent again"
        row.refresh_from_db()
        assert (row.status, row.code) == ("cancelled", None)
    assert mail.outbox == []


def test_a_refused_email_is_retried_then_shown_not_delivered_on_the_clinic_page(
    settings, clinic_admin, as_admin, tmp_path, caplog
):
    settings.ALERT_EMAIL_ATTEMPTS = 2
    settings.ALERT_EMAIL_RETRY_SECONDS = 0
    settings.BASE_URL = SITE
    row = invite_one(clinic_admin)
    code = row.code
    with smtp_server("plain") as (inbox, port):
        settings.MAILERS = {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 10},
            }
        }
        inbox.refuse = True
        with caplog.at_level(logging.INFO, logger="kap.care.tasks"):
            assert tasks.send_invite_email.call(row.pk) == "failed: will retry"
            row.refresh_from_db()
            assert row.code == code  # kept for the retry
            assert tasks.sweep_invite_emails() == 1
            assert tasks.sweep_emails() == 0

    row.refresh_from_db()
    assert (row.status, row.attempts, row.code) == ("failed", 2, None)
    assert "SMTPDataError 554" in row.last_error
    assert f"Invitation e-mail {row.pk} was NOT delivered after 2 attempts" in caplog.text
    assert code not in caplog.text
    page = body(as_admin.get("/care/clinic/"))
    assert "1 e-mail not delivered" in page
    assert 'Not delivered</strong> <span class="muted">(SMTPDataError 554)</span>' in page

    # Sent again, with a new code, once the address is right.
    as_admin.post(f"/care/clinic/invite/{row.invite_id}/resend/")
    assert InviteEmail.objects.latest("pk").status == "pending"


def test_without_a_mail_server_invitations_wait_and_go_once_there_is_one(
    settings, clinic_admin, as_admin
):
    settings.MAILERS = {}
    settings.BASE_URL = SITE
    row = invite_one(clinic_admin)

    assert tasks.send_invite_email.call(row.pk) == "not sent: e-mail is not set up"
    assert tasks.sweep_emails() == 0
    page = body(as_admin.get("/care/clinic/"))
    assert "invitations you make now wait, and are e-mailed once it is set up" in page
    assert "Waiting: e-mail is not set up" in page
    row.refresh_from_db()
    assert row.status == "unsent" and row.code is not None

    settings.MAILERS = LOCMEM
    assert tasks.sweep_invite_emails() == 1

    row.refresh_from_db()
    assert (row.status, row.code) == ("sent", None)
    assert len(mail.outbox) == 1
    assert "Sent, " in body(as_admin.get("/care/clinic/"))


def test_a_worker_that_died_mid_send_is_followed_by_one_with_the_same_message_id(
    locmem, clinic_admin, monkeypatch
):
    row = invite_one(clinic_admin)
    seen = []

    def killed(message):
        seen.append(message.extra_headers["Message-ID"])
        raise SystemExit("the worker was killed half-way")

    with monkeypatch.context() as m:
        m.setattr(tasks, "_deliver", killed)
        with pytest.raises(SystemExit):
            tasks.deliver_invite_email(row.pk)
    InviteEmail.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert tasks.sweep_emails() == 1

    (message,) = mail.outbox
    assert message.extra_headers["Message-ID"] == seen[0]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.code) == ("sent", 2, None)


# --- A real mail server: plain, STARTTLS, TLS from the first byte ---------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    ("mode", "env"),
    [
        ("plain", {"KAP_SMTP_TLS": "False"}),
        ("starttls", {}),  # the default on port 587: STARTTLS
        ("implicit", {"KAP_SMTP_SSL": "True"}),  # as on port 465, on a free port here
    ],
)
def test_an_invitation_reaches_a_real_mail_server(
    settings, monkeypatch, certificate, clinic_admin, therapist, mode, env
):
    settings.BASE_URL = SITE
    # The app trusts the test's certificate as it would a real authority's (OpenSSL reads it).
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    for name in ("KAP_SMTP_TLS", "KAP_SMTP_SSL"):
        monkeypatch.delenv(name, raising=False)
    row = invite_one(clinic_admin, "robin@example.org", kind="client", therapist=therapist)
    with smtp_server(mode, certificate) as (inbox, port):
        monkeypatch.setenv("KAP_SMTP_PORT", str(port))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings.MAILERS = smtp_mailers("127.0.0.1")

        assert tasks.deliver_invite_email(row.pk) == "sent"

    (message,) = inbox.messages
    assert inbox.encrypted == [mode != "plain"]
    assert message["To"] == "robin@example.org"
    assert message["From"] == "Lakeside Clinic <companion@localhost>"
    assert message["Subject"] == "An invitation from Lakeside Clinic"
    text = message.get_content()
    assert "Dr Lee at Lakeside Clinic invites you" in text
    assert_discreet(message["Subject"], text)
    assert services.hash_code(code_in(message)) == Invite.objects.get().code_hash


def test_a_certificate_the_app_does_not_trust_is_refused(
    settings, monkeypatch, certificate, clinic_admin
):
    settings.ALERT_EMAIL_RETRY_SECONDS = 60
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("KAP_SMTP_TLS", raising=False)
    row = invite_one(clinic_admin)
    with smtp_server("implicit", certificate) as (inbox, port):
        monkeypatch.setenv("KAP_SMTP_PORT", str(port))
        monkeypatch.setenv("KAP_SMTP_SSL", "True")
        settings.MAILERS = smtp_mailers("127.0.0.1")

        assert tasks.deliver_invite_email(row.pk) == "failed: will retry"

    assert inbox.messages == []
    row.refresh_from_db()
    assert "SSLCertVerificationError" in row.last_error


# --- The settings --------------------------------------------------------------------------------


def mailer_options(tmp_path, **env) -> tuple[int, dict | str]:
    """MAILERS["default"]["OPTIONS"] as `kap` would read it from this environment."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("KAP_SMTP")}
    full.update(DJANGO_SETTINGS_MODULE="kap.settings", KAP_DATA_DIR=str(tmp_path), **env)
    show = (
        "import json, django; django.setup(); from django.conf import settings;"
        "print(json.dumps(settings.MAILERS['default']['OPTIONS']))"
    )
    done = subprocess.run([sys.executable, "-c", show], env=full, capture_output=True, text=True)
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


def test_port_587_speaks_starttls_and_port_465_tls_from_the_first_byte(tmp_path):
    host = {"KAP_SMTP_HOST": "mail.example.org"}

    _, on_587 = mailer_options(tmp_path, **host)
    _, on_465 = mailer_options(tmp_path, KAP_SMTP_PORT="465", **host)
    _, ssl_set = mailer_options(tmp_path, KAP_SMTP_PORT="2465", KAP_SMTP_SSL="True", **host)
    _, tls_off = mailer_options(tmp_path, KAP_SMTP_PORT="25", KAP_SMTP_TLS="False", **host)

    assert (on_587["port"], on_587["use_tls"], on_587["use_ssl"]) == (587, True, False)
    assert (on_465["port"], on_465["use_tls"], on_465["use_ssl"]) == (465, False, True)
    assert (ssl_set["port"], ssl_set["use_tls"], ssl_set["use_ssl"]) == (2465, False, True)
    assert (tls_off["port"], tls_off["use_tls"], tls_off["use_ssl"]) == (25, False, False)


def test_both_kinds_of_tls_at_once_is_refused_with_a_clear_message(tmp_path):
    code, error = mailer_options(
        tmp_path, KAP_SMTP_HOST="mail.example.org", KAP_SMTP_SSL="True", KAP_SMTP_TLS="True"
    )

    assert code != 0
    assert "KAP_SMTP_SSL" in error and "are both on: set only the one your mail server speaks" in (
        error
    )
