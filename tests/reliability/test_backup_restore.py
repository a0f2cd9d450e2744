"""Restore drill: a real database is backed up while another process keeps writing, restored
into a fresh data dir, and compared row for row; `kap restore` refuses what it should refuse.
The same drill runs on PostgreSQL (pg_dump / pg_restore) when DATABASE_URL is set."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection

from kap.lib import crypto
from kap.ops.backup import KEY_REMINDER, backup_sqlite
from tests.children import ROOT, child_env, copy_data_dir, kap, run_python
from tests.conftest import PASSWORD
from tests.instruments.test_encryption import CANARY, fill_every_free_text_field
from tests.reliability.helpers import integrity, sqlite_dump

INSIGHTS = 2000

POPULATE = f"""
import uuid
from django.core.management import call_command
from django.utils import timezone
from kap.accounts.models import User
from kap.care import audit
from kap.care.models import TherapistNote
from kap.content.models import Instrument
from kap.journal.models import Insight
from kap.practices.models import PracticeLog
from tests.instruments.test_encryption import CANARY, fill_every_free_text_field

call_command("kap_setup")
client = User.objects.create_user("alex@example.com", {PASSWORD!r}, role="client")
therapist = User.objects.create_user("dr.lee@example.com", {PASSWORD!r}, role="therapist")
User.objects.create_user("writer@example.com", {PASSWORD!r}, role="client")
fill_every_free_text_field(client)
Insight.objects.bulk_create(
    Insight(client=client, text=f"{{CANARY}} insight {{i}} " + "x" * 300) for i in range({INSIGHTS})
)
grounding = Instrument.objects.current().get(key="grounding")
PracticeLog.objects.bulk_create(
    PracticeLog(uuid=uuid.uuid4(), client=client, instrument=grounding, started_at=timezone.now(),
                planned_seconds=300, elapsed_seconds=290, completed=True, settled_before=4,
                settled_after=7)
    for _ in range(200)
)
for _ in range(100):
    audit.record(actor=therapist, subject=client, action="view", what="timeline", ip="127.0.0.1")
TherapistNote.objects.create(therapist=therapist, client=client, text=f"{{CANARY}} note")
"""

# Each transaction adds an insight, an action step and an audit row: a consistent copy has as
# many of one as of the others, and an unbroken audit chain.
WRITER = """
from pathlib import Path
from django.db import transaction
from kap.accounts.models import User
from kap.care import audit
from kap.journal.models import ActionStep, Insight

ready, stop = Path({ready!r}), Path({stop!r})
w = User.objects.get(email="writer@example.com")
i = 0
while not stop.exists():
    with transaction.atomic():
        Insight.objects.create(client=w, text=f"writer {{i}}")
        ActionStep.objects.create(client=w, text=f"writer {{i}}")
        audit.record(actor=w, subject=w, action="view", what=f"writer {{i}}", ip=None)
    i += 1
    if i == 5:
        ready.touch()
"""

READ_BACK = """
from kap.care.models import TherapistNote
from kap.journal.models import Insight, Response
from tests.instruments.test_encryption import CANARY
texts = [i.text for i in Insight.objects.all()]
print(sum(CANARY in t for t in texts), sum(t.startswith("writer ") for t in texts))
print(TherapistNote.objects.get().text)
print(sum(CANARY in str(r.answers) for r in Response.objects.all()))
"""


def writer_counts(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (w,) = conn.execute(
            "SELECT id FROM accounts_user WHERE email = 'writer@example.com'"
        ).fetchone()
        return tuple(
            conn.execute(sql, [w]).fetchone()[0]
            for sql in (
                "SELECT COUNT(*) FROM journal_insight WHERE client_id = ?",
                "SELECT COUNT(*) FROM journal_actionstep WHERE client_id = ?",
                "SELECT COUNT(*) FROM care_auditentry WHERE actor_id = ?",
            )
        )
    finally:
        conn.close()


def assert_consistent_standalone_backup(path: Path) -> None:
    assert integrity(path) == ["ok"]
    ins, steps, audits = writer_counts(path)
    assert ins == steps == audits, (ins, steps, audits)
    # One file: no write-ahead log beside it, and not in WAL mode (header bytes 18-19 are 1).
    assert not Path(f"{path}-wal").exists()
    assert path.read_bytes()[18:20] == b"\x01\x01"
    data = path.read_bytes()
    assert CANARY.encode() not in data
    assert b"enc1:" in data


def copy_keys(src_dir: Path, dest_dir: Path) -> None:
    """The keys kept apart from the backups: the encryption keys, and the secret key the audit
    trail's chain is keyed with."""
    dest_dir.mkdir(exist_ok=True)
    shutil.copy2(src_dir / "keys", dest_dir / "keys")
    if (src_dir / "secret_key").exists():
        shutil.copy2(src_dir / "secret_key", dest_dir / "secret_key")


