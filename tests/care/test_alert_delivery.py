"""A safety alert's e-mail is never left undelivered and unreported (kap.care.tasks).

The first tests run the real `kap worker` in child processes against a data dir of their own
(and, on the PostgreSQL pass, a PostgreSQL database of their own) and a real SMTP server
(aiosmtpd) in this process: a worker killed with SIGKILL while it is
sending (the server holds the message without answering) leaves the alert to the next worker,
which sends it once its lease runs out, with the same Message-ID. The others run in this
process against a real SMTP server too: failures are retried, then reported on the roster, on
the clinic page and in the log; an alert raised without a mail server is sent once there is one.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from kap.care import tasks
from kap.care.models import AlertNotification
from tests.care.conftest import phq9_answers, verify
from tests.care.helpers import body
from tests.children import KAP, ROOT, child_env, read_rows, run_python
from tests.reminders.conftest import Inbox, free_port, smtp_mailers

# Nothing of the client's may reach an e-mail or a log line.
CLIENT_NAME = "Robin Marsh-Canary"
MESSAGE_ID = re.compile(r"^<alert-(\d+)\.[0-9a-f]{20}@localhost>$")


class MailServer(Inbox):
    """Keeps the Message-ID of every message it is handed (`seen`), accepted or not. With
    `stall_first`, the first message is never answered: its sender waits, mid-send."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []
        self.stall_first = False
        self.stalled = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.seen.append(str(msg["Message-ID"]))
        if self.stall_first and not self.stalled.is_set():
            self.stalled.set()
            await asyncio.sleep(3600)  # cancelled when the sender's connection drops
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mail_server():
    from aiosmtpd.controller import Controller

    server = MailServer()
    server.port = free_port()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def wait_for(predicate, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            detail = f"\nworker log:\n{log.read_text()[-3000:]}" if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}{detail}")
        time.sleep(0.05)


# --- Real worker processes ----------------------------------------------------------------------

RAISE_ALERT = """
import json
from kap.accounts.models import CareLink, Scope, User
from kap.care.models import AlertNotification
from kap.content.models import Instrument
from kap.journal.services import submit_response

client = User.objects.create_user("robin@example.com", display_name={name!r})
therapist = User.objects.create_user("dr.lee@example.com", role="therapist")
CareLink.objects.create(client=client, therapist=therapist, scopes=list(Scope.values))
submit_response(
    client=client,
    instrument=Instrument.objects.current().get(key="phq9"),
    session=None,
    answers=json.loads({answers!r}),
)
print(AlertNotification.objects.get().pk)
"""


def raise_alert(data_dir: Path, database: dict[str, str]) -> int:
    """A client's positive PHQ-9 item 9, submitted as the journal does: the alert's e-mail is
    queued for the worker."""
    script = RAISE_ALERT.format(name=CLIENT_NAME, answers=json.dumps(phq9_answers(6, item9=1)))
    return int(run_python(data_dir, script, **database).stdout.strip().splitlines()[-1])


