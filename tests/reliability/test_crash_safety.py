"""Crash safety: the app under a real gunicorn server is killed with SIGKILL (master and workers
together) at random moments while clients autosave, 200 times. Every save the server
acknowledged with a 200 must be in the database after each crash, and the SQLite file must pass
SQLite's integrity check. On the PostgreSQL pass (DATABASE_URL) the server uses a PostgreSQL
database of the test's own (child_database, tests/conftest.py), 40 times: there the database's
durability is PostgreSQL's, and what is tested is that the app answers only what it committed.

Each client thread autosaves its own draft (one instrument each) one request at a time, so what
the database may hold after a crash is known exactly: the last acknowledged save (same version,
same text), or a later save whose answer was lost in the crash (version higher by at most the
number of saves sent since, text one of those)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.children import ROOT, child_env, on_postgres, read_rows, run_python
from tests.reliability.helpers import RawKeys, integrity

# Each round costs about 0.4 s on SQLite and 1.2 s on PostgreSQL (a commit and a new connection
# cost more there).
ROUNDS = int(os.environ.get("KAP_CRASH_ROUNDS", "40" if on_postgres() else "200"))
# Every this many rounds, the server is started with the exact command line instead of from the
# pre-imported process (slower: it imports Django afresh).
REAL_COMMAND_EVERY = 40
# Instrument and text item each client thread writes to.
DRAFTS = [
    ("self-assessment", "most-stuck-patterns"),
    ("integration-worksheet", "experienced-or-noticed"),
    ("first-session-preparation", "goals"),
]

SETUP = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from kap.accounts.models import User
from kap.content.models import Instrument

call_command("kap_setup")
user = User.objects.create_user("crash@example.com", "a quiet morning by the lake")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
ids = {i.key: i.pk for i in Instrument.objects.current()}
print(json.dumps({"session": session.session_key, "user": user.pk, "instruments": ids}))
"""


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so that while our server is down between
    rounds no other process is handed it for an outgoing connection or a bind to port 0."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port found")


def port_closed(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except ConnectionRefusedError:
            return
        except OSError:
            pass
        time.sleep(0.005)
    raise AssertionError(f"port {port} still accepts connections after the kill")


@dataclass
class Draft:
    instrument: str
    item: str
    instrument_id: int
    acked: list[tuple[int, str]] = field(default_factory=list)  # (version, text), in order
    in_doubt: list[str] = field(default_factory=list)  # sent since the last ack, no answer
    errors: list[str] = field(default_factory=list)
    lost_answers: int = 0  # saves that were committed but whose answer the crash swallowed


class Clients:
    def __init__(self, port: int, cookie: str, csrf: str, drafts: list[Draft]):
        self.port, self.cookie, self.csrf, self.drafts = port, cookie, csrf, drafts
        self.counter = itertools.count()
        self.acks = 0
        self.cond = threading.Condition()
        self.stop = threading.Event()

    def save(self, draft: Draft, n: int) -> None:
        text = f"{draft.instrument} save {n} " + secrets.token_hex(8)
        body = urlencode({draft.item: text})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            try:
                conn.connect()
            except ConnectionRefusedError:
                time.sleep(0.005)  # not sent: the server is not up yet
                return
            draft.in_doubt.append(text)
            conn.request(
                "POST",
                f"/i/{draft.instrument}/autosave/",
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": self.cookie,
                    "X-CSRFToken": self.csrf,
                    "HX-Request": "true",
                },
            )
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            return  # killed while in flight: committed or not, we cannot know
        finally:
            conn.close()
        if response.status != 200:
            draft.errors.append(f"{response.status}: {payload[:300]!r}")
            return
        version = json.loads(payload)["version"]
        previous = draft.acked[-1][0] if draft.acked else 0
        # Versions go up by one per committed save: the saves in doubt before this one account
        # for any gap.
        if not previous < version <= previous + len(draft.in_doubt):
            draft.errors.append(f"version {version} after {previous}, {draft.in_doubt}")
        draft.lost_answers += version - previous - 1
        draft.acked.append((version, text))
        draft.in_doubt = []
        with self.cond:
            self.acks += 1
            self.cond.notify_all()

    def run(self, draft: Draft) -> None:
        while not self.stop.is_set():
            self.save(draft, next(self.counter))


