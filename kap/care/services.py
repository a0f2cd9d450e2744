"""How people come to share and stop sharing: invitations made, accepted and withdrawn, and the
links between a client and a therapist, whose sharing a client changes or ends.

Every change of consent is written to the audit trail (kap.care.audit) in the same transaction
as the change, so a clinic can show what a client had agreed to at any moment. The views
(kap.care.views for therapists and clinics, kap.care.views_sharing for clients) only ask and
show; what happens is done here.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from kap.accounts.models import CareLink, Invite, Role, User
from kap.care.audit import record
from kap.care.models import InviteEmail

log = logging.getLogger(__name__)


class InviteUnusable(Exception):
    """Used, expired, or its sender can no longer send it."""


class AlreadyLinked(Exception):
    """The client already has an active link with this therapist."""


def hash_code(code: str) -> str:
    """What is stored of an invitation's code (Invite.code_hash): the sha256 hex digest of the
    code exactly as it was handed out."""
    return hashlib.sha256(code.encode()).hexdigest()


# --- Invitations --------------------------------------------------------------------------------


def _new_code() -> tuple[str, str]:
    code = secrets.token_urlsafe(16)
    return code, hash_code(code)


def create_invite(
    *, sender: User, kind: str, email: str, days: int, therapist: User | None = None
) -> str:
    """A new invitation from `sender` (a therapist's to a client, a clinic admin's to a
    therapist, or a clinic admin's to a client for `therapist` of the clinic), valid for `days`.
    Returns its code: shown once (or e-mailed), never stored."""
    return _create(sender=sender, kind=kind, email=email, days=days, therapist=therapist)[1]


def _create(
    *, sender: User, kind: str, email: str, days: int, therapist: User | None = None
) -> tuple[Invite, str]:
    code, code_hash = _new_code()
    now = timezone.now()
    invite = Invite.objects.create(
        kind=kind,
        created_by=sender,
        clinic=sender.clinic,
        therapist=therapist,
        code_hash=code_hash,
        email=email,
        created_at=now,
        expires_at=now + timedelta(days=days),
        valid_days=days,
    )
    return invite, code


@transaction.atomic
def send_invites(
    *, sender: User, kind: str, emails: list[str], days: int, therapist: User | None = None
) -> list[Invite]:
    """One invitation per address, each e-mailed by `kap worker` once this commits. All or
    nothing: the addresses were checked before (kap.care.invitations.read_addresses)."""
    made = []
    for email in emails:
        invite, code = _create(
            sender=sender, kind=kind, email=email, days=days, therapist=therapist
        )
        _queue_email(invite, code)
        made.append(invite)
    return made


def _queue_email(invite: Invite, code: str) -> InviteEmail:
    # The code waits on the row, encrypted, until the e-mail is settled (then it is erased);
    # the queued task carries only the row's id.
    row = InviteEmail.objects.create(invite=invite, to=invite.email, code=code)
    transaction.on_commit(partial(_enqueue_email, row.pk))
    return row


def _enqueue_email(email_id: int) -> None:
    from kap.care.tasks import send_invite_email

    try:
        send_invite_email.enqueue(email_id)
    except Exception:
        # The row waits as pending: `kap worker`'s sweep sends it within minutes.
        log.exception("Could not queue invitation e-mail %s", email_id)


def _cancel_emails(invite: Invite, why: str) -> None:
    """E-mails of this invitation not yet on their way are not sent; their codes are erased."""
    InviteEmail.objects.filter(
        invite=invite, status__in=[InviteEmail.Status.PENDING, InviteEmail.Status.UNSENT]
    ).update(
        status=InviteEmail.Status.CANCELLED,
        code=None,
        next_attempt_at=None,
        last_error=why,
    )


@transaction.atomic
def resend_invite(invite: Invite) -> Invite:
    """E-mail the invitation again with a new code: the old code stops working now. A withdrawn
    or expired invitation becomes valid again, for as long as it first was. Raises
    InviteUnusable when it was used, or has no address to send to."""
    locked = Invite.objects.select_for_update().get(pk=invite.pk)
    if locked.used_at is not None or not locked.email:
        raise InviteUnusable
    now = timezone.now()
    _cancel_emails(locked, "sent again with a new code")
    code, locked.code_hash = _new_code()
    locked.withdrawn_at = None
    locked.expires_at = now + timedelta(days=locked.valid_days)
    locked.save(update_fields=["code_hash", "withdrawn_at", "expires_at"])
    _queue_email(locked, code)
    return locked


@transaction.atomic
def withdraw_invite(invite: Invite) -> None:
    """The invitation's link stops working now (and says it was withdrawn); an e-mail of it not
    yet sent is not sent."""
    Invite.objects.filter(pk=invite.pk, withdrawn_at=None).update(withdrawn_at=timezone.now())
    invite.refresh_from_db(fields=["withdrawn_at"])
    _cancel_emails(invite, "withdrawn")


def find_invite(code: str) -> Invite | None:
    """The invitation with this code, usable or not; None for a code no one was given."""
    if not code or len(code) > 200:
        return None
    return (
        Invite.objects.select_related("created_by__clinic", "clinic", "therapist")
        .filter(code_hash=hash_code(code))
        .first()
    )


def can_be_accepted(invite: Invite) -> bool:
    """Not used, withdrawn or expired, and its sender is still active in the role that sends it
    (and, for a client invitation made by a clinic admin, the therapist still works there)."""
    return invite.is_usable and _sender_can_invite(invite)


def _sender_can_invite(invite: Invite) -> bool:
    """Whether the invitation's sender (and the therapist it is for) may still invite."""
    sender = invite.created_by
    if invite.kind == Invite.Kind.THERAPIST:
        return sender.is_active and sender.role == Role.ADMIN
    if invite.therapist_id is None:
        return sender.is_active and sender.role == Role.THERAPIST
    therapist = invite.therapist
    return (
        sender.is_active
        and sender.role == Role.ADMIN
        and therapist.is_active
        and therapist.role == Role.THERAPIST
        and therapist.clinic_id == sender.clinic_id
    )


def _lock_usable(invite: Invite) -> Invite:
    # Re-read under a row lock (PostgreSQL) or the write lock IMMEDIATE took (SQLite), so two
    # people racing with one code get one success and one refusal.
    locked = (
        Invite.objects.select_for_update(of=("self",))  # the invitation's row, not its people's
        .select_related("created_by", "therapist")
        .get(pk=invite.pk)
    )
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
    """Link the client to the therapist the invitation is for (who sent it, or for whom the
    clinic sent it), sharing `scopes`, and record their consent. Raises InviteUnusable or
    AlreadyLinked, and then nothing has changed."""
    locked = _lock_usable(invite)
    therapist_id = locked.for_therapist.pk
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
    *, invite: Invite, email: str, password: str, display_name: str, **fields
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
        **fields,
    )
    _mark_used(locked, therapist)
    return therapist


@transaction.atomic
def create_invited_client(
    *, invite: Invite, email: str, password: str, display_name: str, **fields
) -> User:
    """A client's account, made from a client invitation that can still be accepted (whether or
    not sign-up is open). The invitation stays unused until they choose what to share. Raises
    InviteUnusable (and nothing is made), or IntegrityError when the address has an account."""
    _lock_usable(invite)
    if invite.kind != Invite.Kind.CLIENT:
        raise InviteUnusable
    return User.objects.create_user(
        email, password, display_name=display_name, role=Role.CLIENT, **fields
    )


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