@pytest.fixture(scope="module")
def source(_data_dir_template, tmp_path_factory):
    """A populated data dir (run once per module) and a backup of it made at rest."""
    data = copy_data_dir(_data_dir_template, tmp_path_factory.mktemp("source"))
    run_python(data, POPULATE)
    at_rest = data.parent / "at-rest.sqlite3"
    result = kap(data, "backup", str(at_rest))
    assert result.returncode == 0, result.stderr
    return data, at_rest


def test_backup_while_writing_is_consistent_and_restores_row_for_row(source, tmp_path):
    data, _ = source
    live = data / "kap.sqlite3"
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup()\n" + WRITER.format(ready=str(ready), stop=str(stop)),
        ],
        env=child_env(data),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert writer.poll() is None, writer.stderr.read()
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)

        # 1. The backup function, slowed down so that the writer certainly commits during it.
        seen = []

        def slowly(done, total):
            seen.append(writer_counts(live)[0])
            time.sleep(0.002)

        during = tmp_path / "during.sqlite3"
        t0 = time.monotonic()
        backup_sqlite(live, during, pages=4, progress=slowly)
        slow_seconds = time.monotonic() - t0
        assert len(seen) > 50
        assert seen[-1] > seen[0], "the writer wrote nothing while the backup ran"
        assert_consistent_standalone_backup(during)
        # A snapshot from the start: nothing written during the copy is in it.
        assert writer_counts(during)[0] <= seen[0]

        # 2. The command, while the writer keeps going.
        cli = tmp_path / "cli.sqlite3"
        before = writer_counts(live)[0]
        t0 = time.monotonic()
        result = kap(data, "backup", str(cli))
        cli_seconds = time.monotonic() - t0
        assert result.returncode == 0, result.stderr
        assert KEY_REMINDER in result.stdout
        assert f"Backup written to {cli}" in result.stdout
        assert oct(cli.stat().st_mode & 0o777) == "0o600"
        assert_consistent_standalone_backup(cli)
        assert writer_counts(cli)[0] >= before
        assert writer_counts(live)[0] > before, "the writer stopped during the backup"
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0, writer.stderr.read()

    # 3. Restore into a fresh data dir, with the key file copied: every row of every table.
    for backup_file in (during, cli):
        restored = tmp_path / f"restored-{backup_file.stem}"
        copy_keys(data, restored)
        t0 = time.monotonic()
        result = kap(restored, "restore", str(backup_file))
        restore_seconds = time.monotonic() - t0
        assert result.returncode == 0, result.stderr
        assert "Encryption keys: ok. Integrity check: ok." in result.stdout
        assert "journal_insight" in result.stdout and "Rows per table" in result.stdout
        assert sqlite_dump(restored / "kap.sqlite3") == sqlite_dump(backup_file)
        assert integrity(restored / "kap.sqlite3") == ["ok"]
        assert kap(restored, "audit", "verify").returncode == 0

    # The text reads back through the models, with the copied key.
    out = run_python(restored, READ_BACK).stdout.splitlines()
    ins, _, _ = writer_counts(cli)
    assert out[0] == f"{INSIGHTS + 1} {ins}"
    assert out[1] == f"{CANARY} note"
    assert int(out[2]) > 0

    # 4. At rest (no writer), the backup is the source, row for row.
    at_rest = tmp_path / "at-rest.sqlite3"
    assert kap(data, "backup", str(at_rest)).returncode == 0
    # (But for the note that a backup was made, written to the source after the copy, for the
    # clinic page: kap.ops.housekeeping.record_outcome.)
    backed_up, source_now = sqlite_dump(at_rest), sqlite_dump(live)
    assert source_now.pop("ops_housekeepingrun")[0][-1].startswith("at-rest.sqlite3")
    backed_up.pop("ops_housekeepingrun")
    assert backed_up == source_now
    print(
        f"\nbackup of {live.stat().st_size / 1e6:.1f} MB: {cli_seconds:.2f}s by `kap backup`"
        f" (process start included), {slow_seconds:.2f}s slowed down; restore"
        f" {restore_seconds:.2f}s"
    )


