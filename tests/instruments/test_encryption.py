"""Free text is encrypted at rest: a canary typed into each free-text field is absent from the
database file, its WAL and a dump; a missing or wrong key is a clear error, never garbled text."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from kap.content.models import Instrument
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    SupportItem,
)
from kap.journal.services import save_draft, submit_response
from kap.lib import crypto

CANARY = "PURPLE-OTTER-CANARY-4471"


def fill_every_free_text_field(user):
    session = KapSession.objects.create(
        client=user, starts_at=timezone.now(), notes=f"{CANARY} notes"
    )
    for instrument in Instrument.objects.current():
        spec = instrument.parsed
        text_items = [i.key for i in spec.items if spec.item_type(i) == "text"]
        if text_items:
            answers = {k: f"{CANARY} {instrument.key} {k}" for k in text_items}
            submit_response(client=user, instrument=instrument, session=session, answers=answers)
            save_draft(
                client=user, instrument=instrument, session=None, answers=answers, base_version=None
            )
    Insight.objects.create(client=user, session=session, text=f"{CANARY} insight")
    step = ActionStep.objects.create(client=user, text=f"{CANARY} step")
    CheckIn.objects.create(step=step, status="working", note=f"{CANARY} check-in")
    QuestionToBring.objects.create(client=user, text=f"{CANARY} question")
    SupportItem.objects.create(client=user, category="people", text=f"{CANARY} support")


@pytest.mark.django_db(transaction=True)
def test_a_canary_is_absent_from_the_database_its_wal_and_a_dump(client_user, guide, tmp_path):
    fill_every_free_text_field(client_user)
    # It reads back as text through the models ...
    assert Insight.objects.get().text == f"{CANARY} insight"
    # ... and is nowhere in a dump of the stored bytes.
    dump = tmp_path / "dump.sql"
    if connection.vendor == "sqlite":
        dump.write_text("\n".join(connection.connection.iterdump()))
    else:
        s = connection.settings_dict
        subprocess.run(
            [
                "pg_dump",
                "-h",
                s["HOST"] or "127.0.0.1",
                "-U",
                s["USER"] or "postgres",
                "-f",
                str(dump),
                s["NAME"],
            ],
            check=True,
        )
    assert CANARY not in dump.read_text()
    assert "enc1:" in dump.read_text()


def test_encryption_on_disk_sqlite_file_and_wal(tmp_path):
    """Runs the app against a real SQLite file (WAL mode) in a child process and greps its bytes."""
    env = {**os.environ, "KAP_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "kap.settings"}
    env.pop("DATABASE_URL", None)
    script = """
import django; django.setup()
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from tests.instruments.test_encryption import fill_every_free_text_field
u = User.objects.create_user("canary@example.com", "a quiet morning by the lake")
fill_every_free_text_field(u)
import os
os._exit(0)  # no clean close: the WAL stays on disk, as after a crash, to be searched too
"""
    subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, cwd=Path(__file__).parents[2]
    )
    files = [p for p in tmp_path.iterdir() if p.name.startswith("kap.sqlite3")]
    assert {p.name for p in files} >= {"kap.sqlite3", "kap.sqlite3-wal"}
    for path in files:
        assert CANARY.encode() not in path.read_bytes(), path.name
    raw = b"".join(p.read_bytes() for p in files)
    assert b"enc1:" in raw


def test_tampered_ciphertext_raises_and_never_returns_text():
    value = crypto.encrypt("hello")
    prefix, key_id, b64 = value.split(":", 2)
    blob = bytearray(base64.b64decode(b64))
    blob[-1] ^= 1
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(f"{prefix}:{key_id}:{base64.b64encode(bytes(blob)).decode()}")


def test_the_key_file_is_created_readable_by_its_owner_only():
    crypto.keyring()
    path = crypto.keys_path()
    assert path.exists()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def _start(tmp_path, env_extra=None):
    env = {**os.environ, "KAP_DATA_DIR": str(tmp_path), **(env_extra or {})}
    env.pop("DATABASE_URL", None)
    kap = Path(sys.executable).parent / "kap"
    return subprocess.run([str(kap), "setup"], env=env, capture_output=True, text=True)


def _store_text(tmp_path):
    env = {**os.environ, "KAP_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "kap.settings"}
    env.pop("DATABASE_URL", None)
    script = """
import django; django.setup()
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from kap.journal.models import SupportItem
u = User.objects.create_user("k@example.com", "a quiet morning by the lake")
SupportItem.objects.create(client=u, category="people", text="my sister")
"""
    subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, cwd=Path(__file__).parents[2]
    )


def test_a_missing_key_is_a_clear_start_up_error(tmp_path):
    _store_text(tmp_path)
    (tmp_path / "keys").unlink()
    result = _start(tmp_path)
    assert result.returncode != 0
    assert "is not in" in result.stderr and "restore the key file" in result.stderr


def test_a_wrong_key_is_a_clear_start_up_error(tmp_path):
    _store_text(tmp_path)
    data = json.loads((tmp_path / "keys").read_text())
    data["keys"][data["current"]] = base64.b64encode(os.urandom(32)).decode()
    (tmp_path / "keys").write_text(json.dumps(data))
    result = _start(tmp_path)
    assert result.returncode != 0
    assert "does not decrypt" in result.stderr


def test_keys_can_come_from_the_environment(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    result = _start(tmp_path, {"KAP_ENCRYPTION_KEYS": f"kenv:{key}"})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "keys").exists()
