"""The app in child processes, against a real data dir of its own (SQLite file, key file, secret
key), as an operator runs it: `kap` commands and Python scripts with Django set up.

Setting up a data dir (`kap setup`: every migration, then the guide) takes seconds, so each test
process does it once (`set_up_data_dir` in tests/conftest.py) and each test gets a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAP = Path(sys.executable).parent / "kap"


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAP_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "kap.settings",
        **extra,
    }
    if "DATABASE_URL" not in extra:  # SQLite in the data dir, unless a test gives a database
        env.pop("DATABASE_URL", None)
    if "KAP_ENCRYPTION_KEYS" not in extra:
        env.pop("KAP_ENCRYPTION_KEYS", None)
    return env


def run_python(
    data_dir: Path, script: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    """Run `script` with Django set up against KAP_DATA_DIR=data_dir (SQLite, unless `env` has
    a DATABASE_URL)."""
    code = "import django; django.setup()\n" + script
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(data_dir, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def kap(
    data_dir: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(KAP), *args],
        env=child_env(data_dir, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def set_up(data_dir: Path) -> Path:
    """A data dir as `kap setup` leaves it on a first run."""
    result = kap(data_dir, "setup")
    assert result.returncode == 0, result.stderr[-3000:]
    return data_dir


def copy_data_dir(source: Path, dest: Path) -> Path:
    """A copy of a data dir that no process has open (SQLite file, WAL if any, keys, secret)."""
    shutil.copytree(source, dest, dirs_exist_ok=True)
    return dest


# --- The PostgreSQL pass ------------------------------------------------------------------------
# With DATABASE_URL (PostgreSQL), a test's child processes get a database of the test's own on
# that server (the `child_database` fixture, tests/conftest.py): a copy of one that `kap setup`
# set up once per test process, with the same key file and secret key as `set_up_data_dir`.


def on_postgres() -> bool:
    """Whether this is the PostgreSQL pass (DATABASE_URL names a PostgreSQL server)."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def read_rows(data_dir: Path, database: dict[str, str], sql: str, params=()) -> list[dict]:
    """Rows as stored, read raw (not through the app): from the PostgreSQL database that
    `database` (a `child_database`) names, else from the data dir's SQLite file, read-only.
    `sql` has SQLite's `?` placeholders; they become `%s` for PostgreSQL."""
    if url := database.get("DATABASE_URL"):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()
    import sqlite3

    conn = sqlite3.connect(f"file:{data_dir / 'kap.sqlite3'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()
