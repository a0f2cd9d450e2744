"""The audit trail: one row per read or export of client data by a therapist or admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from kap.care.models import AuditEntry

GENESIS = "0" * 64


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by whoever sends the request. Behind a trusted
    # proxy, set KAP_TRUSTED_PROXY so the proxy's header is used (see README).
    from django.conf import settings

    if getattr(settings, "TRUSTED_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


# The chain has one writer at a time, on every database (a security invariant: kept here only).
CHAIN_LOCK = 7266001


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
        entry.hash = prev = entry.compute_hash()
        entries.append(entry)
    return AuditEntry.objects.bulk_create(entries)


def record(*, actor, subject, action: str, what: str, ip: str | None) -> AuditEntry:
    """Append one row to the chain."""
    (entry,) = record_many(actor=actor, subjects=[subject], action=action, what=what, ip=ip)
    return entry


def record_request(request, *, subject, what: str, action: str = "view") -> AuditEntry:
    return record(
        actor=request.user, subject=subject, action=action, what=what, ip=client_ip(request)
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
    """Walk the chain. Returns (rows checked, problems): an edited row has the wrong hash, a
    deleted row leaves the next row pointing at a hash that is not its predecessor's."""
    problems: list[Problem] = []
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
        if entry.compute_hash() != entry.hash:
            problems.append(Problem(entry.pk, "its contents do not match its hash (it was edited)"))
        prev = entry.hash
    return count, problems
