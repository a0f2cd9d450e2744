"""Database-wide locks for start-up work that must not run twice at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

# pg_advisory_lock keys of ops (kap.care.audit holds 7266001 for the audit chain).
SETUP_LOCK = 7266101


@contextmanager
def setup_lock(using: str = "default") -> Iterator[None]:
    """Held around `kap setup` (migrations, the key check, the guide). PostgreSQL: a session
    advisory lock, so app servers started together migrate one after the other instead of racing
    (the second then finds nothing to do). SQLite: nothing is needed, migrations are serialised by
    the database's own write lock and there is one machine."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [SETUP_LOCK])
    try:
        yield
    finally:
        # The migrations may have closed the connection (the lock then went with it).
        if connection.connection is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [SETUP_LOCK])
