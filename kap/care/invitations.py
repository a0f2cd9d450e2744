"""Invitations by e-mail: reading a list of addresses (pasted, or a CSV file) all or nothing, the
invitations a clinic admin manages, and the e-mail that carries an invitation's code.

The e-mail is discreet: it names the clinic and the person who invites, never what the app is
for, unless the clinic wrote its own opening words (Clinic.invitation_text). It is sent by
`kap worker` (kap.care.tasks.INVITES) as the clinic's name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr

from django.core import mail
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from kap.accounts.models import Invite, Role, User
from kap.accounts.senders import sender_for
from kap.care import services
from kap.care.models import InviteEmail
from kap.lib import languages, links
from kap.lib.limits import INVITES_PER_LIST

# --- Reading a list of addresses ----------------------------------------------------------------

SEPARATORS = re.compile(r"[,;]")
SHOWN = 60  # characters of a refused piece shown back


@dataclass(frozen=True)
class Refusal:
    where: str  # "line 3", "line 3 of the file", "the file" (in the reader's language)
    text: str  # what was there (shortened)
    reason: str


@dataclass
class AddressList:
    """Addresses read from what an admin gave, in order, each once; and every piece refused."""

    addresses: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    first_seen: dict[str, str] = field(default_factory=dict)  # address → where

    def add(self, where: str, piece: str) -> None:
        shown = piece if len(piece) <= SHOWN else piece[: SHOWN - 1] + "…"
        address = _address_in(piece)
        if address is None:
            self.refused.append(Refusal(where, shown, _("This is not an e-mail address.")))
        elif address in self.first_seen:
            self.refused.append(
                Refusal(
                    where,
                    shown,
                    _("Listed twice: also on %(where)s.") % {"where": self.first_seen[address]},
                )
            )
        else:
            self.first_seen[address] = where
            self.addresses.append(address)

    def refuse(self, address: str, reason: str) -> None:
        """Refuse an address already read (e.g. it has an account), where it was read."""
        self.refused.append(Refusal(self.first_seen.get(address, ""), address, reason))

    @property
    def too_many(self) -> bool:
        return len(self.addresses) > INVITES_PER_LIST


def _address_in(piece: str) -> str | None:
    """The address in "ana@example.org" or "Ana Silva <ana@example.org>", lower-cased; None
    when there is none."""
    piece = piece.strip().strip('"').strip()
    if "<" in piece:
        piece = parseaddr(piece)[1]
    address = piece.lower()
    try:
        validate_email(address)
    except ValidationError:
        return None
    return address


def pasted_pieces(text: str) -> Iterator[tuple[str, str]]:
    """(where, piece) for each address-like piece of a pasted list: one per line, or several on
    a line separated by commas or semicolons. Blank lines are skipped."""
    # Not splitlines(): it also breaks at characters that no one sees as a line break.
    for n, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        for piece in SEPARATORS.split(line):
            if piece.strip():
                yield _("line %(n)s") % {"n": n}, piece.strip()


def csv_pieces(data: bytes) -> Iterator[tuple[str, str | None]]:
    """(where, piece) for a CSV file: every cell holding an "@" is an address. A first row with
    none is a header and skipped; a later row with none yields (where, None)."""
    text = data.decode("utf-8-sig")  # UnicodeDecodeError: the caller says so
    reader = csv.reader(io.StringIO(text, newline=""))
    first = True
    for row in reader:
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        where = _("line %(n)s of the file") % {"n": reader.line_num}
        found = [c for c in cells if "@" in c]
        if not found and not first:
            yield where, None
        first = False
        for cell in found:
            yield where, cell


def read_addresses(pasted: str, upload: bytes | None) -> AddressList:
    """Every address in the pasted text and the CSV file, each once, with every piece that is
    not one. A file that is not UTF-8 text or not CSV is refused as a whole."""
    found = AddressList()
    for where, piece in pasted_pieces(pasted or ""):
        found.add(where, piece)
    if upload is not None:
        try:
            for where, piece in csv_pieces(upload):
                if piece is None:
                    found.refused.append(Refusal(where, "", _("There is no e-mail address here.")))
                else:
                    found.add(where, piece)
        except UnicodeDecodeError:
            found.refused.append(
                Refusal(
                    _("the file"),
                    "",
                    _("It is not UTF-8 text: save it as “CSV UTF-8” and try again."),
                )
            )
        except csv.Error as e:
            found.refused.append(
                Refusal(
                    _("the file"), "", _("It could not be read as CSV (%(error)s).") % {"error": e}
                )
            )
    return found


# --- What a clinic admin manages ----------------------------------------------------------------


def managed_invites(admin: User) -> QuerySet[Invite]:
    """The invitations a clinic admin sees and manages: their clinic's, made by its admins (to
    therapists, and to clients for one of its therapists). A therapist's own invitations to
    their clients are the therapist's."""
    if admin.clinic_id is None:
        return Invite.objects.none()
    return Invite.objects.filter(clinic_id=admin.clinic_id).filter(
        Q(kind=Invite.Kind.THERAPIST) | Q(kind=Invite.Kind.CLIENT, created_by__role=Role.ADMIN)
    )


