"""Factories and a real SMTP server for the reminder tests. Personas come from tests/conftest.py."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

# Written into every private field; it must never reach a calendar feed or an e-mail.
CANARY = "blue-heron-canary"


@pytest.fixture
def make_session(db):
    from kap.journal.models import KapSession

    def make(client, *, hours_from_now: float, status: str = "planned", **fields):
        fields.setdefault("notes", f"notes {CANARY}")
        return KapSession.objects.create(
            client=client,
            starts_at=timezone.now() + timedelta(hours=hours_from_now),
            status=status,
            **fields,
        )

    return make


@pytest.fixture
def make_step(db):
    from kap.journal.models import ActionStep

    def make(client, *, days_ago: float, **fields):
        fields.setdefault("text", f"step {CANARY}")
        return ActionStep.objects.create(
            client=client, created_at=timezone.now() - timedelta(days=days_ago), **fields
        )

    return make


@pytest.fixture
def scored(guide):
    """A submitted PHQ-9 or GAD-7, `days_ago` days back."""
    from kap.content.models import Instrument
    from kap.journal.models import Response

    def make(client, key: str, *, days_ago: float):
        return Response.objects.create(
            client=client,
            instrument=Instrument.objects.current().get(key=key),
            status=Response.Status.SUBMITTED,
            answers={"note": CANARY},
            submitted_at=timezone.now() - timedelta(days=days_ago),
        )

    return make


def opt_in(client, *, include_clinician: bool = False):
    from kap.journal.models import ReminderPreference

    return ReminderPreference.objects.update_or_create(
        client=client,
        defaults={"email_enabled": True, "include_clinician": include_clinician},
    )[0]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (or refuses them all)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 Transaction failed"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        return [m.get_content() for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smtp_mailers(port: int) -> dict:
    options = {"host": "127.0.0.1", "port": port, "use_tls": False, "timeout": 10}
    return {
        "default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    }


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1, with the app's e-mail settings pointing at it."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.SMTP_HOST = "127.0.0.1"
    settings.MAILERS = smtp_mailers(port)
    settings.BASE_URL = "https://kap.example.org"
    try:
        yield inbox
    finally:
        controller.stop()
