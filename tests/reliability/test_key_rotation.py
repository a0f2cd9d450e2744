"""`kap keys rotate`: every encrypted value of every model ends up under the new key and reads
back the same; a stopped pass is finished by the next; old keys can then be dropped; damaged
ciphertext is never returned as text and stops rotation without touching its row."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from kap.care.models import AlertAcknowledgement, TherapistNote
from kap.journal.models import (
    Insight,
    Response,
    ResponseVersion,
    SafetyEvent,
    SupportItem,
)
from kap.lib import crypto
from kap.lib.fields import EncryptedJSONField, EncryptedTextField
from kap.ops import rotation
from kap.ops.keys import verify_keys
from kap.ops.models import KeyCanary
from tests.children import kap, run_python
from tests.instruments.test_encryption import CANARY, fill_every_free_text_field
from tests.reliability.helpers import sqlite_dump

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_keys(settings, tmp_path, monkeypatch):
    """A key file of this test's own (the session's key file is shared by every test)."""
    monkeypatch.delenv(crypto.ENV_VAR, raising=False)
    settings.DATA_DIR = tmp_path
    crypto.reset_keyring_cache()
    yield tmp_path / "keys"
    crypto.reset_keyring_cache()


@pytest.fixture
def written(own_keys, client_user, make_user, guide):
    """Text in every kind of encrypted field, written under the first key."""
    verify_keys()
    fill_every_free_text_field(client_user)
    therapist = make_user("dr.lee@example.com", role="therapist")
    TherapistNote.objects.create(therapist=therapist, client=client_user, text=f"{CANARY} note")
    response = Response.objects.submitted().first()
    ResponseVersion.objects.create(
        response=response, version=1, answers={"a": f"{CANARY} v1"}, saved_at=timezone.now()
    )
    event = SafetyEvent.objects.create(client=client_user, response=response, rule_key="r")
    AlertAcknowledgement.objects.create(event=event, therapist=therapist, note=f"{CANARY} ack")
    Insight.objects.bulk_create(
        Insight(client=client_user, text=f"{CANARY} {i} ünïcödé") for i in range(60)
    )
    return client_user


def everything_read_through_models() -> dict:
    out = {}
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, EncryptedTextField | EncryptedJSONField)
        ]
        if fields:
            for row in model.objects.order_by("pk").values("pk", *fields):
                out[(model._meta.label, row["pk"])] = row
    return out


def raw_values() -> dict[tuple[str, str, object], str]:
    out = {}
    with connection.cursor() as cursor:
        for t in rotation.encrypted_tables():
            cols = ", ".join(connection.ops.quote_name(c) for c in t.columns)
            cursor.execute(f"SELECT {connection.ops.quote_name(t.pk)}, {cols} FROM {t.table}")
            for pk, *values in cursor.fetchall():
                for column, value in zip(t.columns, values, strict=True):
                    if value is not None:
                        out[(t.table, column, pk)] = value
    return out


def rotate(*args) -> str:
    out = io.StringIO()
    call_command("keys_rotate", *args, stdout=out)
    crypto.reset_keyring_cache()
    return out.getvalue()


def tamper(value: str) -> str:
    prefix, key_id, b64 = value.split(":", 2)
    blob = bytearray(base64.b64decode(b64))
    blob[20] ^= 0x01
    return f"{prefix}:{key_id}:{base64.b64encode(bytes(blob)).decode()}"


def test_every_encrypted_field_of_every_model_is_found():
    found = {(t.label, f) for t in rotation.encrypted_tables() for f in t.fields}
    expected = {
        (m._meta.label, f.name)
        for m in apps.get_models()
        for f in m._meta.concrete_fields
        if isinstance(f, EncryptedTextField | EncryptedJSONField)
    }
    assert found == expected
    assert {("journal.Insight", "text"), ("journal.Response", "answers")} <= found
    assert ("care.TherapistNote", "text") in found


def test_rotate_rewrites_everything_under_the_new_key_and_the_old_key_can_go(written, own_keys):
    before_text = everything_read_through_models()
    before_raw = raw_values()
    old = crypto.keyring().current
    assert len(before_raw) > 80 and all(v.startswith(f"enc1:{old}:") for v in before_raw.values())

    out = rotate()
    ring = crypto.keyring()
    new = ring.current
    assert new != old and set(ring.keys) == {old, new}
    assert f"New key {new} is now current" in out
    after_raw = raw_values()
    assert after_raw.keys() == before_raw.keys()
    assert all(v.startswith(f"enc1:{new}:") for v in after_raw.values())
    assert everything_read_through_models() == before_text
    assert set(KeyCanary.objects.values_list("key_id", flat=True)) == {old, new}

    # Idempotent: a pass over values already under the current key rewrites nothing.
    result = rotation.reencrypt_all()
    assert result.rewritten == 0 and result.skipped_current == len(after_raw)
    assert raw_values() == after_raw

    # The old key goes (with its canary); everything still reads, and start-up is happy.
    rotation.drop_old_keys()
    crypto.reset_keyring_cache()
    assert json.loads(own_keys.read_text())["keys"].keys() == {new}
    assert oct(own_keys.stat().st_mode & 0o777) == "0o600"
    assert list(KeyCanary.objects.values_list("key_id", flat=True)) == [new]
    verify_keys()
    assert everything_read_through_models() == before_text


def test_rotate_with_drop_old_in_one_go(written, own_keys):
    before_text = everything_read_through_models()
    out = rotate("--drop-old")
    ring = crypto.keyring()
    assert list(ring.keys) == [ring.current]
    assert "Removed the old key(s)" in out
    assert all(v.startswith(f"enc1:{ring.current}:") for v in raw_values().values())
    assert everything_read_through_models() == before_text


def test_a_stopped_pass_is_finished_by_the_next_run_without_another_key(written, own_keys):
    before_text = everything_read_through_models()
    old = crypto.keyring().current
    new, key = rotation.new_key()
    rotation.add_current_key(new, key)
    verify_keys()

    class Crash(Exception):
        pass

    batches = []

    def crash_after_three(n):
        batches.append(n)
        if len(batches) == 3:
            raise Crash

    with pytest.raises(Crash):
        rotation.reencrypt_all(batch_size=5, progress=crash_after_three)
    half = raw_values()
    assert any(v.startswith(f"enc1:{new}:") for v in half.values())
    assert any(v.startswith(f"enc1:{old}:") for v in half.values())
    assert everything_read_through_models() == before_text  # half-way, everything reads

    # Dropping now is refused, naming where old values remain.
    with pytest.raises(rotation.RotationError, match="values still use them in journal_"):
        rotation.drop_old_keys()

    out = rotate()
    assert "Finishing an earlier rotation" in out
    assert crypto.keyring().current == new and set(crypto.keyring().keys) == {old, new}
    assert all(v.startswith(f"enc1:{new}:") for v in raw_values().values())
    # Values rewritten before the crash were not rewritten again.
    assert all(raw_values()[k] == v for k, v in half.items() if v.startswith(f"enc1:{new}:"))
    assert everything_read_through_models() == before_text


def test_tampered_ciphertext_is_an_error_never_text(written, own_keys):
    item = SupportItem.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM journal_supportitem WHERE id = %s", [item.pk])
        (value,) = cursor.fetchone()
        cursor.execute(
            "UPDATE journal_supportitem SET text = %s WHERE id = %s", [tamper(value), item.pk]
        )
    with pytest.raises(crypto.DecryptionError):
        SupportItem.objects.get(pk=item.pk)
    with pytest.raises(crypto.DecryptionError):
        list(SupportItem.objects.values_list("text", flat=True))


def test_rotation_stops_at_a_tampered_value_and_leaves_its_row_alone(written, own_keys):
    insight = Insight.objects.order_by("pk")[10]
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM journal_insight WHERE id = %s", [insight.pk])
        (value,) = cursor.fetchone()
        damaged = tamper(value)
        cursor.execute("UPDATE journal_insight SET text = %s WHERE id = %s", [damaged, insight.pk])

    with pytest.raises(CommandError) as excinfo:
        rotate()
    message = str(excinfo.value)
    assert f"journal_insight row id={insight.pk}" in message
    assert "journal.Insight.text" in message and "does not decrypt" in message
    assert "Nothing was changed for this row" in message
    assert raw_values()[("journal_insight", "text", insight.pk)] == damaged

    # Every other value still reads; the old key is still there for the ones not yet rewritten.
    texts = [t.text for t in Insight.objects.exclude(pk=insight.pk)]
    assert all(CANARY in t for t in texts)
    with pytest.raises(rotation.RotationError):
        rotation.drop_old_keys()


def test_keys_from_the_environment(own_keys, client_user, guide, monkeypatch):
    old_key = base64.b64encode(b"\x01" * 32).decode()
    monkeypatch.setenv(crypto.ENV_VAR, f"kold:{old_key}")
    crypto.reset_keyring_cache()
    verify_keys()
    fill_every_free_text_field(client_user)
    before_text = everything_read_through_models()
    before_raw = raw_values()

    # First run: the new key is printed for the operator to set; nothing is changed yet.
    out = rotate()
    line = next(x for x in out.splitlines() if x.startswith(f"{crypto.ENV_VAR}="))
    value = line.split("=", 1)[1]
    new_id = value.split(":", 1)[0]
    assert value.endswith(f",kold:{old_key}") and new_id != "kold"
    assert raw_values() == before_raw
    assert not own_keys.exists()

    # With the new value set: the second run re-encrypts everything.
    monkeypatch.setenv(crypto.ENV_VAR, value)
    crypto.reset_keyring_cache()
    out = rotate()
    assert "Finishing an earlier rotation" in out
    assert all(v.startswith(f"enc1:{new_id}:") for v in raw_values().values())
    assert everything_read_through_models() == before_text

    # Dropping: refused (kap cannot edit the environment), with what to remove.
    with pytest.raises(CommandError, match="kold") as excinfo:
        rotate("--drop-old")
    assert "cannot change" in str(excinfo.value)
    # Once the operator removes the old key, start-up and reads work.
    monkeypatch.setenv(crypto.ENV_VAR, value.split(",")[0])
    crypto.reset_keyring_cache()
    verify_keys()
    assert everything_read_through_models() == before_text


def test_the_command_line_on_a_real_database(set_up_data_dir):
    run_python(
        set_up_data_dir,
        """
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from tests.instruments.test_encryption import fill_every_free_text_field
fill_every_free_text_field(User.objects.create_user("a@example.com", "a quiet morning by the lake"))
""",
    )
    read = "from kap.journal.models import Insight, Response\nprint([i.text for i in Insight.objects.all()], [r.answers for r in Response.objects.order_by('pk')])"
    before = run_python(set_up_data_dir, read).stdout
    old = json.loads((set_up_data_dir / "keys").read_text())["current"]
    result = kap(set_up_data_dir, "keys", "rotate", "--drop-old")
    assert result.returncode == 0, result.stderr
    keys = json.loads((set_up_data_dir / "keys").read_text())
    assert keys["current"] != old and list(keys["keys"]) == [keys["current"]]
    dump = sqlite_dump(set_up_data_dir / "kap.sqlite3")
    enc = [v for rows in dump.values() for row in rows for v in row if str(v).startswith("enc1:")]
    assert enc and all(v.startswith(f"enc1:{keys['current']}:") for v in enc)
    assert run_python(set_up_data_dir, read).stdout == before
    assert kap(set_up_data_dir, "setup").returncode == 0
