"""How people come to share and stop sharing: invitations made, accepted and withdrawn, and the
links between a client and a therapist, whose sharing a client changes or ends.

Every change of consent is written to the audit trail (kap.care.audit) in the same transaction
as the change, so a clinic can show what a client had agreed to at any moment. The views
(kap.care.views for therapists and clinics, kap.care.views_sharing for clients) only ask and
show; what happens is done here.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from kap.accounts.models import CareLink, Invite, Role, User
from kap.care.audit import record


class InviteUnusable(Exception):
    """Used, expired, or its sender can no longer send it."""


class AlreadyLinked(Exception):
    """The client already has an active link with this therapist."""


def hash_code(code: str) -> str:
    """What is stored of an invitation's code (Invite.code_hash): the sha256 hex digest of the
    code exactly as it was handed out."""
    return hashlib.sha256(code.encode()).hexdigest()


# --- Invitations --------------------------------------------------------------------------------


def create_invite(*, sender: User, kind: str, email: str, days: int) -> str:
    """A new invitation from `sender` (a therapist's to a client, or a clinic admin's to a
    therapist), valid for `days`. Returns its code: shown once, never stored."""
    code = secrets.token_urlsafe(16)
    now = timezone.now()
    Invite.objects.create(
        kind=kind,
        created_by=sender,
        clinic=sender.clinic,
        code_hash=hash_code(code),
        email=email,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return code


def withdraw_invite(invite: Invite) -> None:
    """The invitation's link stops working now."""
    invite.expires_at = timezone.now()
    invite.save(update_fields=["expires_at"])


def find_invite(code: str) -> Invite | None:
    """The invitation with this code, usable or not; None for a code no one was given."""
    if not code or len(code) > 200:
        return None
    return (
        Invite.objects.select_related("created_by__clinic", "clinic")
        .filter(code_hash=hash_code(code))
        .first()
    )


def can_be_accepted(invite: Invite) -> bool:
    """Not used, not expired, and its sender is still active in the role that sends it."""
    return invite.is_usable and _sender_can_invite(invite)


def _sender_can_invite(invite: Invite) -> bool:
    sender = invite.created_by
    wanted = Role.THERAPIST if invite.kind == Invite.Kind.CLIENT else Role.ADMIN
    return sender.is_active and sender.role == wanted


def _lock_usable(invite: Invite) -> Invite:
    # Re-read under a row lock (PostgreSQL) or the write lock IMMEDIATE took (SQLite), so two
    # people racing with one code get one success and one refusal.
    locked = Invite.objects.select_for_update().select_related("created_by").get(pk=invite.pk)
    if not can_be_accepted(locked):
        raise InviteUnusable
    return locked


def _mark_used(invite: Invite, user: User) -> None:
    invite.used_at = timezone.now()
    invite.used_by = user
    invite.save(update_fields=["used_at", "used_by"])


@transaction.atomic
def accept_client_invite(
    *, invite: Invite, client: User, scopes: list[str], ip: str | None
) -> CareLink:
    """Link the client to the therapist who invited them, sharing `scopes`, and record their
    consent. Raises InviteUnusable or AlreadyLinked, and then nothing has changed."""
    locked = _lock_usable(invite)
    therapist_id = locked.created_by_id
    if CareLink.objects.active().filter(client=client, therapist_id=therapist_id).exists():
        raise AlreadyLinked
    try:
        with transaction.atomic():
            link = CareLink.objects.create(client=client, therapist_id=therapist_id, scopes=scopes)
    except IntegrityError as e:  # another invitation from the same therapist, at the same time
        raise AlreadyLinked from e
    _mark_used(locked, client)
    _record_consent(link, "link accepted", scopes, ip)
    return link


@transaction.atomic
def accept_therapist_invite(
    *, invite: Invite, email: str, password: str, display_name: str
) -> User:
    """The therapist's account, in the clinic that invited them. Raises InviteUnusable, or
    IntegrityError when the address has an account already."""
    locked = _lock_usable(invite)
    therapist = User.objects.create_user(
        email,
        password,
        display_name=display_name,
        role=Role.THERAPIST,
        clinic_id=locked.clinic_id or locked.created_by.clinic_id,
    )
    _mark_used(locked, therapist)
    return therapist


# --- A client's links ---------------------------------------------------------------------------


@transaction.atomic
def change_scopes(link: CareLink, scopes: list[str], *, ip: str | None) -> bool:
    """Share `scopes` from now on, and record the client's consent. False (and nothing changed)
    when the link has ended meanwhile: a link ended in another tab stays ended."""
    if not CareLink.objects.filter(pk=link.pk, ended_at=None).update(scopes=scopes):
        return False
    link.scopes = scopes
    _record_consent(link, "sharing changed", scopes, ip)
    return True


@transaction.atomic
def end_link(link: CareLink, *, ip: str | None) -> None:
    """The therapist sees nothing more from this client; recorded once, however often asked."""
    if CareLink.objects.filter(pk=link.pk, ended_at=None).update(ended_at=timezone.now()):
        _record_consent(link, "link ended", [], ip)


def _record_consent(link: CareLink, event: str, scopes: list[str], ip: str | None) -> None:
    # Consent changes go into the same tamper-evident chain as the reads they allow.
    shared = ", ".join(scopes) or "nothing"
    what = f"{event} with {link.therapist.email}: {shared}"[:200]
    record(actor=link.client, subject=link.client, action="consent", what=what, ip=ip)
