"""The audit trail: one row per read or export of client data by a therapist or admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kap.care.models import AuditEntry
from kap.lib.addresses import request_ip

GENESIS = "0" * 64


# The chain has one writer at a time, on every database (a security invariant: kept here only).
CHAIN_LOCK = 7266001
# The chain's hashes and the address digests are HMACs under a key derived from KAP_SECRET_KEY
# (kept outside the database, like the encryption keys): whoever can write to the database but
# does not hold the key cannot rebuild the chain after an edit. A previous KAP_SECRET_KEY kept in
# KAP_SECRET_KEY_FALLBACKS still verifies the rows written under it.
CHAIN_SALT = "kap.care.audit.chain"
IDENTITY_SALT = "kap.care.audit.identity"


def _mac(salt: str, value: str | bytes, secret: str) -> str:
    return salted_hmac(salt, value, secret=secret, algorithm="sha256").hexdigest()


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def seal(entry: AuditEntry, *, secret: str | None = None) -> str:
    """Fill the entry's address digests and its hash (after prev_hash); return the hash."""
    secret = secret or settings.SECRET_KEY
    entry.actor_digest = _mac(IDENTITY_SALT, entry.actor_email.lower(), secret)
    entry.ip_digest = _mac(IDENTITY_SALT, entry.ip or "", secret)
    entry.hash = _mac(CHAIN_SALT, entry.payload(), secret)
    return entry.hash


def erase_identity(user) -> int:
    """Blank the e-mail and network address of rows the person wrote themselves (their consent
    choices), for erasure; their digests stay, so the chain still verifies. Returns how many."""
    return (
        AuditEntry.objects.filter(Q(actor=user) | Q(actor_email__iexact=user.email))
        .exclude(actor_email="", ip=None)
        .update(actor_email="", ip=None)
    )


@transaction.atomic
def record_many(
    *, actor, subjects: list, action: str, what: str, ip: str | None
) -> list[AuditEntry]:
    """Append one row per subject to the chain, in one INSERT. Writers are serialised so the
    chain never forks."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK])
    # (SQLite: transactions are IMMEDIATE, so writers are already one at a time.)
    prev = AuditEntry.objects.order_by("-pk").values_list("hash", flat=True).first() or GENESIS
    now = timezone.now()
    entries = []
    for subject in subjects:
        entry = AuditEntry(
            actor=actor,
            actor_email=actor.email,
            subject=subject,
            subject_label=str(subject.pk) if subject else "",
            action=action,
            what=what,
            ip=ip,
            created_at=now,
            prev_hash=prev,
        )
        prev = seal(entry)
        entries.append(entry)
    return AuditEntry.objects.bulk_create(entries)


def record(*, actor, subject, action: str, what: str, ip: str | None) -> AuditEntry:
    """Append one row to the chain."""
    (entry,) = record_many(actor=actor, subjects=[subject], action=action, what=what, ip=ip)
    return entry


def record_request(request, *, subject, what: str, action: str = "view") -> AuditEntry:
    return record(
        actor=request.user, subject=subject, action=action, what=what, ip=request_ip(request)
    )


def record_translation_review(sender, *, review, request, **kwargs) -> None:
    """Receiver of kap.content.signals.translation_reviewed (connected in kap.care.apps): a
    clinic admin's word that a translation was reviewed goes into the audit trail."""
    record_request(
        request,
        subject=None,
        action="review",
        what=f"{review.language} translation of pack {review.pack_key} v{review.pack_version}",
    )


def views_by_others(client) -> QuerySet[AuditEntry]:
    """What other people read or exported of the client's data, newest first. The client's own
    consent changes are in the same trail; they are left out."""
    return (
        AuditEntry.objects.filter(subject=client)
        .exclude(actor=client)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )


@dataclass
class Problem:
    entry_id: int | None
    reason: str

    def __str__(self) -> str:
        return f"row {self.entry_id}: {self.reason}" if self.entry_id else self.reason


def verify() -> tuple[int, list[Problem]]:
    """Walk the chain. Returns (rows checked, problems): an edited row has the wrong hash (and a
    chain rebuilt without the key has wrong hashes throughout), a deleted row leaves the next row
    pointing at a hash that is not its predecessor's, a changed address no longer matches its
    digest. An address blanked by erasure is not a problem."""
    problems: list[Problem] = []
    secrets = _secrets()
    prev = GENESIS
    count = 0
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        count += 1
        if entry.prev_hash != prev:
            problems.append(
                Problem(
                    entry.pk, "does not follow the row before it (a row was deleted or reordered)"
                )
            )
        payload = entry.payload()
        secret = next((s for s in secrets if _mac(CHAIN_SALT, payload, s) == entry.hash), None)
        if secret is None:
            problems.append(
                Problem(
                    entry.pk,
                    "its contents do not match its hash (it was edited, or the chain was rebuilt"
                    " without the key)",
                )
            )
        elif (
            entry.actor_email
            and _mac(IDENTITY_SALT, entry.actor_email.lower(), secret) != entry.actor_digest
        ) or (entry.ip and _mac(IDENTITY_SALT, entry.ip, secret) != entry.ip_digest):
            problems.append(Problem(entry.pk, "its e-mail or network address was changed"))
        prev = entry.hash
    return count, problems
