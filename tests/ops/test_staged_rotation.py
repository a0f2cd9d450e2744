"""Key rotation without downtime, with two app servers ("A", where the commands run, and "B",
each reading its own key file): add → use → reencrypt → retire, picked up without a restart, and
a calm 503 page (never a 500) on a server that meets a key it has not received yet."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kap.journal.models import Insight
from kap.lib import crypto
from kap.ops import rotation, views
from kap.ops.keys import verify_keys
from kap.ops.models import KeyCanary
from kap.ops.worker import beat
from tests.children import KAP

CANARY = "QUIET-HERON-CANARY-2231"


def run(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def key_file(path) -> dict:
    return json.loads(path.read_text())


class Servers:
    """Two servers' key files; `on(name)` makes this process read that server's file."""

    def __init__(self, settings, a_dir):
        self.settings = settings
        self.dirs = {"A": a_dir, "B": a_dir.parent / "server-b"}
        self.dirs["B"].mkdir()

    def on(self, name: str) -> None:
        self.settings.DATA_DIR = self.dirs[name]

    def keys(self, name: str):
        return self.dirs[name] / "keys"

    def copy_keys(self, src: str, dest: str) -> None:
        """What the admin does with scp: the file lands with a new modification time."""
        shutil.copy(self.keys(src), self.keys(dest))


@pytest.fixture
def servers(own_keys, settings, monkeypatch):
    # Each request looks at the key file (in production at most once a second; see below).
    monkeypatch.setattr(crypto, "RECHECK_SECONDS", 0.0)
    return Servers(settings, own_keys.parent)


def raw_of(pk: int) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM journal_insight WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_a_staged_rotation_across_two_servers_without_a_restart(
    servers, client, client_user, guide
):
    beat()
    views.forget_cached_checks()
    servers.on("A")
    verify_keys()
    old = crypto.keyring().current
    before = Insight.objects.create(client=client_user, text=f"{CANARY} before")
    servers.copy_keys("A", "B")  # both servers run with the first key
    client.force_login(client_user)

    # 1. add: readable everywhere, not yet current. A's running process sees it at once.
    out = run("keys_add")
    new = re.search(r"Added key (\w+)", out)[1]
    ring = crypto.keyring()  # no reset: the file's change is noticed
    assert ring.current == old and set(ring.keys) == {old, new}
    assert key_file(servers.keys("A"))["current"] == old
    assert Insight.objects.create(client=client_user, text="x").pk  # still written under old
    assert raw_of(Insight.objects.latest("pk").pk).startswith(f"enc1:{old}:")

    # 2. use, on A, before B has the new key file.
    out = run("keys_use", new)
    assert crypto.keyring().current == new and KeyCanary.objects.filter(key_id=new).exists()
    after = Insight.objects.create(client=client_user, text=f"{CANARY} after")
    assert raw_of(after.pk).startswith(f"enc1:{new}:")

    # Server B has not received it: not ready, and a calm 503 page for the value it cannot read.
    servers.on("B")
    assert client.get("/readyz").content == b"not ready: keys\n"
    response = client.get(f"/insights/{after.pk}/edit/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "has not received the newest encryption key yet" in page
    assert new not in page and CANARY not in page and "Traceback" not in page
    assert client.get(f"/insights/{before.pk}/edit/").status_code == 200  # the rest still works

    # The admin copies the key file to B: B reads it on its next request, no restart.
    servers.copy_keys("A", "B")
    assert client.get("/readyz").content == b"ok\n"
    response = client.get(f"/insights/{after.pk}/edit/")
    assert response.status_code == 200 and f"{CANARY} after" in response.content.decode()

    # 3. reencrypt (on A), resumable: a second run has nothing left to do.
    servers.on("A")
    out = run("keys_reencrypt")
    assert "Done." in out
    assert all(raw_of(i.pk).startswith(f"enc1:{new}:") for i in Insight.objects.all())
    assert "already under the current key" in run("keys_reencrypt")

    # 4. retire: the old key goes from A's file; B, with the previous copy, still reads all.
    out = run("keys_retire")
    assert f"Retired {old}" in out
    assert list(key_file(servers.keys("A"))["keys"]) == [new]
    assert not KeyCanary.objects.filter(key_id=old).exists()
    assert Insight.objects.get(pk=before.pk).text == f"{CANARY} before"
    servers.on("B")
    assert Insight.objects.get(pk=before.pk).text == f"{CANARY} before"
    servers.copy_keys("A", "B")
    assert set(crypto.keyring().keys) == {new}
    assert client.get("/readyz").content == b"ok\n"


def test_retire_keeps_a_key_that_values_still_use(servers, client_user, guide):
    servers.on("A")
    verify_keys()
    old = crypto.keyring().current
    Insight.objects.create(client=client_user, text="written under the first key")
    new = re.search(r"Added key (\w+)", run("keys_add"))[1]
    run("keys_use", new)

    out = run("keys_retire")
    assert f"Key {old} is kept: 1 value(s) still use it" in out and "No key was retired" in out
    assert set(key_file(servers.keys("A"))["keys"]) == {old, new}


def test_use_refuses_a_key_that_is_not_there_and_changes_nothing(servers, db):
    servers.on("A")
    verify_keys()
    before = servers.keys("A").read_bytes()
    with pytest.raises(CommandError, match="there is no key 'knothere'"):
        run("keys_use", "knothere")
    assert servers.keys("A").read_bytes() == before


def test_with_keys_from_the_environment_each_stage_prints_the_value_to_set(
    own_keys, monkeypatch, client_user, guide
):
    key_id, key = crypto.new_key()
    monkeypatch.setenv(crypto.ENV_VAR, crypto.env_value({key_id: key}))
    crypto.reset_keyring_cache()
    verify_keys()
    Insight.objects.create(client=client_user, text="text")

    out = run("keys_add")
    line = next(x for x in out.splitlines() if x.startswith(f"{crypto.ENV_VAR}="))
    value = line.split("=", 1)[1]
    ids = [part.split(":")[0] for part in value.split(",")]
    assert ids[0] == key_id and len(ids) == 2  # the current key stays first
    assert "restart" in out
    assert not own_keys.exists()  # nothing written anywhere

    monkeypatch.setenv(crypto.ENV_VAR, value)  # the admin sets it and restarts
    out = run("keys_use", ids[1])
    value = next(x for x in out.splitlines() if x.startswith(f"{crypto.ENV_VAR}=")).split("=", 1)[1]
    assert [p.split(":")[0] for p in value.split(",")] == [ids[1], key_id]

    monkeypatch.setenv(crypto.ENV_VAR, value)
    run("keys_reencrypt")
    out = run("keys_retire")
    value = next(x for x in out.splitlines() if x.startswith(f"{crypto.ENV_VAR}=")).split("=", 1)[1]
    assert [p.split(":")[0] for p in value.split(",")] == [ids[1]]


def test_a_half_copied_key_file_does_not_break_a_running_server(servers, client_user, guide):
    servers.on("A")
    verify_keys()
    insight = Insight.objects.create(client=client_user, text="still readable")
    servers.keys("A").write_text('{"current": "k')  # scp caught mid-way
    assert Insight.objects.get(pk=insight.pk).text == "still readable"


def test_the_keyring_is_read_again_only_when_the_file_changes(servers, monkeypatch):
    servers.on("A")
    crypto.keyring()
    reads = []
    original = json.loads
    monkeypatch.setattr(json, "loads", lambda s, *a, **k: reads.append(1) or original(s, *a, **k))
    for _ in range(50):
        crypto.keyring()
    assert reads == []
    os.utime(servers.keys("A"), ns=(1, 1))
    crypto.keyring()
    assert reads == [1]


def test_the_key_file_is_looked_at_once_a_second_and_at_once_for_an_unknown_key(
    servers, monkeypatch
):
    servers.on("A")
    monkeypatch.setattr(crypto, "RECHECK_SECONDS", 3600.0)
    crypto.reset_keyring_cache()
    ring = crypto.keyring()
    looks = []
    original = crypto._file_signature
    monkeypatch.setattr(crypto, "_file_signature", lambda p: looks.append(1) or original(p))
    for _ in range(100):
        crypto.encrypt("x")
    assert looks == []  # not a stat per value
    # Another server wrote a value under a key this one has just been given.
    key_id, key = crypto.new_key()
    value = crypto.encrypt("from the other server")
    crypto.write_keyring(servers.keys("A"), key_id, {**ring.keys, key_id: key})
    monkeypatch.setattr(crypto, "_checked_at", 10**9)  # as if just looked at
    other = value.replace(f":{ring.current}:", f":{key_id}:")
    with pytest.raises(crypto.DecryptionError):  # found the key at once (then: wrong key data)
        crypto.decrypt(other)
    assert looks and key_id in crypto.keyring().keys


def test_generate_prints_a_first_key_without_a_database_or_a_data_dir(tmp_path):
    data_dir = tmp_path / "nothing-here"
    env = {
        **os.environ,
        "KAP_DATA_DIR": str(data_dir),
        # A database that does not exist: generating a key must not need one.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
    }
    env.pop(crypto.ENV_VAR, None)
    result = subprocess.run(
        [str(KAP), "keys", "generate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    name, _, value = line.partition("=")
    assert name == crypto.ENV_VAR
    key_id, _, b64 = value.partition(":")
    assert re.fullmatch(r"k[0-9a-f]{8}", key_id) and len(base64.b64decode(b64)) == 32
    assert not data_dir.exists()

    only = subprocess.run(
        [str(KAP), "keys", "generate", "--value"], env=env, capture_output=True, text=True
    ).stdout.strip()
    assert only.startswith("k") and "=" not in only.split(":")[0] and only != value

    # What it printed is a keyring the app accepts.
    ring = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kap.lib import crypto; r = crypto.keyring(); print(r.current, len(r.keys))",
        ],
        env={**env, crypto.ENV_VAR: value},
        capture_output=True,
        text=True,
    )
    assert ring.stdout.split() == [key_id, "1"], ring.stderr


def test_rotation_module_keeps_one_home_for_new_keys():
    key_id, key = rotation.new_key()
    assert key_id.startswith("k") and len(key) == 32


def test_the_stages_from_the_command_line(set_up_data_dir):
    from tests.children import kap

    keys = set_up_data_dir / "keys"
    old = key_file(keys)["current"]
    added = kap(set_up_data_dir, "keys", "add")
    assert added.returncode == 0, added.stderr
    new = re.search(r"Added key (\w+)", added.stdout)[1]
    missing = kap(set_up_data_dir, "keys", "use", "knothere")
    assert missing.returncode == 1 and "there is no key 'knothere'" in missing.stderr
    for args in (("use", new), ("reencrypt",), ("retire",)):
        result = kap(set_up_data_dir, "keys", *args)
        assert result.returncode == 0, (args, result.stderr)
    assert key_file(keys)["current"] == new and list(key_file(keys)["keys"]) == [new]
    assert old not in keys.read_text()
