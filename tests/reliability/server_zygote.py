"""Starts real gunicorn servers quickly, for the crash-safety test.

Importing Django and the app takes a second or more; 200 kill -9 / restart rounds would spend
minutes on it. This process imports them once (opening no database connection), then on each
"start PORT LOG" line forks a child that becomes a gunicorn master in a session of its own
(exactly what `kap serve` runs: gunicorn's WSGIApplication for kap.wsgi:application, two sync
workers, each opening its own database connection), and answers with the master's pid, which is
also its process group: the test kills the whole group with SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _serve(port: str, log: str, ready_fd: int) -> None:
    os.setsid()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.write(ready_fd, b"x")
    os.close(ready_fd)
    from gunicorn.app.wsgiapp import WSGIApplication

    sys.argv = [
        "gunicorn",
        "kap.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kap.settings")
    import django

    django.setup()
    import gunicorn.app.wsgiapp  # noqa: F401
    import gunicorn.workers.sync  # noqa: F401
    from django.db import connections

    import kap.urls  # noqa: F401  (the views, forms and services a request needs)

    connections.close_all()
    # Workers orphaned by a killed master come to this process, which reaps them.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    print("ready", flush=True)
    for line in sys.stdin:
        _reap()
        command, *args = line.split()
        if command != "start":
            continue
        port, log = args
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                _serve(port, log, w)
            finally:
                os._exit(1)
        os.close(w)
        os.read(r, 1)  # the child is in its own session: its pid is a process group now
        os.close(r)
        print(pid, flush=True)
    _reap()


if __name__ == "__main__":
    main()
