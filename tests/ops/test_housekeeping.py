"""The worker's heartbeat and housekeeping: each job once per period however many workers ask,
backups into KAP_BACKUP_DIR with retention, and the daily audit check that tells the admins."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from kap import cli
from kap.ops import backup, housekeeping
from kap.ops.housekeeping import AUDIT, BACKUP, JOBS, Job, claim, run_due_jobs, run_job
from kap.ops.models import Heartbeat, HousekeepingRun
from kap.ops.status import current_status
from tests.children import kap

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def counting_job(name="test_job", every=timedelta(hours=1)):
    runs = []

    def run():
        runs.append(1)
        return f"run {len(runs)}"

    return Job(name, lambda: every, run), runs


def test_a_job_runs_once_per_period(db):
    job, runs = counting_job()
    now = timezone.now()
    assert run_job(job, now) is True
    assert run_job(job, now) is False  # a second worker, or the same one a minute later
    assert run_job(job, now + timedelta(minutes=59)) is False
    assert run_job(job, now + timedelta(minutes=61)) is True
    assert runs == [1, 1]
    row = HousekeepingRun.objects.get(name="test_job")
    assert row.ok is True and row.message == "run 2" and row.lease_until is None


def test_only_one_of_two_workers_claims_a_due_job(db):
    job, _ = counting_job()
    now = timezone.now()
    assert [claim(job, now), claim(job, now)] == [True, False]


def test_a_run_whose_worker_died_is_taken_up_after_its_lease(db):
    job, runs = counting_job()
    now = timezone.now()
    assert claim(job, now)  # ... and the worker is killed before it finishes
    assert run_job(job, now + timedelta(minutes=30)) is False  # still leased
    assert run_job(job, now + job.lease + timedelta(seconds=1)) is True
    assert runs == [1]


def test_a_failing_job_is_recorded_and_not_retried_within_its_period(db):
    def broken():
        raise RuntimeError("disk on fire")

    job = Job("broken", lambda: timedelta(hours=1), broken)
    now = timezone.now()
    assert run_job(job, now)
    row = HousekeepingRun.objects.get(name="broken")
    assert row.ok is False and row.message == "failed: RuntimeError"
    assert not run_job(job, now + timedelta(minutes=5))


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_run_a_job_once(db):
    """Real threads, each with its own database connection, asking at the same moment."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections: PostgreSQL (SQLite's test database is in memory)")
    job, runs = counting_job("race")
    now = timezone.now()
    start = threading.Barrier(4)
    results = []

    def worker():
        start.wait()
        try:
            results.append(run_job(job, now))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert runs == [1]


def test_the_jobs_of_a_first_run(db, settings, tmp_path, make_user):
    """Sessions and task results are cleared; without KAP_BACKUP_DIR no backup is tried."""
    from django.contrib.sessions.backends.db import SessionStore
    from django_tasks_db.models import DBTaskResult

    from kap.journal.tasks import send_due_reminders

    settings.BACKUP_DIR = ""
    expired = SessionStore()
    expired["x"] = 1
    expired.set_expiry(-10)
    expired.save()
    send_due_reminders.enqueue()
    DBTaskResult.objects.update(
        status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=30)
    )

    ran = run_due_jobs()
    assert ran == ["clear_sessions", "prune_task_results", AUDIT]
    assert not DBTaskResult.objects.exists()
    assert HousekeepingRun.objects.get(name="clear_sessions").message.startswith("1 expired")
    assert run_due_jobs() == []
    assert {j.name for j in JOBS} == {"clear_sessions", "prune_task_results", BACKUP, AUDIT}


# --- Backups -----------------------------------------------------------------------------------


def test_retention_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path):
    names = [
        "kap-backup-20260101-010000.sqlite3",
        "kap-backup-20260102-010000.sqlite3",
        "kap-backup-20260103-010000.dump",
        "kap-backup-20260104-010000.sqlite3",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "kap-backup-manual.sqlite3").write_bytes(b"x")

    deleted = backup.prune_backups(tmp_path, keep=2)

    assert sorted(p.name for p in deleted) == names[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[2:], "notes.txt", "kap-backup-manual.sqlite3"]
    )
    with pytest.raises(backup.BackupError):
        backup.prune_backups(tmp_path, keep=0)


