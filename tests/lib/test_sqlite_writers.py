"""Issue 17: the transactions of one process queue on a lock of their own (kap.lib.sqlite), handed
over at commit or rollback, instead of sleeping in SQLite's busy handler."""

import threading

import pytest

from kap.lib.sqlite.base import WRITER, DatabaseWrapper


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
    assert not WRITER.locked()
    yield tmp_path / "w.sqlite3"
    django_db_blocker.restore()


def test_a_second_writer_waits_on_the_lock_and_goes_on_when_the_first_commits(path):
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
    # The second is queued on the process's lock: it has not even sent its BEGIN.
    assert not began.wait(0.3)
    assert WRITER.locked()

    end(first)
    thread.join(10)
    assert done.is_set()
    rows = first.cursor().execute("SELECT n FROM t ORDER BY n").fetchall()
    assert [n for (n,) in rows] == [1, 2]
    first.close()
    assert not WRITER.locked()


@pytest.mark.parametrize("how", ["rollback", "close"])
def test_the_lock_is_handed_back_on_rollback_and_on_a_closed_connection(path, how):
    db = wrapper(path)
    begin(db)
    db.cursor().execute("INSERT INTO t VALUES (1)")
    assert WRITER.locked()
    if how == "rollback":
        end(db, "rollback")
    else:
        db.close()
    assert not WRITER.locked()
    other = wrapper(path)
    begin(other)  # would wait its whole timeout if the lock had been kept
    end(other)
    other.close()
    assert not WRITER.locked()


def test_a_failed_begin_hands_the_lock_back(path):
    holder = wrapper(path)
    begin(holder)
    # Another process holds SQLite's own lock: BEGIN IMMEDIATE fails after the busy timeout.
    import sqlite3

    outside = sqlite3.connect(path, timeout=0, isolation_level=None)
    end(holder)
    outside.execute("BEGIN IMMEDIATE")
    try:
        db = wrapper(path, timeout=0.1)
        with pytest.raises(Exception, match="locked"):
            begin(db)
        assert not WRITER.locked()
    finally:
        outside.execute("ROLLBACK")
        outside.close()
        holder.close()


@pytest.mark.django_db
def test_the_tests_in_memory_database_never_takes_the_lock():
    from django.db import connection, transaction

    with transaction.atomic():
        assert not WRITER.locked()
    assert connection.vendor in ("sqlite", "postgresql")
