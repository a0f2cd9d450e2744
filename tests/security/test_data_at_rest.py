"""What is on disk is the owner's alone, and nothing on disk opens a session.

Found by the second security review: the SQLite database and its WAL were world-readable (0644)
and held live session keys, so another account on the machine read a therapist's session (second
factor passed) from the file, or from a backup, and used it. Now the data folder is 0700 and its
files 0600 (made so, and put right in an install made before), sessions are stored under a digest
of their key (kap.accounts.sessions), and backups hold no sessions at all (kap.ops.backup).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client

from kap.accounts.sessions import stored_key
from kap.lib import private
from tests.care.conftest import verify
from tests.children import KAP, ROOT, child_env
from tests.conftest import PASSWORD

USUAL_UMASK = 0o022  # what a shell usually has: the app must not depend on a stricter one


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_kap(data: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(KAP), *args],
        env=child_env(data),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        umask=USUAL_UMASK,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_django(data: Path, script: str, *args: str) -> list[str]:
    """`script` in a process with Django set up against `data`, started as any script would be
    (not through `kap`), with the usual umask; its output lines."""
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + script, *args],
        env=child_env(data),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        umask=USUAL_UMASK,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


# --- Modes -----------------------------------------------------------------------------------------

WAL_MODES = """
import os, stat
from django.db import connection
from kap.accounts.models import User

User.objects.create_user("wal@example.com", "a quiet morning by the lake", role="client")
name = connection.settings_dict["NAME"]  # the connection is open: -wal and -shm exist
print(*(oct(stat.S_IMODE(os.stat(f"{name}{end}").st_mode)) for end in ("", "-wal", "-shm")))
"""


def test_a_new_install_is_its_owners_alone(tmp_path):
    data = tmp_path / "new" / "data"

    run_kap(data, "setup")

    assert mode(data) == 0o700
    for name in ("kap.sqlite3", "keys", "secret_key"):
        assert mode(data / name) == 0o600, name
    # A process writing to the database, its -wal and -shm open: the same mode as the file.
    assert run_django(data, WAL_MODES) == ["0o600 0o600 0o600"]


def test_an_install_made_with_wider_modes_is_put_right_on_start(set_up_data_dir):
    data = set_up_data_dir
    db = data / "kap.sqlite3"
    wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
    reader = sqlite3.connect(db)  # holds the -wal and -shm open, as a running server would
    try:
        reader.execute("SELECT COUNT(*) FROM django_migrations").fetchone()
        assert wal.exists() and shm.exists()
        data.chmod(0o755)
        for path in (db, wal, shm, data / "keys", data / "secret_key"):
            path.chmod(0o644)

        run_kap(data, "setup")

        assert mode(data) == 0o700
        for path in (db, wal, shm, data / "keys", data / "secret_key"):
            assert mode(path) == 0o600, path.name
    finally:
        reader.close()


def test_what_this_process_does_not_own_is_left_as_it_is(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o750)
    (shared / "notes").write_text("x")
    (shared / "notes").chmod(0o640)
    monkeypatch.setattr(private.os, "geteuid", lambda: os.getuid() + 4242)

    private.private_dir(shared)
    private.tighten_files(shared)

    assert (mode(shared), mode(shared / "notes")) == (0o750, 0o640)


# --- Sessions in the database --------------------------------------------------------------------


def cookie(browser: Client) -> str:
    return browser.cookies[settings.SESSION_COOKIE_NAME].value


def stored_sessions() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key, session_data FROM django_session")
        return list(cursor.fetchall())


def test_the_database_holds_no_session_key_and_what_it_holds_opens_no_session(
    client, make_user, guide
):
    from kap.accounts.models import Clinic

    therapist = make_user(
        "dr.lee@example.com", role="therapist", clinic=Clinic.objects.create(name="Lakeside")
    )
    verify(client, therapist)  # past the second factor, as in the review
    assert client.get("/care/").status_code == 200
    key = cookie(client)

    rows = stored_sessions()
    assert rows
    for session_key, session_data in rows:
        assert key not in session_key and key not in session_data
    assert [stored_key(key)] == [k for k, _ in rows]

    # What the database holds, as a cookie: no session.
    for session_key, _ in rows:
        thief = Client()
        thief.cookies[settings.SESSION_COOKIE_NAME] = session_key
        response = thief.get("/care/")
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/care/").status_code == 200  # the cookie itself still opens it


def test_logging_out_and_logging_in_again_leave_no_session_behind(client, client_user, guide):
    client.force_login(client_user)
    first = cookie(client)
    client.post("/logout/")
    assert not Session.objects.filter(pk=stored_key(first)).exists()
    assert (
        client.post("/login/", {"username": client_user.email, "password": PASSWORD}).status_code
        == 302
    )
    assert [k for k, _ in stored_sessions()] == [stored_key(cookie(client))]


def test_a_session_stored_before_is_moved_under_its_digest_on_its_next_request(
    client, client_user, guide
):
    """A session saved by Django's own store (an install before this change) keeps working, and
    its key leaves the database on its next request."""
    client.force_login(client_user)
    key = cookie(client)
    row = Session.objects.get(pk=stored_key(key))
    Session.objects.create(
        session_key=key, session_data=row.session_data, expire_date=row.expire_date
    )
    row.delete()

    assert client.get("/account/").status_code == 200

    assert [k for k, _ in stored_sessions()] == [stored_key(key)]


# --- Backups ----------------------------------------------------------------------------------------

LOG_IN = """
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment
from kap.accounts.models import User

