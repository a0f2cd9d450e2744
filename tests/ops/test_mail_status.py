"""The SMTP backend notes how sending went, so a refused or failing mail server shows on the
clinic page: the error's class and code, never an address or a message's content."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core import mail

from kap.ops.models import MailStatus
from kap.ops.status import current_status
from tests.reminders.conftest import Inbox, free_port

SECRET_ADDRESS = "someone.private@example.org"
# Django 6.1 deprecates fail_silently; code written before still passes it, and it is honoured.
SILENT = pytest.mark.filterwarnings("ignore:The 'fail_silently' argument is deprecated")


def mailers(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "kap.ops.mail.RecordingEmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 5},
        }
    }


def send(**kwargs) -> int:
    return mail.send_mail(
        "Subject words", "Body words", "clinic@example.org", [SECRET_ADDRESS], **kwargs
    )


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_a_closed_port_is_recorded_as_a_failure_and_shown(db, settings, as_admin):
    settings.MAILERS = mailers(free_port())  # nothing listens there
    settings.SMTP_HOST = "127.0.0.1"

    with pytest.raises(ConnectionRefusedError):
        send()

    status = MailStatus.objects.get()
    assert status.last_failed_at and status.last_ok_at is None
    assert status.last_error.startswith("ConnectionRefusedError")
    assert SECRET_ADDRESS not in status.last_error
    assert current_status().mail_failing
    page = as_admin.get("/care/clinic/").content.decode()
    assert "Failing" in page and "ConnectionRefusedError" in page


@SILENT
def test_fail_silently_is_still_recorded(db, settings):
    settings.MAILERS = mailers(free_port())
    assert send(fail_silently=True) == 0
    assert MailStatus.objects.get().last_error.startswith("ConnectionRefusedError")


def test_a_refusing_server_is_recorded_by_its_code_only(db, settings, smtp_server):
    inbox, port = smtp_server
    settings.MAILERS = mailers(port)
    inbox.refuse = True
    with pytest.raises(Exception):  # noqa: B017 (smtplib's class for a 554 after DATA)
        send()
    error = MailStatus.objects.get().last_error
    assert "554" in error and "Transaction failed" not in error
    assert "Subject" not in error and SECRET_ADDRESS not in error


@SILENT
def test_a_success_after_a_failure_clears_the_alarm(db, settings, smtp_server):
    inbox, port = smtp_server
    settings.MAILERS = mailers(free_port())
    send(fail_silently=True)
    assert current_status().mail_failing

    settings.MAILERS = mailers(port)
    assert send() == 1
    assert len(inbox.messages) == 1
    status = current_status()
    assert not status.mail_failing and status.mail_ok_at >= status.mail_failed_at


def test_the_settings_point_the_mailer_at_the_recording_backend(tmp_path):
    env = {
        **os.environ,
        "KAP_DATA_DIR": str(tmp_path),
        "KAP_SMTP_HOST": "smtp.example.org",
        "DJANGO_SETTINGS_MODULE": "kap.settings",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.MAILERS['default']['BACKEND'])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "kap.ops.mail.RecordingEmailBackend"
