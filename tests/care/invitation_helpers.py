"""What the invitation tests share: an admin's test client, sending a list, the codes waiting in
the e-mail rows, and real SMTP servers (plain, STARTTLS, TLS from the first byte) with a
self-signed certificate the app is told to trust (SSL_CERT_FILE, as OpenSSL reads it)."""

from __future__ import annotations

import email
import email.policy
import ssl
from contextlib import contextmanager
from pathlib import Path

from django.test import Client

from tests.care.conftest import verify
from tests.reminders.conftest import free_port

LIST_URL = "/care/clinic/invitations/"
# What an e-mail must never say (the clinic may choose to, in its own words): what the app is
# for, and the names of its instruments.
INDISCREET = ("kap", "ketamine", "phq", "gad-7", "gad7", "psychedelic")


def admin_client(admin) -> Client:
    """A test client logged in as `admin`, past their second factor."""
    return verify(Client(), admin)


def send_list(as_admin, **data):
    """POST the clinic's invite-by-e-mail form (therapists, valid a week, unless said)."""
    return as_admin.post(LIST_URL, {"kind": "therapist", "days": "7", **data})


def codes() -> list[str]:
    """The codes waiting in the e-mail rows (decrypted), oldest first; None once erased."""
    from kap.care.models import InviteEmail

    return [row.code for row in InviteEmail.objects.order_by("pk")]


def assert_discreet(*texts: str) -> None:
    """None of INDISCREET, in any case (so the tests' site address must not hold "kap")."""
    for text in texts:
        for word in INDISCREET:
            assert word not in text.lower(), f"{word!r} in {text!r}"


# --- Real SMTP servers --------------------------------------------------------------------------


class TLSInbox:
    """An aiosmtpd handler that keeps every message and whether its connection was encrypted."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.encrypted: list[bool] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 Transaction failed"
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mode: str, cert: tuple[Path, Path] | None = None):
    """A real SMTP server on 127.0.0.1: "plain", "starttls" (required) or "implicit" (TLS from
    the first byte, as on port 465). Yields (inbox, port)."""
    from aiosmtpd.controller import Controller

    inbox, port = TLSInbox(), free_port()
    kwargs: dict = {}
    if mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
        if mode == "starttls":
            kwargs = {"tls_context": context, "require_starttls": True}
        else:
            kwargs = {"ssl_context": context}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