def test_the_worker_backs_up_into_the_folder_once_a_day_with_retention(set_up_data_dir, tmp_path):
    """`kap worker --once` as cron or a timer runs it, on a real SQLite data dir."""
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in range(1, 4):
        (folder / f"kap-backup-2026010{day}-030000.sqlite3").write_bytes(b"old")
    env = {"KAP_BACKUP_DIR": str(folder), "KAP_BACKUP_KEEP": "2"}

    first = kap(set_up_data_dir, "worker", "--once", **env)
    assert first.returncode == 0, first.stderr[-2000:]
    made = sorted(p.name for p in folder.iterdir())
    assert len(made) == 2 and made[0] == "kap-backup-20260103-030000.sqlite3"
    newest = folder / made[1]
    backup.check_kap_sqlite(newest)  # a real, sound backup of the database

    second = kap(set_up_data_dir, "worker", "--once", **env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == made  # not again within the day

    from tests.children import run_python

    shown = run_python(
        set_up_data_dir,
        "import json; from kap.ops.status import current_status\n"
        "s = current_status()\n"
        "print(json.dumps([s.backup.ok, s.backup.message, s.worker_fresh, s.audit.ok]))",
    )
    ok, message, fresh, audit_ok = json.loads(shown.stdout.strip().splitlines()[-1])
    assert ok is True and message.startswith(newest.name) and "2 older one(s) deleted" in message
    assert fresh is True and audit_ok is True


def test_a_backup_that_cannot_be_made_is_recorded_as_failed(db, settings, tmp_path):
    settings.BACKUP_DIR = str(tmp_path / "missing")
    job = next(j for j in JOBS if j.name == BACKUP)
    assert run_job(job)
    status = current_status()
    assert status.backup.ok is False and "does not exist" in status.backup.message
    assert "backup" in status.problems


def test_the_backup_job_on_postgresql(db, settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump: runs when DATABASE_URL points at PostgreSQL")
    settings.BACKUP_DIR = str(tmp_path)
    settings.BACKUP_KEEP = 1
    job = next(j for j in JOBS if j.name == BACKUP)
    assert run_job(job)
    (made,) = list(tmp_path.iterdir())
    backup.check_pg_dump(made)
    assert current_status().backup.ok is True


# --- The audit trail's daily check ---------------------------------------------------------------


@pytest.fixture
def broken_chain(make_user, clinic):
    from kap.care import audit
    from kap.care.models import AuditEntry

    therapist = make_user("dr.lee@example.com", role="therapist", clinic=clinic)
    client = make_user("alex@example.com", display_name="Alex Client")
    for _ in range(3):
        audit.record(actor=therapist, subject=client, action="view", what="timeline", ip=None)
    AuditEntry.objects.filter(pk=AuditEntry.objects.order_by("pk")[1].pk).update(what="edited")


def test_a_failed_audit_check_alerts_the_admins_discreetly_and_shows_on_the_page(
    broken_chain, clinic_admin, as_admin, make_user, settings
):
    settings.MAILERS = LOCMEM
    settings.SMTP_HOST = "127.0.0.1"
    make_user("other.admin@example.com", role="admin", is_active=False)
    job = next(j for j in JOBS if j.name == AUDIT)

    assert run_job(job)

    (message,) = mail.outbox  # the active admin only; the therapist and client are not told
    assert message.to == [clinic_admin.email]
    assert "Lakeside Clinic" in message.from_email
    text = f"{message.subject}\n{message.body}".lower()
    for word in ("ketamine", "kap", "alex", "dr.lee", "timeline", "edited", "row "):
        assert word not in text.replace("kap audit verify", ""), word
    assert "/care/clinic/" in message.body
    row = HousekeepingRun.objects.get(name=AUDIT)
    assert row.ok is False and "1 of 1 admin(s) e-mailed" in row.message

    page = as_admin.get("/care/clinic/").content.decode()
    assert "The daily check of the audit trail found a problem" in page
    assert "Problem found" in page


def test_an_intact_audit_trail_is_shown_as_such_and_nobody_is_e_mailed(as_admin, settings, db):
    settings.MAILERS = LOCMEM
    assert run_job(next(j for j in JOBS if j.name == AUDIT))
    assert mail.outbox == []
    assert current_status().audit.ok is True
    page = as_admin.get("/care/clinic/").content.decode()
    assert "Intact" in page and "found a problem" not in page


# --- Heartbeat ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("worker_cleanup")
def test_kap_worker_once_beats_and_readyz_then_answers_ok(client, monkeypatch, settings, guide):
    monkeypatch.setattr(cli, "_django", lambda: None)
    settings.BACKUP_DIR = ""
    from kap.ops import views

    views.forget_cached_checks()
    assert client.get("/readyz").status_code == 503
    before = timezone.now()

    assert cli.main(["worker", "--once"]) == 0

    beat = Heartbeat.objects.get()
    assert beat.beat_at >= before and beat.pid
    assert client.get("/readyz").status_code == 200
    assert HousekeepingRun.objects.filter(name=AUDIT, ok=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_running_worker_beats_from_its_own_thread():
    from kap.ops import worker

    stop = worker.start(heartbeat_seconds=0.05, housekeeping_seconds=3600)
    try:
        deadline = timezone.now() + timedelta(seconds=10)
        while not Heartbeat.objects.exists() and timezone.now() < deadline:
            threading.Event().wait(0.05)
        first = Heartbeat.objects.get().beat_at
        while Heartbeat.objects.get().beat_at == first and timezone.now() < deadline:
            threading.Event().wait(0.05)
        assert Heartbeat.objects.get().beat_at > first  # it keeps beating
    finally:
        stop.set()


def test_housekeeping_outcomes_name_no_one(db, broken_chain, settings, clinic_admin):
    settings.MAILERS = LOCMEM
    settings.BACKUP_DIR = ""
    run_due_jobs()
    for row in HousekeepingRun.objects.all():
        for word in ("alex", "dr.lee", "admin@example.com", "timeline"):
            assert word not in row.message.lower(), (row.name, row.message)
    assert housekeeping.AUDIT_SUBJECT.lower().count("kap") == 0
