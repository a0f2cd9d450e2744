"""README "Upgrading", run: a database made by the first release (commit 8600eb7; see
tests/deploy/first_release.py) is brought up to date by `kap setup`, the README's upgrade step,
and every row it held is there and readable: people, links, sessions with their notes, answers
(encrypted, still), drafts, insights, a login that stays logged in, imported questionnaires given
their owner. On the database of the run: SQLite, or PostgreSQL when DATABASE_URL says so (a
throwaway database on that server)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from tests.children import KAP, ROOT, child_env
from tests.deploy.support import admin_sql, postgres_server, postgres_url, throwaway_names


@contextmanager
def database_of_this_run(tmp_path: Path):
    """Settings for the child processes: SQLite in tmp_path, or a new PostgreSQL database."""
    data = tmp_path / "data"
    data.mkdir()
    env = child_env(data)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        yield env
        return
    conninfo = postgres_server()
    assert conninfo, "DATABASE_URL names a PostgreSQL server that does not answer"
    with throwaway_names(conninfo, "kap_upgrade") as name:
        admin_sql(conninfo, f'CREATE DATABASE "{name}"')
        yield {**env, "DATABASE_URL": postgres_url(conninfo, name)}


def run(env: dict, *argv: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        list(argv), env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def test_a_database_made_by_the_first_release_upgrades_to_this_one(tmp_path):
    facts = tmp_path / "facts.json"
    with database_of_this_run(tmp_path) as env:
        run(env, sys.executable, "-m", "tests.deploy.first_release", "make", str(facts))
        run(env, str(KAP), "setup")
        checked = run(env, sys.executable, "-m", "tests.deploy.first_release", "check", str(facts))
        assert "all read back" in checked.stdout
        # The audit trail's chain as the first release wrote it still verifies.
        verified = run(env, str(KAP), "audit", "verify")
        assert "OK: 2 rows" in verified.stdout, verified.stdout
