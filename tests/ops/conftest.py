"""Fixtures of the ops tests: a clinic and its admin, a key file of the test's own, a scratch
PostgreSQL database, and the worker's side effects put back."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connection

from kap.lib import crypto


@pytest.fixture
def clinic(db):
    from kap.accounts.models import Clinic

    return Clinic.objects.create(name="Lakeside Clinic")


@pytest.fixture
def clinic_admin(make_user, clinic):
    return make_user("admin@example.com", role="admin", display_name="Pat Admin", clinic=clinic)


@pytest.fixture
def as_admin(client, clinic_admin):
    from tests.care.conftest import verify

    return verify(client, clinic_admin)


@pytest.fixture
def own_keys(settings, tmp_path, monkeypatch):
    """A key file of this test's own (the session's is shared by every test)."""
    monkeypatch.delenv(crypto.ENV_VAR, raising=False)
    settings.DATA_DIR = tmp_path / "server-a"
    settings.DATA_DIR.mkdir()
    crypto.reset_keyring_cache()
    yield settings.DATA_DIR / "keys"
    crypto.reset_keyring_cache()


def pg_conninfo() -> dict:
    s = connection.settings_dict
    return {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": s["USER"] or "postgres",
        "password": s["PASSWORD"] or None,
    }


def pg_url(conninfo: dict, dbname: str) -> str:
    auth = quote(conninfo["user"]) + (
        f":{quote(conninfo['password'])}" if conninfo["password"] else ""
    )
    return f"postgres://{auth}@{conninfo['host']}:{conninfo['port']}/{dbname}"


@pytest.fixture
def scratch_pg():
    """An empty PostgreSQL database of this test's own: (its URL, psycopg connection info)."""
    if connection.vendor != "postgresql":
        pytest.skip("runs when DATABASE_URL points at PostgreSQL")
    import psycopg

    conninfo = pg_conninfo()
    name = f"{connection.settings_dict['NAME']}_ops_scratch"
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(conninfo, name), {**conninfo, "dbname": name}
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
