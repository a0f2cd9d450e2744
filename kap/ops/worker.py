"""What `kap worker` does beside its task queue: a heartbeat (so /readyz and the clinic page know
a worker is alive) and the housekeeping jobs (kap.ops.housekeeping), each from a daemon thread of
its own, so that a long backup never holds the heartbeat up."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from kap.ops.housekeeping import run_due_jobs
from kap.ops.models import Heartbeat

log = logging.getLogger(__name__)

HEARTBEAT_PK = 1


def beat() -> None:
    """Record that a worker is alive now (one row, whichever worker beat last)."""
    Heartbeat.objects.update_or_create(
        pk=HEARTBEAT_PK,
        defaults={
            "beat_at": timezone.now(),
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
        },
    )


def run_once() -> list[str]:
    """`kap worker --once`: beat, then run the housekeeping jobs that are due."""
    beat()
    return run_due_jobs()


def _every(name: str, seconds: float, job: Callable[[], object]) -> threading.Event:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                job()
            except Exception:
                log.exception("The worker's %s failed; trying again later", name)
            finally:
                connection.close()  # this thread's own connection, not held between runs
            stop.wait(seconds)

    threading.Thread(target=loop, name=f"kap-{name}", daemon=True).start()
    return stop


def start(heartbeat_seconds: float = 30, housekeeping_seconds: float = 60) -> threading.Event:
    """Start the heartbeat and housekeeping threads. Set the returned event to stop both."""
    beats = _every("heartbeat", max(heartbeat_seconds, 1.0), beat)
    chores = _every("housekeeping", max(housekeeping_seconds, 1.0), run_due_jobs)
    stop = threading.Event()

    def watch() -> None:
        stop.wait()
        beats.set()
        chores.set()

    threading.Thread(target=watch, name="kap-worker-stop", daemon=True).start()
    return stop
