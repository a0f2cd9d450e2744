"""Django's SMTP backend, noting how each attempt went (kap.ops.models.MailStatus), so that a
refused or failing mail server shows on the clinic page and not only in the worker's log.

What is noted: when a message was last taken, when sending last failed, and the error's class with
the server's short answer. Never an address, a subject or anything of a message.
"""

from __future__ import annotations

import logging
import smtplib

from django.core.mail.backends.smtp import EmailBackend
from django.db import DatabaseError
from django.utils import timezone

from kap.ops.models import MailStatus

log = logging.getLogger(__name__)

STATUS_PK = 1


def describe(error: BaseException) -> str:
    """The error's class and the mail server's code, or a connection error's reason: e.g.
    "SMTPAuthenticationError 535" or "ConnectionRefusedError: [Errno 111] Connection refused".
    SMTP errors carry the server's answer, which may name a recipient, so only its code is kept."""
    code = getattr(error, "smtp_code", None)
    if code:
        return f"{type(error).__name__} {code}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(c) for c, _ in error.recipients.values()})
        return f"{type(error).__name__} {' '.join(codes)}".strip()
    if isinstance(error, smtplib.SMTPException):
        return type(error).__name__
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}"[:300]
    return type(error).__name__


def record_success() -> None:
    _record(last_ok_at=timezone.now())


def record_failure(error: BaseException) -> None:
    _record(last_failed_at=timezone.now(), last_error=describe(error)[:300])


def _record(**fields) -> None:
    # A failure to note the outcome must never change the outcome of sending.
    try:
        MailStatus.objects.update_or_create(pk=STATUS_PK, defaults=fields)
    except DatabaseError:
        log.warning("The outcome of sending e-mail could not be recorded")


class RecordingEmailBackend(EmailBackend):
    """The SMTP backend, with each send's outcome noted (see the module's docstring)."""

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        # Failing silently would hide the error from us too: let it come, note it, then behave
        # as the caller asked.
        silently, self.fail_silently = self.fail_silently, False
        try:
            sent = super().send_messages(email_messages)
        except Exception as error:
            record_failure(error)
            if silently:
                return 0
            raise
        finally:
            self.fail_silently = silently
        if sent:
            record_success()
        return sent
