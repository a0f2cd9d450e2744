"""Probes for load balancers and orchestrators.

`GET /healthz`: the process answers (200 "ok"). `GET /readyz`: this server can serve: the database
answers, every migration is applied, the encryption keys are loaded (and hold every key the data
is known to use), and a worker's heartbeat is fresh (KAP_WORKER_STALE_MINUTES; 0 leaves it out).
A failing check gives 503 with the short names of what failed ("not ready: database worker"):
no data, no traceback, no detail an outsider could use.

kap.ops.middleware.ProbeMiddleware answers these two paths before anything checks the Host header,
so a balancer may probe by IP address. No login: login_not_required.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.log import log_response
from django.views.decorators.http import require_safe

from kap.lib import crypto
from kap.ops.models import KeyCanary
from kap.ops.status import heartbeat_at, worker_stale_after

log = logging.getLogger(__name__)

# The migration check reads every migration file: its answer is kept this long.
MIGRATIONS_CACHE_SECONDS = 30.0
_migrations: tuple[float, bool] | None = None
_migrations_lock = threading.Lock()


def _plain(text: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8", status=status)
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return _plain("ok")


def forget_cached_checks() -> None:
    """The next /readyz checks the migrations again (after `kap setup`, and in tests)."""
    global _migrations
    _migrations = None


def migrations_applied() -> bool:
    global _migrations
    cached = _migrations
    if cached is not None and time.monotonic() - cached[0] < MIGRATIONS_CACHE_SECONDS:
        return cached[1]
    with _migrations_lock:
        executor = MigrationExecutor(connection)
        applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
        _migrations = (time.monotonic(), applied)
    return applied


def keys_loaded() -> bool:
    """The keyring reads, and it holds every key that a check value exists for (a key that some
    server made current): a server that has not received the newest key is not ready."""
    try:
        ring = crypto.keyring(fresh=True)
    except Exception:
        return False
    in_use = set(KeyCanary.objects.values_list("key_id", flat=True))
    return in_use <= set(ring.keys)


def worker_fresh() -> bool:
    if settings.WORKER_STALE_MINUTES <= 0:
        return True
    seen = heartbeat_at()
    return seen is not None and timezone.now() - seen <= worker_stale_after()


def failing_checks() -> list[str]:
    failing = []
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        log.warning("readyz: the database does not answer")
        return ["database"] + ([] if _ring_reads() else ["keys"])
    checks = (("migrations", migrations_applied), ("keys", keys_loaded), ("worker", worker_fresh))
    for name, check in checks:
        try:
            ok = check()
        except DatabaseError:
            ok = False
        if not ok:
            failing.append(name)
    return failing


def _ring_reads() -> bool:
    try:
        crypto.keyring()
    except Exception:
        return False
    return True


@login_not_required
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    failing = failing_checks()
    if failing:
        response = _plain("not ready: " + " ".join(failing), status=503)
        # A 503 here is the answer a balancer or a monitor asks for (take this server out, the
        # worker is stopped), not a fault in the app: logged as a warning, with what failed,
        # instead of Django's ERROR "Service Unavailable" line (it logs a response only once).
        log_response(
            "%s: %s (not ready: %s)",
            response.reason_phrase,
            request.path,
            " ".join(failing),
            response=response,
            request=request,
            level="warning",
        )
        return response
    return _plain("ok")
