"""Who an e-mail to a person comes from: their clinic by name, else the discreet MAIL_NAME, at
the address of DEFAULT_FROM_EMAIL."""

from __future__ import annotations

from email.utils import formataddr, parseaddr

from django.conf import settings

from kap.accounts.models import CareLink, Clinic, User


def clinic_of(user: User) -> Clinic | None:
    """A therapist's or admin's clinic; for a client, the clinic of the therapist they linked
    with first (if any)."""
    if user.clinic_id:
        return user.clinic
    link = (
        CareLink.objects.active()
        .for_client(user)
        .filter(therapist__clinic__isnull=False)
        .select_related("therapist__clinic")
        .order_by("created_at", "pk")
        .first()
    )
    return link.therapist.clinic if link else None


def sender_for(user: User) -> str:
    """The From header for an e-mail to `user`: "Lakeside Clinic <kap@clinic.example>"."""
    clinic = clinic_of(user)
    name = clinic.name if clinic else settings.MAIL_NAME
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((name, address))
