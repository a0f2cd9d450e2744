"""Both database back ends are configured as README.md says."""

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

SHOW = (
    "import json, django; django.setup(); from django.conf import settings;"
    "print(json.dumps(settings.DATABASES['default'], default=str))"
)


def settings_with(env: dict, tmp_path) -> dict:
    full = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kap.settings",
        "KAP_DATA_DIR": str(tmp_path),
        **env,
    }
    if "DATABASE_URL" not in env:
        full.pop("DATABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", SHOW], env=full, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_sqlite_is_the_default_with_wal_and_immediate_transactions(tmp_path):
    db = settings_with({}, tmp_path)
    assert db["ENGINE"] == "kap.lib.sqlite"
    assert db["NAME"] == str(tmp_path / "kap.sqlite3")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert "synchronous=FULL" in db["OPTIONS"]["init_command"]


def test_database_url_switches_to_postgresql_with_a_bounded_pool(tmp_path):
    db = settings_with(
        {"DATABASE_URL": "postgres://kap@db.internal:5432/kap", "KAP_DB_POOL_SIZE": "5"}, tmp_path
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["NAME"], db["USER"]) == ("db.internal", "kap", "kap")
    assert db["OPTIONS"]["pool"]["max_size"] == 5


@pytest.mark.django_db
def test_the_live_sqlite_connection_uses_wal_and_full_sync():
    if connection.vendor != "sqlite":
        pytest.skip("running on PostgreSQL")
    with connection.cursor() as cur:
        cur.execute("PRAGMA synchronous")
        assert cur.fetchone()[0] == 2  # FULL
        cur.execute("PRAGMA busy_timeout")
        assert cur.fetchone()[0] == 20000


@pytest.mark.django_db
def test_the_suite_runs_on_the_back_end_it_was_given():
    expected = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    assert connection.vendor == expected


HASH = (
    "import json, django; django.setup(); from django.conf import settings;"
    "from django.contrib.auth.hashers import check_password, make_password;"
    "print(json.dumps([settings.PASSWORD_HASHERS, make_password('a quiet morning'),"
    " check_password('a quiet morning', {cheap!r})]))"
)


def test_production_hashes_passwords_with_argon2id_at_its_configured_cost(tmp_path):
    """The tests hash at the least cost (tests/hashers.py); the app's own settings never do, and
    still verify what the tests hashed (a child process with the tests' accounts logs in)."""
    from django.contrib.auth.hashers import make_password

    cheap = make_password("a quiet morning")
    assert cheap.startswith("argon2$argon2id$v=19$m=8,t=1,p=1$")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kap.settings", "KAP_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", HASH.format(cheap=cheap)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    hashers, hashed, verified = json.loads(out.stdout)
    assert hashers[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    # Django's defaults for Argon2id: two passes over 100 MiB with 8 lanes.
    assert hashed.startswith("argon2$argon2id$v=19$m=102400,t=2,p=8$")
    assert verified is True