def check_database(
    data_dir: Path, database: dict[str, str], keys: RawKeys, user_id: int, drafts: list[Draft]
) -> None:
    if not database:  # SQLite: the file itself came through the kills whole
        assert integrity(data_dir / "kap.sqlite3") == ["ok"]
    for d in drafts:
        rows = read_rows(
            data_dir,
            database,
            "SELECT version, answers FROM journal_response"
            " WHERE client_id = ? AND instrument_id = ? AND status = 'draft'",
            [user_id, d.instrument_id],
        )
        if not d.acked:
            continue
        acked_version, acked_text = d.acked[-1]
        assert len(rows) == 1, f"{d.instrument}: acknowledged draft is missing"
        version, answers = rows[0]["version"], rows[0]["answers"]
        text = json.loads(keys.decrypt(answers))[d.item]
        if version == acked_version:
            assert text == acked_text, f"{d.instrument} v{version}: {text!r} != {acked_text!r}"
        else:
            # A save sent after the last acknowledged one was committed before the crash.
            assert text in d.in_doubt, (
                f"{d.instrument}: {text!r} was never sent after v{acked_version}"
            )
            k = d.in_doubt.index(text) + 1
            assert 1 <= version - acked_version <= k, (d.instrument, version, acked_version, k)


def test_acknowledged_saves_survive_kill_9(set_up_data_dir, child_database, tmp_path):
    database = child_database
    info = json.loads(
        run_python(set_up_data_dir, SETUP, **database).stdout.strip().splitlines()[-1]
    )
    csrf = secrets.token_hex(16)  # 32 characters: a CSRF secret, sent as cookie and header
    cookie = f"sessionid={info['session']}; csrftoken={csrf}"
    drafts = [Draft(key, item, info["instruments"][key]) for key, item in DRAFTS]
    keys = RawKeys(set_up_data_dir / "keys")
    port = free_port()
    log = tmp_path / "server.log"
    env = child_env(set_up_data_dir, **database)
    zygote = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.server_zygote"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert zygote.stdout.readline().strip() == "ready"
    clients = Clients(port, cookie, csrf, drafts)
    rng = random.Random(int(os.environ.get("KAP_CRASH_SEED", "0")) or None)
    stats = {"in_flight_at_kill": 0, "restart": [], "real_restart": []}
    started = time.monotonic()
    pgid = None
    try:
        for round_no in range(ROUNDS):
            real = round_no % REAL_COMMAND_EVERY == 0
            t0 = time.monotonic()
            if real:
                with open(log, "a") as out:
                    server = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gunicorn",
                            "kap.wsgi:application",
                            "--bind",
                            f"127.0.0.1:{port}",
                            "--workers",
                            "2",
                        ],
                        env=env,
                        cwd=ROOT,
                        stdout=out,
                        stderr=out,
                        start_new_session=True,
                    )
                pgid = server.pid
            else:
                zygote.stdin.write(f"start {port} {log}\n")
                zygote.stdin.flush()
                pgid = int(zygote.stdout.readline())

            clients.stop.clear()
            with clients.cond:
                first, target = clients.acks, clients.acks + rng.randint(3, 8)
            threads = [threading.Thread(target=clients.run, args=(d,)) for d in drafts]
            for t in threads:
                t.start()
            with clients.cond:
                assert clients.cond.wait_for(
                    lambda first=first: clients.acks > first, timeout=120
                ), (
                    f"round {round_no}: no save acknowledged; server log:\n"
                    + log.read_text()[-3000:]
                )
                (stats["real_restart"] if real else stats["restart"]).append(time.monotonic() - t0)
                assert clients.cond.wait_for(
                    lambda target=target: clients.acks >= target, timeout=60
                )
            time.sleep(rng.uniform(0, 0.03))  # somewhere in the middle of a request, or not
            os.killpg(pgid, signal.SIGKILL)
            pgid = None
            clients.stop.set()
            for t in threads:
                t.join(timeout=60)
                assert not t.is_alive()
            if real:
                server.wait(timeout=10)
            port_closed(port)
            stats["in_flight_at_kill"] += any(d.in_doubt for d in drafts)
            for d in drafts:
                assert not d.errors, d.errors
            check_database(set_up_data_dir, database, keys, info["user"], drafts)
    finally:
        clients.stop.set()
        if pgid is not None:  # a failed round: its server is still running
            os.killpg(pgid, signal.SIGKILL)
        zygote.stdin.close()
        zygote.wait(timeout=30)
    elapsed = time.monotonic() - started

    check_database(set_up_data_dir, database, keys, info["user"], drafts)
    acked = sum(len(d.acked) for d in drafts)
    assert acked >= ROUNDS * 3
    # The kills did land while saves were in flight, and some answers were lost after a commit.
    assert stats["in_flight_at_kill"] > ROUNDS // 4
    restart = sorted(stats["restart"])
    print(
        f"\n{ROUNDS} kill -9 rounds in {elapsed:.0f}s; {acked} saves acknowledged, all present;"
        f" kills with saves in flight: {stats['in_flight_at_kill']}; committed saves whose"
        f" answer was lost: {sum(d.lost_answers for d in drafts)}; restart to first ack:"
        f" median {restart[len(restart) // 2]:.2f}s (pre-imported),"
        f" {sum(stats['real_restart']) / len(stats['real_restart']):.2f}s (exact command)"
    )
