"""Background tasks of the journal, run by `kap worker` (django_tasks_db's db_worker).

Reminders are checked by enqueuing `send_due_reminders`: `kap worker` does so every few minutes
by itself, and `kap worker --once` (e.g. from cron or a systemd timer) enqueues it, runs the
queue and exits. `kap manage send_reminders` enqueues it too, or runs it at once with --now.
Running it more often than needed is harmless: each reminder is e-mailed at most once.
"""

from __future__ import annotations

import logging
import threading

from django.db import connection
from django.tasks import task

from kap.journal import reminders

log = logging.getLogger(__name__)


@task
def send_due_reminders() -> int:
    return reminders.send_due_reminders()


def enqueue_reminders() -> None:
    send_due_reminders.enqueue()


def schedule_reminders(every_seconds: float, also=()) -> threading.Event:
    """Enqueue the reminder check now and then every `every_seconds`, from a daemon thread, and
    run each callable of `also` at the same times. Set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                for job in (enqueue_reminders, *also):
                    try:
                        job()
                    except Exception:
                        log.exception("Periodic job %s failed; trying again later", job.__name__)
            finally:
                # This thread's own connection: closed between checks, not held for minutes.
                connection.close()
            stop.wait(every_seconds)

    threading.Thread(target=loop, name="kap-reminders", daemon=True).start()
    return stop