setup_test_environment()
browser = Client()
browser.force_login(User.objects.create_user("alex@example.com", "a quiet morning by the lake"))
assert browser.get("/account/").status_code == 200
print(browser.cookies[settings.SESSION_COOKIE_NAME].value)
"""

OPENS = """
import sys
from django.conf import settings
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
for value in sys.argv[1:]:
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = value
    print(browser.get("/account/").status_code)
"""


def session_rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT session_key, session_data FROM django_session"))
    finally:
        conn.close()


def test_a_stolen_sqlite_backup_or_database_opens_no_session(set_up_data_dir, tmp_path):
    data = set_up_data_dir
    key = run_django(data, LOG_IN)[-1]
    live = data / "kap.sqlite3"
    on_disk = b"".join(p.read_bytes() for p in data.glob("kap.sqlite3*"))
    assert key.encode() not in on_disk
    read = [session_key for session_key, _ in session_rows(live)]
    assert read == [stored_key(key)]
    # The attack: the cookie opens its session; what the file holds opens none.
    assert run_django(data, OPENS, key, *read) == ["200"] + ["302"] * len(read)

    backup = tmp_path / "stolen.sqlite3"
    run_kap(data, "backup", str(backup))

    assert mode(backup) == 0o600
    assert session_rows(backup) == []
    assert key.encode() not in backup.read_bytes()

    # Restored elsewhere (with the keys): everyone is logged out, the cookie opens nothing.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy2(data / "keys", elsewhere / "keys")
    run_kap(elsewhere, "restore", str(backup))
    assert mode(elsewhere / "kap.sqlite3") == 0o600
    assert session_rows(elsewhere / "kap.sqlite3") == []
    assert run_django(elsewhere, OPENS, key, *read) == ["302"] * (1 + len(read))


WORKER_BACKUP = """
import sys
from pathlib import Path
from kap.ops.backup import backup_into

print(backup_into(Path(sys.argv[1]))[0])
"""


def test_the_workers_backups_and_their_folder_are_the_owners_alone(set_up_data_dir, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    folder.chmod(0o755)

    (dest,) = run_django(set_up_data_dir, WORKER_BACKUP, str(folder))

    assert mode(folder) == 0o700 and mode(Path(dest)) == 0o600


@pytest.mark.django_db(transaction=True)
def test_a_postgres_backup_holds_no_session(client, client_user, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump: runs when DATABASE_URL points at PostgreSQL")
    from kap.ops.backup import backup_into

    client.force_login(client_user)
    key = cookie(client)
    assert [k for k, _ in stored_sessions()] == [stored_key(key)]
    folder = tmp_path / "backups"
    folder.mkdir()
    folder.chmod(0o755)

    dest, _ = backup_into(folder)

    assert mode(folder) == 0o700 and mode(dest) == 0o600
    script = subprocess.run(
        ["pg_restore", "--file=-", str(dest)], capture_output=True, text=True, check=True
    ).stdout
    assert "CREATE TABLE public.django_session" in script
    assert "COPY public.django_session" not in script  # restored, it is empty
    assert key not in script
