"""Django's SQLite backend, with a transaction's BEGIN retried in short steps of our own.

Every transaction begins IMMEDIATE (kap.settings), taking SQLite's write lock at BEGIN, so two
never run at once. A BEGIN that finds the lock taken would wait in SQLite's busy handler, which
sleeps 1, 2, 5 … up to 100 ms between tries and so often wakes long after the lock came free: the
tail of the save latencies under load. Here, for the BEGIN only, the busy handler is off and the
BEGIN is retried every 0.5 to 4 ms until the busy timeout has passed, then refused as before
("database is locked"). Every thread of every process polls alike, so no process is starved.

(A lock shared by the threads of one process was tried first: threads there were handed the
write lock at once, while another process's writer slept in the busy handler, and under a steady
stream of saves that process waited for whole seconds. The bench showed it: autosaves at 0.33×
a bare insert with one of the two cores idle.)

Other statements keep the busy timeout. In-memory databases (the tests') are left alone.
"""

from __future__ import annotations

import sqlite3
import time

from django.db.backends.sqlite3 import base

FIRST_STEP = 0.0005  # seconds between two tries of BEGIN, doubling up to
LAST_STEP = 0.004


class DatabaseWrapper(base.DatabaseWrapper):
    def _polls(self) -> bool:
        return self.transaction_mode == "IMMEDIATE" and not self.is_in_memory_db()

    def _start_transaction_under_autocommit(self):
        if not self._polls():
            return super()._start_transaction_under_autocommit()
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        raw = self.connection
        with self.wrap_database_errors:
            raw.execute("PRAGMA busy_timeout = 0")
            try:
                self._begin(raw, time.monotonic() + timeout)
            finally:
                raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    def _begin(self, raw, deadline: float) -> None:
        step = FIRST_STEP
        while True:
            try:
                raw.execute(f"BEGIN {self.transaction_mode}")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() + step > deadline:
                    raise
            time.sleep(step)
            step = min(step * 2, LAST_STEP)