def test_restore_refuses_what_it_should(source, tmp_path):
    data, backup_file = source

    # A backup into a directory gets a dated name there.
    folder = tmp_path / "backups"
    folder.mkdir()
    result = kap(data, "backup", str(folder))
    assert result.returncode == 0, result.stderr
    assert [p.name.startswith("kap-backup-") for p in folder.iterdir()] == [True]

    # Without the key file: stops before touching anything, and says which key is needed.
    bare = tmp_path / "bare"
    bare.mkdir()
    result = kap(bare, "restore", str(backup_file))
    assert result.returncode == 1
    assert "there is no key file" in result.stderr and "copy the key file" in result.stderr
    assert not (bare / "kap.sqlite3").exists() or not sqlite_dump(bare / "kap.sqlite3")["(schema)"]

    # With another key file: the same.
    other = tmp_path / "other"
    assert kap(other, "setup").returncode == 0
    result = kap(other, "restore", str(backup_file))
    assert result.returncode == 1
    assert "which are not in" in result.stderr and "nothing was restored" in result.stderr

    # A file that is not a SQLite database, and a SQLite database not made by kap.
    target = tmp_path / "target"
    copy_keys(data, target)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database")
    result = kap(target, "restore", str(junk))
    assert result.returncode == 1 and "is not a SQLite database" in result.stderr
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    result = kap(target, "restore", str(foreign))
    assert result.returncode == 1 and "not one made by KAP Companion" in result.stderr

    # Into a data dir whose database holds data: refused without --force, nothing changed ...
    assert kap(target, "restore", str(backup_file)).returncode == 0
    before = sqlite_dump(target / "kap.sqlite3")
    result = kap(target, "restore", str(backup_file))
    assert result.returncode == 1
    assert "already holds data" in result.stderr and "--force" in result.stderr
    assert sqlite_dump(target / "kap.sqlite3") == before

    # ... and with --force, replaced, the replaced database kept beside it.
    result = kap(target, "restore", "--force", str(backup_file))
    assert result.returncode == 0, result.stderr
    kept = [p for p in target.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and f"kept at {kept[0]}" in result.stdout
    assert sqlite_dump(kept[0]) == before
    assert sqlite_dump(target / "kap.sqlite3") == sqlite_dump(backup_file)


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_rows(cursor, table: str, pk: list[str]) -> list[tuple]:
    order = ", ".join(f'"{c}"' for c in pk) or "1"
    cursor.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
    return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_postgres_backup_and_restore_row_for_row(client_user, make_user, guide, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip(
            "PostgreSQL restore drill: runs when DATABASE_URL points at PostgreSQL"
            " (e.g. postgres://postgres@127.0.0.1:5432/kap_ci)"
        )
    import psycopg

    from kap.care import audit
    from kap.journal.models import Insight
    from kap.ops.keys import verify_keys

    fill_every_free_text_field(client_user)
    therapist = make_user("dr.lee@example.com", role="therapist")
    Insight.objects.bulk_create(
        Insight(client=client_user, text=f"{CANARY} {i}") for i in range(300)
    )
    for _ in range(20):
        audit.record(actor=therapist, subject=client_user, action="view", what="timeline", ip=None)
    verify_keys()  # the canary exists before the backup, as in any database the app has used

    dump = tmp_path / "kap.dump"
    out = io.StringIO()
    call_command("kap_backup", str(dump), stdout=out)
    assert KEY_REMINDER in out.getvalue()
    assert dump.read_bytes().startswith(b"PGDMP")
    script = tmp_path / "dump.sql"
    subprocess.run(["pg_restore", f"--file={script}", str(dump)], check=True)
    assert CANARY not in script.read_text() and "enc1:" in script.read_text()

    s = connection.settings_dict
    scratch = f"{s['NAME']}_restore"
    conninfo = {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": s["USER"] or "postgres",
        "password": s["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        auth = quote(conninfo["user"]) + (
            f":{quote(conninfo['password'])}" if conninfo["password"] else ""
        )
        url = f"postgres://{auth}@{conninfo['host']}:{conninfo['port']}/{scratch}"
        data = tmp_path / "data"
        data.mkdir()
        if crypto.keys_path().exists():
            shutil.copy2(crypto.keys_path(), data / "keys")
        env = {**os.environ, "DATABASE_URL": url, "KAP_DATA_DIR": str(data)}

        def restore(*args):
            return subprocess.run(
                [str(Path(sys.executable).parent / "kap"), "restore", *args, str(dump)],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )

        result = restore()
        assert result.returncode == 0, result.stderr
        assert "Encryption keys: ok" in result.stdout
        compare_pg(s["NAME"], scratch, conninfo)

        # Again: the database now holds data, so refused without --force; with it, the
        # database it replaces is dumped first.
        result = restore()
        assert result.returncode == 1 and "already holds data" in result.stderr
        result = restore("--force")
        assert result.returncode == 0, result.stderr
        kept = list(data.glob("*.before-restore-*.dump"))
        assert len(kept) == 1 and kept[0].read_bytes().startswith(b"PGDMP")
        compare_pg(s["NAME"], scratch, conninfo)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def compare_pg(source: str, restored: str, conninfo: dict) -> None:
    """Every row of every table, both read the same way (plain psycopg, not Django's cursor,
    which loads JSON as text)."""
    import psycopg

    with (
        psycopg.connect(dbname=source, **conninfo) as src_conn,
        psycopg.connect(dbname=restored, **conninfo) as dest_conn,
        connection.cursor() as django_cursor,
    ):
        src, dest = src_conn.cursor(), dest_conn.cursor()
        tables = []
        for cur in (src, dest):
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            tables.append([r[0] for r in cur.fetchall()])
        assert tables[0] == tables[1] and "journal_insight" in tables[0]
        for table in tables[0]:
            if table == "ops_housekeepingrun":
                continue  # the note that a backup was made, written to the source after it
            pk = connection.introspection.get_primary_key_columns(django_cursor, table) or []
            assert _pg_rows(dest, table, pk) == _pg_rows(src, table, pk), table