def worker_env(data_dir: Path, database: dict[str, str], smtp_port: int | None) -> dict[str, str]:
    env = child_env(
        data_dir,
        **database,
        KAP_ALERT_EMAIL_LEASE_SECONDS="2",
        KAP_ALERT_EMAIL_SWEEP_SECONDS="1",
        KAP_BASE_URL="https://kap.example.org",
    )
    env.pop("KAP_SMTP_HOST", None)
    if smtp_port is not None:
        env.update(KAP_SMTP_HOST="127.0.0.1", KAP_SMTP_PORT=str(smtp_port), KAP_SMTP_TLS="False")
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "a") as out:
        return subprocess.Popen(
            [str(KAP), "worker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def stored(data_dir: Path, database: dict[str, str], pk: int) -> dict:
    """The notification's row as stored (read raw, not through the app)."""
    (row,) = read_rows(
        data_dir, database, "SELECT * FROM care_alertnotification WHERE id = ?", [pk]
    )
    return row


def test_a_worker_killed_mid_send_is_followed_by_one_that_sends_the_same_message(
    set_up_data_dir, child_database, mail_server, tmp_path
):
    data_dir, db, log = set_up_data_dir, child_database, tmp_path / "worker.log"
    pk = raise_alert(data_dir, db)
    env = worker_env(data_dir, db, mail_server.port)
    mail_server.stall_first = True

    first = start_worker(env, log)
    try:
        # The server has the whole message and does not answer: the worker is mid-send.
        wait_for(mail_server.stalled.is_set, 60, "the first worker to send", log)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    left = stored(data_dir, db, pk)
    assert (left["status"], left["attempts"]) == ("sending", 1)
    assert mail_server.messages == []

    second = start_worker(env, log)
    try:
        # Its lease (2 s here) runs out; the restarted worker's sweep sends it again.
        wait_for(lambda: mail_server.messages, 30, "the restarted worker to send", log)
        wait_for(lambda: stored(data_dir, db, pk)["status"] == "sent", 10, "the row to say sent")
        time.sleep(1.2)  # another sweep: nothing is sent twice
    finally:
        stop_worker(second)

    done = stored(data_dir, db, pk)
    assert (done["status"], done["attempts"]) == ("sent", 2)
    assert len(mail_server.messages) == 1
    # Both attempts carried the same Message-ID, derived from the notification.
    assert mail_server.seen == [done["message_id"]] * 2
    assert MESSAGE_ID.match(done["message_id"]).group(1) == str(pk)
    message = mail_server.messages[0]
    assert message["To"] == "dr.lee@example.com"
    assert "https://kap.example.org/care/" in message.get_content()
    output = log.read_text()
    assert "stopped before it finished" in output
    for private in (CLIENT_NAME, "robin@example.com"):
        assert private not in output
        assert private not in message.as_string()


def test_an_alert_raised_without_e_mail_is_sent_once_e_mail_is_set_up(
    set_up_data_dir, child_database, mail_server
):
    data_dir, db = set_up_data_dir, child_database
    pk = raise_alert(data_dir, db)

    def worker_once(smtp_port):
        result = subprocess.run(
            [str(KAP), "worker", "--once"],
            env=worker_env(data_dir, db, smtp_port),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    output = worker_once(None)
    assert stored(data_dir, db, pk)["status"] == "unsent"
    assert "E-mail is not set up (KAP_SMTP_HOST)" in output

    output = worker_once(mail_server.port)  # the operator sets KAP_SMTP_HOST up

    row = stored(data_dir, db, pk)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert [m["Message-ID"] for m in mail_server.messages] == [row["message_id"]]
    assert CLIENT_NAME not in output


# --- In this process (SQLite and PostgreSQL) ----------------------------------------------------


@pytest.fixture
def alert(client_user, linked, submit, django_capture_on_commit_callbacks):
    """Robin's positive PHQ-9 item 9; the queued task is not run (the tests run it)."""
    client_user.display_name = CLIENT_NAME
    client_user.save()
    with django_capture_on_commit_callbacks(execute=False):
        submit(client_user, "phq9", phq9_answers(6, item9=1))
    return AlertNotification.objects.get()


@pytest.fixture
def as_admin(clinic_admin):
    return verify(Client(), clinic_admin)


def roster(as_therapist) -> str:
    return body(as_therapist.get("/care/"))


def clinic_page(as_admin) -> str:
    return body(as_admin.get("/care/clinic/"))


def test_after_the_last_attempt_fails_the_alert_says_e_mail_not_delivered_everywhere(
    settings, mail_server, alert, as_therapist, as_admin, caplog
):
    settings.MAILERS = smtp_mailers(mail_server.port)
    settings.ALERT_EMAIL_ATTEMPTS = 3
    settings.ALERT_EMAIL_RETRY_SECONDS = 0  # no backoff in the test: each retry is due at once
    mail_server.refuse = True

    with caplog.at_level(logging.INFO, logger="kap.care.tasks"):
        assert tasks.send_alert_email.call(alert.pk) == "failed: will retry"
        assert "Not delivered" not in roster(as_therapist)  # still being tried
        assert tasks.sweep_alerts() == 1  # attempt 2
        assert tasks.sweep_alerts() == 1  # attempt 3, the last
        assert tasks.sweep_alerts() == 0

    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("failed", 3)
    assert "SMTPDataError 554" in alert.last_error
    assert len(mail_server.seen) == 3 and set(mail_server.seen) == {alert.message_id}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        f"Safety-alert e-mail for notification {alert.pk} was NOT delivered after 3 attempts "
        "(last: SMTPDataError 554). The alert shows as 'e-mail not delivered' on the "
        "therapist's roster and the clinic page."
    ]
    for private in (CLIENT_NAME, "client@example.com", "PHQ"):
        assert private not in caplog.text

    page = roster(as_therapist)
    assert "Alert: 1 open" in page and "E-mail not delivered" in page
    page = clinic_page(as_admin)
    assert "1 e-mail not delivered" in page
    assert CLIENT_NAME not in page and "client@example.com" not in page

    # Once the therapist has seen the alert, their roster no longer flags its e-mail; the clinic
    # page still does not call it delivered (the mail server may still need the admin).
    as_therapist.post(f"/care/alerts/{alert.event_id}/acknowledge/")
    assert "E-mail not delivered" not in roster(as_therapist)
    page = clinic_page(as_admin)
    assert "1 alert acknowledged, its e-mail not delivered" in page
    assert "All delivered" not in page and "1 e-mail not delivered" not in page


def test_an_acknowledged_alert_counts_as_delivered_only_once_its_e_mail_is_sent(
    settings, mail_server, alert, as_therapist, as_admin
):
    settings.MAILERS = {}
    tasks.send_alert_email.call(alert.pk)
    as_therapist.post(f"/care/alerts/{alert.event_id}/acknowledge/")

    page = clinic_page(as_admin)
    assert "1 alert acknowledged, its e-mail not delivered" in page
    assert "All delivered" not in page and "1 not e-mailed" not in page

    settings.MAILERS = smtp_mailers(mail_server.port)
    assert tasks.sweep_alerts() == 1  # acknowledged or not, it is sent once e-mail is set up

    alert.refresh_from_db()
    assert alert.status == "sent"
    assert [m["Message-ID"] for m in mail_server.messages] == [alert.message_id]
    page = clinic_page(as_admin)
    assert "All delivered" in page and "e-mail not delivered" not in page


def test_an_alert_raised_without_a_mailer_is_reported_then_sent_when_one_is_set_up(
    settings, mail_server, alert, as_therapist, as_admin
):
    settings.MAILERS = {}
    assert tasks.send_alert_email.call(alert.pk) == "not sent: e-mail is not set up"
    assert tasks.sweep_alerts() == 0  # nothing to do without a mail server

    assert "Not e-mailed: e-mail is not set up" in roster(as_therapist)
    page = clinic_page(as_admin)
    assert "E-mail is not set up" in page
    assert "1 not e-mailed: e-mail is not set up" in page

    settings.MAILERS = smtp_mailers(mail_server.port)
    assert tasks.sweep_alerts() == 1

    alert.refresh_from_db()
    assert (alert.status, alert.attempts) == ("sent", 1)
    assert [m["Message-ID"] for m in mail_server.messages] == [alert.message_id]
    assert "e-mail is not set up" not in roster(as_therapist)
    page = clinic_page(as_admin)
    assert "All delivered" in page and "E-mail is not set up" not in page


def test_a_roster_row_that_does_not_share_alerts_says_nothing_of_their_e_mail(
    settings, alert, linked, as_therapist
):
    settings.MAILERS = {}
    tasks.send_alert_email.call(alert.pk)
    linked.scopes = ["scores"]
    linked.save()

    page = roster(as_therapist)

    assert "not shared" in page
    assert "Not e-mailed" not in page and "E-mail not delivered" not in page


def test_every_attempt_uses_the_message_id_stored_before_the_first(settings, mail_server, alert):
    settings.MAILERS = smtp_mailers(mail_server.port)
    settings.ALERT_EMAIL_RETRY_SECONDS = 0
    mail_server.refuse = True
    tasks.deliver_alert(alert.pk)
    alert.refresh_from_db()
    assert MESSAGE_ID.match(alert.message_id).group(1) == str(alert.pk)

    # Even if what it is derived from changes (the secret key, the sender's domain).
    settings.SECRET_KEY = "another secret key, another day, another sixty characters long ok"
    settings.DEFAULT_FROM_EMAIL = "Clinic <alerts@clinic.example.org>"
    mail_server.refuse = False
    assert tasks.deliver_alert(alert.pk) == "sent"

    assert mail_server.seen == [alert.message_id] * 2
    assert tasks.alert_message_id(alert) != alert.message_id


def test_a_notification_left_sending_before_leases_existed_is_sent(settings, mail_server, alert):
    settings.MAILERS = smtp_mailers(mail_server.port)
    AlertNotification.objects.update(status="sending", lease_until=None)  # "sending forever"

    assert tasks.due_alerts() == [alert.pk]
    assert tasks.sweep_alerts() == 1

    assert len(mail_server.messages) == 1
    assert AlertNotification.objects.get().status == "sent"


def test_a_dead_worker_on_the_last_attempt_is_reported_not_delivered(
    settings, mail_server, alert, caplog
):
    settings.MAILERS = smtp_mailers(mail_server.port)
    settings.ALERT_EMAIL_ATTEMPTS = 2
    AlertNotification.objects.update(
        status="sending", attempts=2, lease_until=timezone.now() - timedelta(seconds=1)
    )

    with caplog.at_level(logging.ERROR, logger="kap.care.tasks"):
        assert tasks.sweep_alerts() == 1

    assert AlertNotification.objects.get().status == "failed"
    assert "NOT delivered after 2 attempts" in caplog.text
    assert mail_server.seen == []
