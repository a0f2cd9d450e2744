"""`kap setup` on PostgreSQL migrates under an advisory lock: servers started together on a fresh
database do not race (one migrates, the others wait and find nothing to do)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from django.db import connection

from kap.lib import crypto
from kap.ops.locks import SETUP_LOCK, setup_lock
from tests.children import KAP, ROOT


def start_setup(url: str, data_dir, keys: str) -> subprocess.Popen:
    data_dir.mkdir(exist_ok=True)
    env = {**os.environ, "DATABASE_URL": url, "KAP_DATA_DIR": str(data_dir), crypto.ENV_VAR: keys}
    return subprocess.Popen(
        [str(KAP), "setup"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def shared_keys() -> str:
    # Every server of a clinic has the same keys (KAP_ENCRYPTION_KEYS).
    key_id, key = crypto.new_key()
    return crypto.env_value({key_id: key})


def test_setup_waits_for_the_lock(scratch_pg, tmp_path):
    import psycopg

    url, conninfo = scratch_pg
    with psycopg.connect(autocommit=True, **conninfo) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [SETUP_LOCK])
        proc = start_setup(url, tmp_path / "a", shared_keys())
        try:
            time.sleep(4)
            assert proc.poll() is None, proc.communicate()  # still waiting
            with psycopg.connect(**conninfo) as look:
                tables = look.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                ).fetchone()[0]
            assert tables == 0  # nothing migrated while another holds the lock
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [SETUP_LOCK])
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


def test_two_servers_set_up_a_fresh_database_at_once(scratch_pg, tmp_path):
    import psycopg

    url, conninfo = scratch_pg
    keys = shared_keys()
    procs = [start_setup(url, tmp_path / name, keys) for name in ("a", "b", "c")]
    results = [(p.wait(timeout=300), p.communicate()) for p in procs]
    for code, (_, err) in results:
        assert code == 0, err[-3000:]
    with psycopg.connect(**conninfo) as conn:
        dupes = conn.execute(
            "SELECT app, name, count(*) FROM django_migrations GROUP BY app, name"
            " HAVING count(*) > 1"
        ).fetchall()
        canaries = conn.execute("SELECT count(*) FROM journal_keycanary").fetchone()[0]
        packs = conn.execute("SELECT count(*) FROM content_pack").fetchone()[0]
    assert dupes == [] and canaries == 1 and packs == 1


def test_on_sqlite_the_lock_is_nothing(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with setup_lock():
        pass
