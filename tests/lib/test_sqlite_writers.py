"""Issue 17: a transaction's BEGIN is retried in short steps of our own (kap.lib.sqlite) instead of
sleeping in SQLite's busy handler; other statements keep the busy timeout."""

import sqlite3
import threading

import pytest
from django.db import OperationalError

from kap.lib.sqlite.base import DatabaseWrapper


def wrapper(path, timeout=20):
    return DatabaseWrapper(
        {
            "ENGINE": "kap.lib.sqlite",
            "NAME": str(path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": timeout},
            "ATOMIC_REQUESTS": False,
            "AUTOCOMMIT": True,
            "CONN_MAX_AGE": 0,
            "CONN_HEALTH_CHECKS": False,
            "TIME_ZONE": None,
            "USER": "",
            "PASSWORD": "",
            "HOST": "",
            "PORT": "",
            "TEST": {},
        },
        alias="writers-test",
    )


def begin(db):
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def end(db, how="commit"):
    getattr(db, how)()
    db.set_autocommit(True)


@pytest.fixture
def path(tmp_path, django_db_blocker):
    # Connections of our own to a file of our own (not the tests' database).
    django_db_blocker.unblock()
    db = wrapper(tmp_path / "w.sqlite3")
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE t (n INTEGER)")
    db.close()
    yield tmp_path / "w.sqlite3"
    django_db_blocker.restore()


def test_a_second_writer_waits_and_goes_on_once_the_first_commits(path):
    first = wrapper(path)
    begin(first)
    first.cursor().execute("INSERT INTO t VALUES (1)")
    began, done = threading.Event(), threading.Event()

    def second():
        db = wrapper(path)
        begin(db)
        began.set()
        db.cursor().execute("INSERT INTO t VALUES (2)")
        end(db)
        db.close()
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not began.wait(0.3)  # still trying: the first holds the write lock

    end(first)
    thread.join(10)
    assert done.is_set()
    rows = first.cursor().execute("SELECT n FROM t ORDER BY n").fetchall()
    assert [n for (n,) in rows] == [1, 2]
    first.close()


def test_the_busy_timeout_is_back_for_the_statements_after_the_begin(path):
    db = wrapper(path, timeout=7)
    begin(db)
    (ms,) = db.cursor().execute("PRAGMA busy_timeout").fetchone()
    end(db)
    db.close()
    assert ms == 7000


def test_past_the_timeout_the_begin_is_refused_and_nothing_is_held(path):
    outside = sqlite3.connect(path, timeout=0, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    try:
        db = wrapper(path, timeout=0.2)
        with pytest.raises(OperationalError, match="locked"):
            begin(db)
        db.set_autocommit(True)
        db.close()
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    again = wrapper(path, timeout=0.2)
    begin(again)  # the lock is free again: at once
    end(again)
    again.close()


@pytest.mark.django_db
def test_the_tests_in_memory_database_keeps_djangos_own_begin():
    from django.db import connection

    assert not (connection.vendor == "sqlite" and connection._polls())
