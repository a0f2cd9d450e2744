"""Free text is encrypted at rest: a canary typed into each free-text field is absent from the
database file, its WAL and a dump; a missing or wrong key is a clear error, never garbled text."""

import base64
import json
import os
import subprocess

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
from tests.children import kap, run_python

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


def test_encryption_on_disk_sqlite_file_and_wal(set_up_data_dir):
    """Runs the app against a real SQLite file (WAL mode) in a child process and greps its bytes."""
    data_dir = set_up_data_dir
    script = """
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from tests.instruments.test_encryption import fill_every_free_text_field
u = User.objects.create_user("canary@example.com", "a quiet morning by the lake")
fill_every_free_text_field(u)
import os
os._exit(0)  # no clean close: the WAL stays on disk, as after a crash, to be searched too
"""
    run_python(data_dir, script)
    files = [p for p in data_dir.iterdir() if p.name.startswith("kap.sqlite3")]
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


STORE_TEXT = """
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from kap.journal.models import SupportItem
u = User.objects.create_user("k@example.com", "a quiet morning by the lake")
SupportItem.objects.create(client=u, category="people", text="my sister")
"""


def test_a_missing_key_is_a_clear_start_up_error(set_up_data_dir):
    run_python(set_up_data_dir, STORE_TEXT)
    (set_up_data_dir / "keys").unlink()
    result = kap(set_up_data_dir, "setup")
    assert result.returncode != 0
    assert "is not in" in result.stderr and "restore the key file" in result.stderr


def test_a_wrong_key_is_a_clear_start_up_error(set_up_data_dir):
    run_python(set_up_data_dir, STORE_TEXT)
    data = json.loads((set_up_data_dir / "keys").read_text())
    data["keys"][data["current"]] = base64.b64encode(os.urandom(32)).decode()
    (set_up_data_dir / "keys").write_text(json.dumps(data))
    result = kap(set_up_data_dir, "setup")
    assert result.returncode != 0
    assert "does not decrypt" in result.stderr


def test_keys_can_come_from_the_environment(tmp_path):
    """A first run (an empty data dir) with the keys in the environment writes no key file."""
    key = base64.b64encode(os.urandom(32)).decode()
    result = kap(tmp_path, "setup", KAP_ENCRYPTION_KEYS=f"kenv:{key}")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "keys").exists()
