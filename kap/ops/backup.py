"""Backups and restores of the whole database: SQLite through its online backup API, PostgreSQL
through pg_dump / pg_restore.

A SQLite backup is one self-contained file (no -wal beside it), copied from a single read
snapshot, so it is consistent even while the app keeps writing. It is a byte copy: encrypted text
stays encrypted, and reading it needs the key, which is deliberately not in the backup.

Backups are their owner's alone (files 0600, the worker's folder 0700) and hold no session
(SESSION_TABLE is left empty): a stolen backup opens no one's session, and a restored one starts
with everyone logged out.

The functions here take paths and connection settings and report progress through a callback;
the `kap backup` / `kap restore` commands add the messages and the progress bar.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kap.lib.private import private_dir, private_file

SQLITE_HEADER = b"SQLite format 3\x00"
PGDUMP_HEADER = b"PGDMP"
CANARY_TABLE = "journal_keycanary"  # kap.ops.models.KeyCanary
SESSION_TABLE = "django_session"  # django.contrib.sessions: left out of every backup
# Tables that tell a KAP Companion database from any other SQLite file.
KAP_MARKER_TABLES = ("django_migrations", CANARY_TABLE, "accounts_user")
# Apps whose tables hold people's data; the content tables (the guide) are not "data".
DATA_APPS = ("accounts", "journal", "practices", "care", "exports")

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)

KEY_REMINDER = (
    "Encrypted text in this backup can only be read with the key in KAP_DATA_DIR/keys "
    "(or KAP_ENCRYPTION_KEYS), and its audit trail verified only with the secret key "
    "(KAP_DATA_DIR/secret_key or KAP_SECRET_KEY). Keep a copy of both somewhere else; a backup "
    "without them cannot be read."
)


class BackupError(Exception):
    """A backup or restore cannot go ahead; the message says why and what to do."""


@dataclass
class SqliteInfo:
    pages: int
    page_size: int

    @property
    def size(self) -> int:
        return self.pages * self.page_size


# --- SQLite ---------------------------------------------------------------------------------------


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=20)
    else:
        conn = sqlite3.connect(path, isolation_level=None, timeout=20)
    conn.execute("PRAGMA busy_timeout = 20000")
    return conn


def integrity_check(path: Path) -> list[str]:
    """`PRAGMA integrity_check`: ["ok"] for a sound file, else the problems SQLite found."""
    conn = _connect(path)
    try:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def _step_pages(total: int) -> int:
    # About a hundred steps, so the bar moves; never so small that a big file takes forever.
    return max(64, total // 100)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_sqlite(
    src: Path, dest: Path, *, pages: int | None = None, progress: Progress | None = None
) -> SqliteInfo:
    """Copy the live database at `src` into the single file `dest`, consistently, while the app
    may be writing: the copy is taken from one read transaction (a WAL snapshot, which does not
    block writers), written to a temporary file beside `dest`, checked, synced and renamed."""
    if not src.exists():
        raise BackupError(f"there is no database at {src}")
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    # Readable by its owner only, like the database itself.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = _connect(src)
    target = sqlite3.connect(tmp, isolation_level=None)
    try:
        # Hold one read transaction for the whole copy. SQLite restarts a step-wise backup when
        # another connection writes; inside one read transaction the copy sees a fixed snapshot
        # and never restarts, however busy the app is.
        source.execute("BEGIN")
        source.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts
        total = source.execute("PRAGMA page_count").fetchone()[0]
        page_size = source.execute("PRAGMA page_size").fetchone()[0]

        def step(status: int, remaining: int, count: int) -> None:
            if progress is not None:
                progress((count - remaining) * page_size, count * page_size)

        source.backup(target, pages=pages or _step_pages(total), progress=step)
        source.execute("COMMIT")
        # A backup is one file: no write-ahead log beside it.
        target.execute("PRAGMA journal_mode=DELETE")
        _without_sessions(target)
        problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
    except BaseException:
        target.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    target.close()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    return SqliteInfo(pages=total, page_size=page_size)


def _without_sessions(conn: sqlite3.Connection) -> None:
    """Empty the session table of a copy, the deleted rows overwritten with zeros."""
    if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [SESSION_TABLE]
    ).fetchone():
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute(f'DELETE FROM "{SESSION_TABLE}"')


def check_kap_sqlite(path: Path) -> None:
    """Raise BackupError unless `path` is a sound SQLite database made by KAP Companion."""
    if not path.exists():
        raise BackupError(f"there is no file at {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if head != SQLITE_HEADER:
        raise BackupError(
            f"{path} is not a SQLite database, so not a backup made by `kap backup` here"
            + (" (it looks like a PostgreSQL dump)" if head.startswith(PGDUMP_HEADER) else "")
        )
    try:
        conn = _connect(path, readonly=True)
    except sqlite3.Error as e:
        raise BackupError(f"{path} cannot be opened as a SQLite database: {e}") from None
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        missing = [t for t in KAP_MARKER_TABLES if t not in tables]
        if missing:
            raise BackupError(
                f"{path} is a SQLite database but not one made by KAP Companion "
                f"(it has no {', '.join(missing)} table)"
            )
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} cannot be read as a SQLite database: {e}") from None
    finally:
        conn.close()
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged: {'; '.join(problems[:5])}")


def sqlite_data_rows(path: Path, tables: list[str]) -> dict[str, int]:
    """Row counts of the given tables that exist and are not empty."""
    if not path.exists():
        return {}
    conn = _connect(path)
    try:
        present = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        counts = {}
        for table in tables:
            if table in present:
                (n,) = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
                if n:
                    counts[table] = n
        return counts
    finally:
        conn.close()


def sqlite_key_ids(path: Path, columns: list[tuple[str, str]]) -> set[str]:
    """The key ids that the encrypted values and key canaries in a database file were written
    with (read from the `enc1:<key id>:` prefix; nothing is decrypted)."""
    conn = _connect(path, readonly=True)
    try:
        present = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        found: set[str] = set()
        for table, column in [*columns, (CANARY_TABLE, "value")]:
            if table not in present:
                continue
            sql = (
                f'SELECT DISTINCT substr("{column}", 6, instr(substr("{column}", 6), \':\') - 1)'
                f' FROM "{table}" WHERE "{column}" LIKE \'enc1:%\''
            )
            found.update(row[0] for row in conn.execute(sql))
        return found
    finally:
        conn.close()


def sqlite_canaries(path: Path) -> list[tuple[str, str]]:
    conn = _connect(path, readonly=True)
    try:
        return list(conn.execute(f"SELECT key_id, value FROM {CANARY_TABLE} ORDER BY key_id"))
    finally:
        conn.close()


def restore_sqlite(src: Path, live: Path, *, progress: Progress | None = None) -> SqliteInfo:
    """Replace the database at `live` with the backup at `src`, through the backup API (pages are
    written through SQLite's own journal, so a crash half-way leaves the old database intact).
    Raises BackupError if something else has the live database open."""
    live.parent.mkdir(parents=True, exist_ok=True)
    source = _connect(src, readonly=True)
    target = _connect(live)
    try:
        # Leaving WAL mode needs the only connection: a running app is found here, before any page
        # is written. (It also lets the page size follow the backup's.)
        try:
            target.execute("PRAGMA busy_timeout = 2000")
            mode = target.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.OperationalError:
            mode = "locked"
        if mode != "delete":
            raise BackupError(
                f"the database at {live} is in use: stop the app (`kap serve`, `kap worker`)"
                " before restoring"
            )
        total = source.execute("PRAGMA page_count").fetchone()[0]
        page_size = source.execute("PRAGMA page_size").fetchone()[0]

        def step(status: int, remaining: int, count: int) -> None:
            if progress is not None:
                progress((count - remaining) * page_size, count * page_size)

        source.backup(target, pages=_step_pages(total), progress=step)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        source.close()
        target.close()
    private_file(live)  # (a database made here by this restore: its owner's alone already)
    return SqliteInfo(pages=total, page_size=page_size)


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"{name} was not found: install the PostgreSQL client tools (postgresql-client) of"
            " the same major version as the server"
        )
    return path


def _pg_connection_args(db: dict) -> tuple[list[str], dict[str, str]]:
    args = []
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    options = db.get("OPTIONS") or {}
    if options.get("sslmode"):
        env["PGSSLMODE"] = str(options["sslmode"])
    return args + ["--no-password"], env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(
            f"{Path(cmd[0]).name} failed (exit {result.returncode}): " + " / ".join(detail[-5:])
        )


def backup_postgres(db: dict, dest: Path) -> int:
    """`pg_dump --format=custom` of the database into `dest` (via a temporary file beside it).
    Returns the size in bytes."""
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    args, env = _pg_connection_args(db)
    try:
        _run(
            [
                _pg_tool("pg_dump"),
                "--format=custom",
                f"--file={tmp}",
                f"--exclude-table-data={SESSION_TABLE}",
                *args,
                str(db["NAME"]),
            ],
            env,
        )
        with open(tmp, "rb") as f:
            if f.read(len(PGDUMP_HEADER)) != PGDUMP_HEADER:
                raise BackupError("pg_dump wrote something that is not a custom-format dump")
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    return dest.stat().st_size


def check_pg_dump(path: Path) -> None:
    if not path.exists():
        raise BackupError(f"there is no file at {path}")
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_HEADER))
    if not head.startswith(PGDUMP_HEADER):
        raise BackupError(
            f"{path} is not a PostgreSQL custom-format dump made by `kap backup`"
            + (" (it is a SQLite database)" if head == SQLITE_HEADER else "")
        )
    # pg_restore --list reads the table of contents: a truncated or foreign dump fails here.
    _run([_pg_tool("pg_restore"), "--list", str(path)], {**os.environ})


def pg_dump_keys(path: Path, columns: list[tuple[str, str]]) -> tuple[set[str], list[tuple]]:
    """(the key ids the dump's encrypted values were written with, its key canaries as (key id,
    value)), read from the dump's data as `pg_restore` prints it, without restoring anything.
    Only the given (table, column) pairs are looked at; nothing is decrypted."""
    wanted: dict[str, set[str]] = {}
    for table, column in columns:
        wanted.setdefault(table, set()).add(column)
    errors = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        [_pg_tool("pg_restore"), "--data-only", "--file=-", str(path)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        errors="replace",
    )
    key_ids: set[str] = set()
    canaries: list[tuple[str, str]] = []
    positions: list[int] = []  # the encrypted columns of the COPY block being read
    canary_cols: tuple[int, int] | None = None
    in_copy = False
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if not in_copy:
            match = _COPY.match(line)
            if match:
                in_copy = True
                table = match["table"].strip('"')
                cols = [c.strip().strip('"') for c in match["columns"].split(",")]
                positions = [i for i, c in enumerate(cols) if c in wanted.get(table, ())]
                canary_cols = (
                    (cols.index("key_id"), cols.index("value")) if table == CANARY_TABLE else None
                )
            continue
        if line == "\\.":
            in_copy = False
            continue
        if not positions and canary_cols is None:
            continue
        fields = line.split("\t")  # a tab inside a value is written as the two characters \t
        for i in positions:
            value = fields[i]
            if value.startswith("enc1:"):
                key_ids.add(value.split(":", 2)[1])
        if canary_cols is not None:
            key_id, value = fields[canary_cols[0]], fields[canary_cols[1]]
            canaries.append((key_id, value))
            if value.startswith("enc1:"):
                key_ids.add(value.split(":", 2)[1])
    code = proc.wait()
    errors.seek(0)
    stderr = errors.read()
    errors.close()
    if code != 0:
        detail = stderr.strip().splitlines()
        raise BackupError(f"pg_restore cannot read {path}: " + " / ".join(detail[-5:]))
    return key_ids, sorted(canaries)


_COPY = re.compile(r"^COPY (?:[\w\"]+\.)?(?P<table>[\w\"]+) \((?P<columns>[^)]*)\) FROM stdin;$")


def restore_postgres(db: dict, src: Path) -> None:
    """`pg_restore --clean --if-exists --no-owner` into the database, in a single transaction:
    either everything is restored or nothing changed."""
    args, env = _pg_connection_args(db)
    _run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={db['NAME']}",
            *args,
            str(src),
        ],
        env,
    )


# --- Either ---------------------------------------------------------------------------------------

BACKUP_NAME = re.compile(r"^kap-backup-\d{8}-\d{6}\.(sqlite3|dump)$")


def dated_name(vendor: str, when: datetime | None = None) -> str:
    """`kap-backup-YYYYMMDD-HHMMSS.sqlite3` (SQLite) or `.dump` (PostgreSQL)."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"kap-backup-{stamp}.{'sqlite3' if vendor == 'sqlite' else 'dump'}"