def waiting(invites: QuerySet[Invite], now: datetime | None = None) -> QuerySet[Invite]:
    """Those that can still be used (not used, withdrawn or expired)."""
    return invites.filter(used_at=None, withdrawn_at=None, expires_at__gt=now or timezone.now())


def with_last_email(invites: QuerySet[Invite]) -> QuerySet[Invite]:
    """Each invitation with how its latest e-mail went (`email_status`, `email_sent_at`,
    `email_error`; None when it was never e-mailed)."""
    last = InviteEmail.objects.filter(invite=OuterRef("pk")).order_by("-pk")
    return invites.annotate(
        email_status=Subquery(last.values("status")[:1]),
        email_sent_at=Subquery(last.values("sent_at")[:1]),
        email_error=Subquery(last.values("last_error")[:1]),
    )


@dataclass(frozen=True)
class Summary:
    waiting: int
    joined: int
    not_delivered: int


def summary(invites: QuerySet[Invite]) -> Summary:
    now = timezone.now()
    counts = invites.aggregate(
        joined=Count("pk", filter=Q(used_at__isnull=False)),
        waiting=Count("pk", filter=Q(used_at=None, withdrawn_at=None, expires_at__gt=now)),
    )
    failed = (
        with_last_email(invites.filter(used_at=None, withdrawn_at=None))
        .filter(email_status=InviteEmail.Status.FAILED)
        .count()
    )
    return Summary(counts["waiting"], counts["joined"], failed)


# --- The e-mail ---------------------------------------------------------------------------------


def still_valid(row: InviteEmail) -> bool:
    """Whether this e-mail's code still opens its invitation: not withdrawn, used, expired or
    sent again with a new code since, and its sender may still invite."""
    invite = row.invite
    return (
        row.code is not None
        and services.hash_code(row.code) == invite.code_hash
        and services.can_be_accepted(invite)
    )


def standard_opening(invite: Invite) -> str:
    """The first words of an invitation e-mail when the clinic has not written its own."""
    clinic = invite.clinic_name
    if invite.kind == Invite.Kind.THERAPIST:
        if clinic:
            return _(
                "%(inviter)s invites you to create a therapist account with %(clinic)s. Right "
                "after creating it, you will set up two-step login with an authenticator app."
            ) % {"inviter": invite.created_by, "clinic": clinic}
        return _(
            "%(inviter)s invites you to create a therapist account. Right after creating it, "
            "you will set up two-step login with an authenticator app."
        ) % {"inviter": invite.created_by}
    therapist = invite.for_therapist
    if clinic:
        return _(
            "%(therapist)s at %(clinic)s invites you to create an account and link it with them. "
            "You choose what, if anything, they can see, and you can change that or end the link "
            "at any time."
        ) % {"therapist": therapist, "clinic": clinic}
    return _(
        "%(therapist)s invites you to create an account and link it with them. You choose what, "
        "if anything, they can see, and you can change that or end the link at any time."
    ) % {"therapist": therapist}


def subject(invite: Invite) -> str:
    clinic = invite.clinic_name
    if invite.kind == Invite.Kind.THERAPIST:
        if clinic:
            return _("An invitation to join %(clinic)s") % {"clinic": clinic}
        return _("An invitation to join your clinic")
    return _("An invitation from %(sender)s") % {"sender": clinic or invite.for_therapist}


def invitation_message(row: InviteEmail) -> mail.EmailMessage:
    """The e-mail, made by the worker outside any request: in the language of the person who
    invites (the invitee has no account, so no language of their own yet)."""
    invite = row.invite
    with languages.speaking(invite.created_by):
        return _invitation_message(row, invite)


def _invitation_message(row: InviteEmail, invite: Invite) -> mail.EmailMessage:
    clinic = invite.inviting_clinic
    own = (clinic.invitation_text or "").strip() if clinic else ""
    expires = formats.date_format(timezone.localtime(invite.expires_at), _("j F Y"))
    body = render_to_string(
        "email/invitation.txt",
        {
            "opening": own or standard_opening(invite),
            # Sent by the worker, with no request: on KAP_BASE_URL (kap.lib.links).
            "link": links.absolute(reverse("invite", args=[row.code])),
            "code_url": links.absolute(reverse("invite-code")),
            "code": row.code,
            "expires": expires,
        },
    )
    return mail.EmailMessage(
        subject(invite),
        body,
        from_email=sender_for(invite.created_by),
        to=[row.to],
        # Auto-Submitted keeps out-of-office replies from answering it (RFC 3834).
        headers={"Message-ID": row.message_id, "Auto-Submitted": "auto-generated"},
    )
