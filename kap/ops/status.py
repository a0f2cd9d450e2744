"""How the server is doing, for the clinic admin's page: the worker's heartbeat, the last e-mail
sent and the last that failed, the last backup, the last check of the audit trail. Nothing here
names a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from kap.ops.housekeeping import AUDIT, BACKUP
from kap.ops.models import Heartbeat, HousekeepingRun, MailStatus


def worker_stale_after() -> timedelta:
    return timedelta(minutes=settings.WORKER_STALE_MINUTES)


def heartbeat_at() -> datetime | None:
    return Heartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()


@dataclass(frozen=True)
class JobOutcome:
    at: datetime | None  # when it last finished
    ok: bool | None
    message: str


@dataclass(frozen=True)
class OpsStatus:
    now: datetime
    worker_seen_at: datetime | None
    worker_fresh: bool
    mail_set_up: bool
    mail_ok_at: datetime | None
    mail_failed_at: datetime | None
    mail_error: str
    backup_dir_set: bool
    backup: JobOutcome | None
    audit: JobOutcome | None

    @property
    def worker_age(self) -> timedelta | None:
        return self.now - self.worker_seen_at if self.worker_seen_at else None

    @property
    def mail_failing(self) -> bool:
        """The last attempt to send failed (none has succeeded since)."""
        return self.mail_failed_at is not None and (
            self.mail_ok_at is None or self.mail_failed_at > self.mail_ok_at
        )

    @property
    def problems(self) -> list[str]:
        """Short names of what needs the admin's attention, worst first."""
        out = []
        if self.audit and self.audit.ok is False:
            out.append("audit")
        if not self.worker_fresh:
            out.append("worker")
        if self.mail_failing:
            out.append("mail")
        if self.backup and self.backup.ok is False:
            out.append("backup")
        return out


def _outcome(runs: dict[str, HousekeepingRun], name: str) -> JobOutcome | None:
    run = runs.get(name)
    if run is None or run.finished_at is None:
        return None
    return JobOutcome(at=run.finished_at, ok=run.ok, message=run.message)


def current_status(now: datetime | None = None) -> OpsStatus:
    now = now or timezone.now()
    seen = heartbeat_at()
    mail = MailStatus.objects.first()
    runs = {r.name: r for r in HousekeepingRun.objects.filter(name__in=[BACKUP, AUDIT])}
    return OpsStatus(
        now=now,
        worker_seen_at=seen,
        worker_fresh=seen is not None and now - seen <= worker_stale_after(),
        mail_set_up="default" in settings.MAILERS,
        mail_ok_at=mail.last_ok_at if mail else None,
        mail_failed_at=mail.last_failed_at if mail else None,
        mail_error=mail.last_error if mail else "",
        backup_dir_set=bool(settings.BACKUP_DIR),
        backup=_outcome(runs, BACKUP),
        audit=_outcome(runs, AUDIT),
    )
