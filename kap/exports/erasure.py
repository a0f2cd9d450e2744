"""Erasing a person who deletes their account: every row, every file, then the SQLite file
compacted so that deleted pages (plain metadata such as a clinician's name or an instrument key)
do not linger on disk.

`erase_client(user)` is the one entry point. Rows go by CASCADE from the user (tests/data checks
every model with a foreign key to the user, including ones added later). Files in the person's
own folder, `client_files_dir(user)`, are removed with it.

Rows without a foreign key that name the person are deleted here too: invitations sent to their
address, django-axes sign-in records (by e-mail) and their database sessions.

Kept on purpose: the therapists' audit trail (`care.AuditEntry`, chained by a keyed hash, so rows
are never deleted). It names the person by a number only, the link to them is set to NULL, and
the e-mail and network address of the rows they wrote themselves (their consent choices) are
blanked: the chain covers keyed digests of those, so it still verifies.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger(__name__)


def client_files_dir(user) -> Path:
    """Where files that belong to one person are kept (none yet), so erasure finds them all."""
    return Path(settings.DATA_DIR) / "clients" / str(user.pk)


def erase_client(user) -> None:
    """Delete the person and everything of theirs. Irreversible."""
    folder = client_files_dir(user)
    with _secure_delete():
        _delete_rows(user)
    if folder.exists():
        shutil.rmtree(folder)
    compact_database()


@transaction.atomic
def _delete_rows(user) -> None:
    from kap.accounts.models import Invite
    from kap.care.audit import erase_identity

    # Invitations addressed to the person keep their e-mail address: they go too.
    Invite.objects.filter(Q(used_by=user) | Q(email__iexact=user.email)).delete()
    erase_identity(user)
    _delete_sign_in_records(user)
    _delete_sessions(user)
    user.delete()


def _delete_sign_in_records(user) -> None:
    """django-axes logs sign-ins and failed attempts by e-mail address, with no foreign key."""
    if not apps.is_installed("axes"):
        return
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(username__iexact=user.email).delete()


def _delete_sessions(user) -> None:
    """Log the person out everywhere (database sessions name the user's id)."""
    stale = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if s.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    Session.objects.filter(pk__in=stale).delete()


class _secure_delete:
    """On SQLite, have deleted content overwritten with zeros instead of left in free pages."""

    def __enter__(self):
        self.before = None
        if connection.vendor == "sqlite":
            with connection.cursor() as cur:
                cur.execute("PRAGMA secure_delete")
                self.before = cur.fetchone()[0]
                cur.execute("PRAGMA secure_delete = ON")
        return self

    def __exit__(self, *exc):
        if self.before is not None and connection.connection is not None:
            with connection.cursor() as cur:
                cur.execute(f"PRAGMA secure_delete = {int(self.before)}")
        return False


def compact_database() -> bool:
    """SQLite only, and only outside a transaction: move the WAL into the database file, rebuild
    the file (VACUUM), and empty the WAL again. Returns whether it ran.

    (PostgreSQL reclaims deleted rows with autovacuum; the free text was encrypted anyway.)
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return False
    with connection.cursor() as cur:
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.execute("VACUUM")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cur.fetchone()[0]
    if busy:
        # Another connection was reading; its next checkpoint finishes the job.
        log.warning("erasure: the WAL could not be emptied at once (a reader was busy)")
    return True
