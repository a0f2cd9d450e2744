"""Housekeeping that `kap worker` runs on a schedule: expired sessions, old task results, backups
to KAP_BACKUP_DIR with retention, and the daily check of the audit trail.

Each job's last run is a row of HousekeepingRun. A worker takes a due job with one conditional
UPDATE that also sets a lease: two workers, or a worker restarted half-way, never run a job twice
in one period, and a run whose worker died is taken up again once its lease has run out.

A job returns a short outcome or raises JobFailed; what it says is shown on the clinic page
(kap.ops.status), so it never names a person or holds anything they wrote.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from kap.accounts.models import Role, User
from kap.accounts.senders import sender_for
from kap.ops import backup
from kap.ops.models import HousekeepingRun

log = logging.getLogger(__name__)

BACKUP = "backup"
AUDIT = "audit_verify"


class JobFailed(Exception):
    """A job ran and found a problem; the message (short, no one's data) is its outcome."""


@dataclass(frozen=True)
class Job:
    name: str
    every: Callable[[], timedelta]  # read when it is due, so tests and settings can change it
    run: Callable[[], str]
    enabled: Callable[[], bool] = lambda: True
    lease: timedelta = timedelta(hours=2)  # a run still going after this is taken to be dead


def clear_sessions() -> str:
    from django.contrib.sessions.models import Session

    before = Session.objects.count()
    call_command("clearsessions")
    return f"{before - Session.objects.count()} expired session(s) cleared"


def prune_task_results() -> str:
    from django_tasks_db.models import DBTaskResult

    before = DBTaskResult.objects.count()
    call_command(
        "prune_db_task_results",
        "--queue-name",
        "*",
        "--min-age-days",
        str(settings.TASK_RESULTS_KEEP_DAYS),
        verbosity=0,
    )
    return f"{before - DBTaskResult.objects.count()} finished task result(s) deleted"


def backups_enabled() -> bool:
    return bool(settings.BACKUP_DIR)


def make_backup() -> str:
    folder = Path(settings.BACKUP_DIR)
    try:
        dest, size = backup.backup_into(folder)
        deleted = backup.prune_backups(folder, settings.BACKUP_KEEP)
    except backup.BackupError as e:
        raise JobFailed(f"backup not made: {e}") from None
    kept = f"; {len(deleted)} older one(s) deleted" if deleted else ""
    return f"{dest.name}, {size / 1e6:.1f} MB{kept}"


def verify_audit_trail() -> str:
    """`kap audit verify`; when the chain is broken, the clinic admins are told by e-mail."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except CommandError as e:
        summary = str(e)[:200]
        sent = alert_admins_audit_failed()
        raise JobFailed(f"{summary} ({sent})") from None
    return out.getvalue().strip()[:200] or "audit trail OK"


AUDIT_SUBJECT = "A daily check needs your attention"
AUDIT_BODY = """The daily check of the record of who looked at what found a problem: an entry
was changed or removed since it was written.

Nothing else was changed. Please log in and open the clinic page for details:

{url}

Whoever runs the server can list the entries concerned with `kap audit verify`.
"""


def alert_admins_audit_failed() -> str:
    """E-mail every active clinic admin that the audit trail failed its check. Returns a short
    outcome for the job's record. The e-mail says what to do, never what was found."""
    if "default" not in settings.MAILERS:
        log.error("The audit trail failed its check; e-mail is not set up, so no admin was told")
        return "admins not e-mailed: e-mail is not set up"
    admins = list(User.objects.filter(role=Role.ADMIN, is_active=True).select_related("clinic"))
    url = settings.BASE_URL + reverse("care:clinic")
    sent = 0
    for admin in admins:
        try:
            mail.EmailMessage(
                AUDIT_SUBJECT,
                AUDIT_BODY.format(url=url),
                from_email=sender_for(admin),
                to=[admin.email],
            ).send()
            sent += 1
        except Exception as e:
            log.error("The audit alert could not be e-mailed to an admin: %s", type(e).__name__)
    log.error("The audit trail failed its check; %s of %s admin(s) e-mailed", sent, len(admins))
    return f"{sent} of {len(admins)} admin(s) e-mailed"


def _hours(name: str) -> Callable[[], timedelta]:
    return lambda: timedelta(hours=getattr(settings, name))


JOBS: list[Job] = [
    Job("clear_sessions", lambda: timedelta(hours=6), clear_sessions),
    Job("prune_task_results", lambda: timedelta(days=1), prune_task_results),
    Job(BACKUP, _hours("BACKUP_EVERY_HOURS"), make_backup, backups_enabled),
    Job(AUDIT, lambda: timedelta(days=1), verify_audit_trail),
]


def claim(job: Job, now: datetime) -> bool:
    """Take `job` if it is due and no one else holds it. True for exactly one caller per period,
    however many workers ask at once."""
    try:
        with transaction.atomic():
            HousekeepingRun.objects.get_or_create(name=job.name)
    except IntegrityError:
        pass  # another worker made the row at the same moment
    free = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    due = (
        Q(started_at__isnull=True)
        | Q(started_at__lte=now - job.every())
        # Its worker died mid-run (the lease ran out with no finish): run it again.
        | Q(lease_until__lte=now, finished_at__isnull=True)
        | Q(lease_until__lte=now, finished_at__lt=F("started_at"))
    )
    return bool(
        HousekeepingRun.objects.filter(Q(name=job.name) & free & due).update(
            started_at=now, lease_until=now + job.lease
        )
    )


def record_outcome(name: str, *, ok: bool, message: str, started_at: datetime | None = None):
    """Note a job's outcome (also used by `kap backup` run by hand, so the clinic page shows the
    last backup however it was made). Never fails the caller: a database without the table yet
    (before `kap setup`) just has no record."""
    now = timezone.now()
    try:
        HousekeepingRun.objects.update_or_create(
            name=name,
            defaults={
                "started_at": started_at or now,
                "finished_at": now,
                "lease_until": None,
                "ok": ok,
                "message": message[:300],
            },
        )
    except DatabaseError:
        log.warning("The outcome of %s could not be recorded", name)


def run_job(job: Job, now: datetime | None = None) -> bool:
    """Run `job` if it is due and this worker claims it; True if it ran."""
    now = now or timezone.now()
    if not job.enabled() or not claim(job, now):
        return False
    try:
        message, ok = job.run(), True
    except JobFailed as e:
        message, ok = str(e), False
    except Exception as e:
        log.exception("Housekeeping job %s failed", job.name)
        message, ok = f"failed: {type(e).__name__}", False
    record_outcome(job.name, ok=ok, message=message, started_at=now)
    (log.info if ok else log.error)("Housekeeping %s: %s", job.name, message)
    return True


def run_due_jobs(now: datetime | None = None) -> list[str]:
    """Every due job, one after another; the names of those run here."""
    return [job.name for job in JOBS if run_job(job, now)]
