"""What one request costs, measured inside the app server (bench mode only: bench/settings.py).

`BenchMiddleware` sits outside every other middleware and adds to each response:

    X-Bench-CPU-ms     CPU time of the thread that served the request (time.thread_time(): with
                       gunicorn's 4 threads per worker, process time would count the neighbours)
    X-Bench-Queries    SQL statements executed
    X-Bench-Rows       rows fetched from the database (fetchone/fetchmany/fetchall)
    X-Bench-Decrypts   values decrypted (kap.lib.crypto.decrypt)
    X-Bench-Encrypts   values encrypted (kap.lib.crypto.encrypt)

The load generators (bench/load.py) sum these headers over a run, and `bench.tool queries`
reads them in-process. Nothing in kap/ is changed: the crypto functions are wrapped in this
process only, wherever a module holds a reference to them.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import ExitStack

from django.db import connections

_state = threading.local()


def _counts() -> dict | None:
    return getattr(_state, "counts", None)


def _bump(key: str, n: int = 1) -> None:
    counts = _counts()
    if counts is not None:
        counts[key] += n


def _counting(fn, key: str):
    def wrapper(*args, **kwargs):
        _bump(key)
        return fn(*args, **kwargs)

    wrapper.__wrapped__ = fn
    return wrapper


def install_crypto_counters() -> None:
    """Wrap kap.lib.crypto.decrypt/encrypt, and replace every module's reference to them (e.g.
    kap.lib.fields imports them by name). Idempotent; run once the app's modules are loaded."""
    from kap.lib import crypto

    for name, key in (("decrypt", "decrypts"), ("encrypt", "encrypts")):
        original = getattr(crypto, name)
        original = getattr(original, "__wrapped__", original)
        counted = _counting(original, key)
        for module in list(sys.modules.values()):
            try:
                held = vars(module).get(name)
                if held is original or getattr(held, "__wrapped__", None) is original:
                    setattr(module, name, counted)
            except (TypeError, AttributeError):  # not a plain module
                continue


def _count_rows(result, key_many: bool):
    if result is None:
        return result
    if key_many:
        _bump("rows", len(result))
    else:
        _bump("rows", 1)
    return result


def _wrap_fetches(cursor) -> None:
    """Count the rows fetched through this cursor (instance attributes win over
    CursorWrapper.__getattr__, which otherwise hands the calls to the driver's cursor)."""
    if getattr(cursor, "bench_wrapped", False):
        return
    fetchone, fetchmany, fetchall = cursor.fetchone, cursor.fetchmany, cursor.fetchall
    cursor.fetchone = lambda: _count_rows(fetchone(), False)
    cursor.fetchmany = lambda *a, **k: _count_rows(fetchmany(*a, **k), True)
    cursor.fetchall = lambda: _count_rows(fetchall(), True)
    cursor.bench_wrapped = True


def _execute_wrapper(execute, sql, params, many, context):
    _bump("queries")
    result = execute(sql, params, many, context)
    cursor = context.get("cursor")
    if cursor is not None:
        _wrap_fetches(cursor)
    return result


class BenchMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 - imports the views; then wrap the crypto functions
        install_crypto_counters()

    def __call__(self, request):
        _state.counts = counts = {
            "queries": 0,
            "rows": 0,
            "decrypts": 0,
            "encrypts": 0,
        }
        started = time.thread_time()
        try:
            with ExitStack() as stack:
                for alias in connections:
                    stack.enter_context(connections[alias].execute_wrapper(_execute_wrapper))
                response = self.get_response(request)
        finally:
            _state.counts = None
        cpu_ms = (time.thread_time() - started) * 1000
        response["X-Bench-CPU-ms"] = f"{cpu_ms:.3f}"
        response["X-Bench-Queries"] = str(counts["queries"])
        response["X-Bench-Rows"] = str(counts["rows"])
        response["X-Bench-Decrypts"] = str(counts["decrypts"])
        response["X-Bench-Encrypts"] = str(counts["encrypts"])
        return response
