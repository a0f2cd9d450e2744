"""Clinics and their admins come to be: `kap clinic create`, the first-run set-up, and an admin
adding another admin.

An admin made here has no usable password: they choose one through a one-time link, which is
Django's password-reset link (single use: it stops working once the password is set; it expires
after PASSWORD_RESET_TIMEOUT). Their second factor is set up at their first login.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kap.accounts.models import Clinic, Role, User
from kap.lib import links

CLINIC_NAME_MAX = Clinic._meta.get_field("name").max_length
DISPLAY_NAME_MAX = User._meta.get_field("display_name").max_length


class Refused(ValueError):
    """Bad input: the message says what, in plain words. Nothing was changed."""


def check_clinic_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise Refused(_("the clinic needs a name"))
    if len(name) > CLINIC_NAME_MAX:
        raise Refused(
            _("the clinic's name is longer than %(max)s characters") % {"max": CLINIC_NAME_MAX}
        )
    return name


def check_new_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise Refused(_("%(email)s is not an e-mail address") % {"email": repr(email)}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise Refused(_("an account for %(email)s already exists") % {"email": email})
    return email


def check_display_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > DISPLAY_NAME_MAX:
        raise Refused(_("the name is longer than %(max)s characters") % {"max": DISPLAY_NAME_MAX})
    return name


@transaction.atomic
def add_admin(*, clinic: Clinic, email: str, display_name: str = "") -> User:
    """A new admin of `clinic`, without a usable password (see set_password_link)."""
    email = check_new_email(email)
    display_name = check_display_name(display_name)
    return User.objects.create_user(
        email, None, role=Role.ADMIN, clinic=clinic, display_name=display_name
    )


@transaction.atomic
def create_clinic(*, name: str, admin_email: str, admin_name: str = "") -> tuple[Clinic, User]:
    """A new clinic and its first admin. Everything is checked before anything is written."""
    name = check_clinic_name(name)
    check_new_email(admin_email)
    check_display_name(admin_name)
    clinic = Clinic.objects.create(name=name)
    return clinic, add_admin(clinic=clinic, email=admin_email, display_name=admin_name)


def set_password_link(user: User, request: HttpRequest | None = None) -> str:
    """A one-time link where `user` chooses their password (kap.lib.links: on KAP_BASE_URL, or
    the address of `request` when that is not set)."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return links.absolute(path, request)


def link_lifetime() -> str:
    """How long a set-password or reset link works, in words ("3 days", "2 hours"), in the
    language active now."""
    seconds = settings.PASSWORD_RESET_TIMEOUT
    if seconds % 86400 == 0:
        n = seconds // 86400
        return ngettext("%(n)s day", "%(n)s days", n) % {"n": n}
    if seconds % 3600 == 0:
        n = seconds // 3600
        return ngettext("%(n)s hour", "%(n)s hours", n) % {"n": n}
    n = max(1, round(seconds / 60))
    return ngettext("%(n)s minute", "%(n)s minutes", n) % {"n": n}
