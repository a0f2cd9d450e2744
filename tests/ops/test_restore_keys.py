"""`kap restore` on PostgreSQL checks the keys against the dump *before* it replaces anything: a
missing key or a wrong one leaves the database exactly as it was."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from kap.journal.models import Insight
from kap.lib import crypto
from kap.ops import backup
from kap.ops.keys import verify_keys
from kap.ops.rotation import encrypted_columns
from tests.children import KAP, ROOT

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dump(own_keys, client_user, guide, tmp_path):
    """A dump of the test database with text under this test's key, and that key file."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL restore: runs when DATABASE_URL points at PostgreSQL")
    verify_keys()
    Insight.objects.create(client=client_user, text="written before the backup")
    path = tmp_path / "kap.dump"
    call_command("kap_backup", str(path), stdout=io.StringIO())
    return path, own_keys


def tables_of(conninfo: dict) -> list[str]:
    import psycopg

    with psycopg.connect(**conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def restore(url: str, data_dir: Path, dump: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "KAP_DATA_DIR": str(data_dir)}
    env.pop(crypto.ENV_VAR, None)
    return subprocess.run(
        [str(KAP), "restore", *args, str(dump)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_dump_is_read_for_its_keys_without_restoring_it(dump):
    path, keys = dump
    key_ids, canaries = backup.pg_dump_keys(path, encrypted_columns())
    current = json.loads(keys.read_text())["current"]
    assert key_ids == {current}
    assert [k for k, _ in canaries] == [current]
    assert canaries[0][1].startswith(f"enc1:{current}:")


def test_restore_refuses_a_missing_or_wrong_key_before_touching_the_database(
    dump, scratch_pg, tmp_path
):
    import psycopg

    path, keys = dump
    url, conninfo = scratch_pg
    with psycopg.connect(autocommit=True, **conninfo) as conn:
        conn.execute("CREATE TABLE marker (note text)")
        conn.execute("INSERT INTO marker VALUES ('the database before the restore')")
    before = tables_of(conninfo)

    # A key file without the backup's key.
    data = tmp_path / "other-server"
    data.mkdir()
    other_id, other_key = crypto.new_key()
    crypto.write_keyring(data / "keys", other_id, {other_id: other_key})
    result = restore(url, data, path, "--force")
    assert result.returncode == 1
    assert "nothing was restored" in result.stderr and "which are not in" in result.stderr
    assert tables_of(conninfo) == before

    # A key of the right id but the wrong bytes: its check value does not decrypt.
    current = json.loads(keys.read_text())["current"]
    crypto.write_keyring(data / "keys", current, {current: os.urandom(32)})
    result = restore(url, data, path, "--force")
    assert result.returncode == 1
    assert "is not the key this backup was written with" in result.stderr
    assert tables_of(conninfo) == before
    with psycopg.connect(**conninfo) as conn:
        assert conn.execute("SELECT note FROM marker").fetchall() == [
            ("the database before the restore",)
        ]
    for secret in (base64.b64encode(other_key).decode(), "written before the backup"):
        assert secret not in result.stderr + result.stdout

    # With the right key file it goes ahead.
    shutil.copy(keys, data / "keys")
    result = restore(url, data, path, "--force")
    assert result.returncode == 0, result.stderr
    assert "Encryption keys: ok" in result.stdout
    assert "journal_insight" in tables_of(conninfo)