def backup_database(dest: Path, progress: Progress | None = None, using: str = "default") -> int:
    """Back the connected database up into the file `dest`; returns its size in bytes."""
    from django.db import connections

    connection = connections[using]
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        src = Path(db["NAME"]).resolve()
        if src == Path(dest).resolve():
            raise BackupError("the backup cannot be the live database file itself")
        return backup_sqlite(src, dest, progress=progress).size
    if connection.vendor == "postgresql":
        return backup_postgres(db, dest)
    raise BackupError(f"backups of a {connection.vendor} database are not supported")


def backup_into(folder: Path, using: str = "default") -> tuple[Path, int]:
    """A dated backup file in `folder` (which must exist, and is made its owner's alone).
    Returns (its path, its size)."""
    from django.db import connections

    folder = Path(folder)
    if not folder.is_dir():
        raise BackupError(f"the folder {folder} does not exist")
    private_dir(folder, create=False)
    dest = folder / dated_name(connections[using].vendor)
    if dest.exists():  # two within one second: never overwrite one
        raise BackupError(f"{dest} already exists")
    return dest, backup_database(dest, using=using)


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest dated backups (`kap-backup-YYYYMMDD-HHMMSS.*`) in
    `folder`; any other file there is left alone. Returns the files deleted."""
    if keep < 1:
        raise BackupError("at least one backup must be kept")
    backups = sorted(
        (p for p in Path(folder).iterdir() if p.is_file() and BACKUP_NAME.match(p.name)),
        key=lambda p: p.name[len("kap-backup-") :][:15],
        reverse=True,
    )
    deleted = []
    for old in backups[keep:]:
        old.unlink(missing_ok=True)
        deleted.append(old)
    return deleted


def data_tables() -> list[str]:
    """Tables of the apps that hold people's data (not the guide's content, not the canaries)."""
    from django.apps import apps

    tables = []
    for label in DATA_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        for model in config.get_models(include_auto_created=True):
            if model._meta.proxy:
                continue
            tables.append(model._meta.db_table)
    return sorted(set(tables))


def table_counts(using: str = "default") -> dict[str, int]:
    """Row counts of every table of the connected database (through Django)."""
    from django.db import connections

    connection = connections[using]
    counts = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts
