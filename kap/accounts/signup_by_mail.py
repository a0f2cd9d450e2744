"""Open sign-up on a server that sends e-mail: the answer is the same whether or not an account
already uses the address, so the sign-up page tells no one who has an account here.

A new address gets a client account without a password, and an e-mail with a one-time link to
choose one (kap.accounts.onboarding.set_password_link: Django's password-reset link, which stops
working once used and expires after PASSWORD_RESET_TIMEOUT). Nobody can log in to the account
before the link is used, so making it proves nothing to whoever typed the address (signing up
again before then sends a new link). An address that already has an account gets a discreet
note instead: someone tried to create an account with it, and where to log in or choose a new
password. Either way the visitor is told to check their e-mail, and either way it costs about
the same: one e-mail sent, no password hashed.

(Without a mail server, sign-up opens the account at once; whether that worked cannot be hidden
from the person who tried, so there the form says that the address already has an account.)
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

from django.core import mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy

from kap.accounts import onboarding
from kap.accounts.models import Role, User
from kap.accounts.senders import sender_for
from kap.lib import languages, links

log = logging.getLogger(__name__)

NEW_SUBJECT = gettext_lazy("Finish creating your account")
TAKEN_SUBJECT = gettext_lazy("Someone tried to create an account with your address")


def start(
    *, email: str, display_name: str = "", time_zone: str = "", request: HttpRequest | None = None
) -> None:
    """Make the account for `email` and e-mail it the link to choose a password; or, when an
    account already uses the address, e-mail its holder a note (none to a deactivated account).
    The caller answers the same in every case."""
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email,
                    None,
                    role=Role.CLIENT,
                    display_name=display_name,
                    time_zone=time_zone,
                    onboarded_at=None,  # the first steps, after the first login
                )
        except IntegrityError:
            # The same address signed up a moment ago: that request sends its e-mail.
            return
        _send_link(user, request)
    elif _unfinished(existing):
        # Signed up before, the link never used (lost, expired): a new link. The name and time
        # zone stay as they were first given.
        _send_link(existing, request)
    elif existing.is_active:
        # In the holder's language, never the asker's: they may not be the same person.
        with languages.speaking(existing):
            _send(
                existing,
                TAKEN_SUBJECT,
                "accounts/email/signup_taken.txt",
                {
                    "login": links.absolute(reverse("login"), request),
                    "reset": links.absolute(reverse("password_reset"), request),
                },
            )


def _unfinished(user: User) -> bool:
    """An account made here whose password was never chosen."""
    return (
        user.is_client
        and user.is_active
        and user.last_login is None
        and not user.has_usable_password()
    )


def _send_link(user: User, request: HttpRequest | None = None) -> None:
    # In their language if they chose one; else in that of the page they signed up on (outside
    # a request, the server's).
    with languages.speaking(user) if languages.known(user.language) else nullcontext():
        _send(
            user,
            NEW_SUBJECT,
            "accounts/email/signup_new.txt",
            {
                "link": onboarding.set_password_link(user, request),
                "lifetime": onboarding.link_lifetime(),
            },
        )


def _send(user: User, subject: str, template: str, context: dict) -> None:
    """Made in the language active now (the callers choose it)."""
    message = mail.EmailMessage(
        str(subject),
        render_to_string(template, context),
        from_email=sender_for(user),
        to=[user.email],
    )
    try:
        message.send()
    except Exception as e:
        # Answered the same all the same: the page must not differ by whether mail went out.
        log.error("A sign-up e-mail could not be sent: %s", type(e).__name__)
