"""Django's SQLite backend, with the writers of one process queued on a lock of their own.

Every transaction begins IMMEDIATE (kap.settings), taking SQLite's write lock at BEGIN: two
transactions never run at once anyway. Without this, a thread that finds the lock taken sleeps in
SQLite's busy handler (1, 2, 5 … up to 100 ms between tries) and often wakes long after the lock
came free: the tail of the save latencies under load. Here the threads of one process (gunicorn
runs several per worker) wait on a `threading.Lock` instead, handed over the moment the holder
commits or rolls back. Other processes still meet on SQLite's lock and its busy handler.

Nothing changes for what runs when: these transactions were already one at a time. A wait on the
process lock is bounded by the busy timeout; past it the BEGIN goes ahead and SQLite decides, as
before (so a thread holding two connections can never deadlock on it). In-memory databases (the
tests' own) share one connection between threads and are left alone.
"""

from __future__ import annotations

import threading

from django.db.backends.sqlite3 import base

WRITER = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_writer = False

    def _queue_writers(self) -> bool:
        return self.transaction_mode == "IMMEDIATE" and not self.is_in_memory_db()

    def _start_transaction_under_autocommit(self):
        if self._queue_writers() and not self._holds_writer:
            wait = float(self.settings_dict["OPTIONS"].get("timeout", 5))
            self._holds_writer = WRITER.acquire(timeout=wait)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            WRITER.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer()
