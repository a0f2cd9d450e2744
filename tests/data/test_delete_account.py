"""Delete my account (/data/delete/): the page offers the export first, a wrong confirmation
changes nothing, and after confirming every row and file of the person is gone, from the tables,
the SQLite file and its WAL, and the data folder, while another client's data stays intact.

A canary phrase is typed into free-text fields through the app's own forms. Before deletion it
is nowhere in the stored bytes (free text is encrypted at rest) but reads back through the app;
after deletion it cannot be found even encrypted: the rows that held it are gone."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kap.accounts.models import CareLink, Invite, User
from kap.care import audit
from kap.care.models import (
    AlertAcknowledgement,
    AlertNotification,
    AuditEntry,
    QuestionDiscussed,
    TherapistNote,
)
from kap.exports.erasure import client_files_dir
from kap.journal.models import (
    ActionStep,
    CalendarFeed,
    Insight,
    KapSession,
    QuestionToBring,
    ReminderSent,
    Response,
    SafetyEvent,
)
from tests.conftest import PASSWORD
from tests.data.conftest import SAM_PHRASE, download_json, page_text, row_counts
from tests.data.people import build_person

CANARY = "VIOLET-HERON-CANARY-8812"
EMAIL = "violet.heron.8812@example.com"
ROOT = Path(__file__).resolve().parents[2]


# --- Raw looks at the database and the data folder ----------------------------------------------


def tables() -> list[str]:
    with connection.cursor() as cur:
        return connection.introspection.table_names(cur)


def user_columns() -> list[tuple[str, str]]:
    """Every (table, column) with a foreign key to the user table, read from the database."""
    out = []
    with connection.cursor() as cur:
        for table in tables():
            for column, relation in connection.introspection.get_relations(cur, table).items():
                # (referenced column, referenced table, …)
                if relation[1] == User._meta.db_table:
                    out.append((table, column))
    return out


def rows_referencing(pk: int) -> dict[str, int]:
    qn = connection.ops.quote_name
    found = {}
    with connection.cursor() as cur:
        for table, column in user_columns():
            cur.execute(f"SELECT COUNT(*) FROM {qn(table)} WHERE {qn(column)} = %s", [pk])
            if n := cur.fetchone()[0]:
                found[f"{table}.{column}"] = n
    return found


def tables_containing(needle: str) -> list[str]:
    """Tables with a cell that holds `needle` (case-insensitive), as stored: raw SQL, no models."""
    qn = connection.ops.quote_name
    low, raw = needle.lower(), needle.lower().encode()
    hits = []
    with connection.cursor() as cur:
        for table in tables():
            cur.execute(f"SELECT * FROM {qn(table)}")
            for row in cur.fetchall():
                if any(
                    raw in bytes(v).lower()
                    if isinstance(v, bytes | memoryview)
                    else low in str(v).lower()
                    for v in row
                ):
                    hits.append(table)
                    break
    return hits


def files_containing(folder: Path, *needles: str) -> list[str]:
    hits = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            blob = path.read_bytes().lower()
            hits += [f"{path}: {n}" for n in needles if n.lower().encode() in blob]
    return hits


# --- The person -------------------------------------------------------------------------------


@pytest.fixture
def violet(client, make_user, guide, therapist):
    """A client who typed the canary into several free-text fields, through the app's forms, and
    has one of every record besides: a therapist's link, note, alert handling and audit entry,
    an invitation, reminders, a calendar address, two-factor devices and a file of their own."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    user = make_user(EMAIL, display_name="Violet")
    person = build_person(user, CANARY, therapist=therapist)
    client.force_login(user)

    session = person.objects["session"]
    typed = [
        client.post(
            reverse("journal:insight-add", args=[session.pk]),
            {"text": f"{CANARY} typed insight"},
        ),
        client.post(reverse("journal:step-new"), {"text": f"{CANARY} typed step", "session": ""}),
        client.post(
            reverse("journal:session-new"),
            {
                "starts_at": "2026-01-10 10:00",
                "status": "completed",
                "clinician_name": "",
                "setting": "home",
                "notes": f"{CANARY} typed session notes",
            },
        ),
        client.post(
            reverse("journal:instrument", args=["integration-worksheet"]),
            {
                "experienced-or-noticed": f"{CANARY} typed worksheet answer",
                "felt-different": "A little.",
                "insight-emerged": "Rest.",
                "means-for-my-life": "Slower mornings.",
                "might-do-next": "",
            },
        ),
    ]
    assert [r.status_code for r in typed] == [302, 302, 302, 302]

    event = SafetyEvent.objects.filter(client=user).first()
    AlertAcknowledgement.objects.create(event=event, therapist=therapist)
    AlertNotification.objects.create(event=event, therapist=therapist, status="sent")
    TherapistNote.objects.create(therapist=therapist, client=user, text=f"{CANARY} note")
    QuestionDiscussed.objects.create(
        question=QuestionToBring.objects.filter(client=user).first(), therapist=therapist
    )
    audit.record(actor=therapist, subject=user, action="view", what="timeline", ip="127.0.0.1")
    Invite.objects.create(
        kind="client",
        created_by=therapist,
        code_hash="f" * 64,
        email=EMAIL.upper(),
        expires_at=timezone.now() + timedelta(days=3),
    )
    CalendarFeed.objects.create(client=user, token="secret-token", token_hash="e" * 64)
    ReminderSent.objects.create(client=user, kind="session", key="s-1", status="sent")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    StaticToken.objects.create(
        device=StaticDevice.objects.create(user=user, name="backup"), token="abcd1234"
    )
    folder = client_files_dir(user)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "attachment.txt").write_text(f"{CANARY} written by {EMAIL}", encoding="utf-8")
    yield person
    # The data folder is shared by the whole test run: leave nothing behind.
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sam_with_files(sam):
    folder = client_files_dir(sam.user)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keep.txt").write_text(f"{SAM_PHRASE} keep me", encoding="utf-8")
    yield sam
    shutil.rmtree(folder, ignore_errors=True)


def confirm(client, **fields):
    return client.post(reverse("exports:delete"), fields)


# --- The page and the confirmation --------------------------------------------------------------


def test_the_delete_page_offers_the_export_before_the_confirmation(logged_in):
    response = logged_in.get(reverse("exports:delete"))
    assert response.status_code == 200
    html = response.content.decode()
    form_at = html.index('id="confirm-title"')
    for name in ("json", "csv"):
        link = f'href="{reverse(f"exports:{name}")}"'
        assert link in html and html.index(link) < form_at, name
    assert "Keep a copy first" in page_text(response)
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "To confirm, type your email address or your password. Nothing was deleted."),
        ({"email": "someone.else@example.com"}, "nothing was deleted"),
        ({"email": "stranger@example.com"}, "nothing was deleted"),
        ({"password": "not my password"}, "nothing was deleted"),
        ({"email": "", "password": " "}, "nothing was deleted"),
    ],
    ids=["nothing", "other-email", "another-clients-email", "wrong-password", "blank-password"],
)
def test_a_wrong_confirmation_deletes_nothing(client, violet, sam, fields, message):
    before = row_counts()
    response = confirm(client, **fields)
    assert response.status_code == 400
    assert message in page_text(response)
    assert row_counts() == before
    assert User.objects.filter(email=EMAIL).exists()
    assert client_files_dir(violet.user).exists()
    # Still signed in.
    assert client.get(reverse("exports:index")).status_code == 200


def test_a_wrong_password_counts_towards_the_sign_in_lockout(client, violet):
    from axes.models import AccessAttempt

    confirm(client, password="not my password")
    assert AccessAttempt.objects.get(username=EMAIL).failures_since_start == 1


def test_a_therapist_has_no_delete_page_here(client, therapist, guide):
    from tests.security.support import log_in_with_second_factor

    log_in_with_second_factor(client, therapist)
    assert client.get(reverse("exports:delete")).status_code == 404
    assert confirm(client, email=therapist.email).status_code == 404
    assert User.objects.filter(pk=therapist.pk).exists()


@pytest.mark.parametrize("fields", [{"email": EMAIL.upper()}, {"password": PASSWORD}])
def test_confirming_with_the_email_or_password_deletes_and_signs_out(client, violet, fields):
    response = confirm(client, **fields)
    assert response.status_code == 200
    assert "Your account has been deleted" in page_text(response)
    assert not User.objects.filter(email=EMAIL).exists()
    after = client.get(reverse("exports:index"))
    assert after.status_code == 302 and after.url.startswith(reverse("login"))


# --- Nothing left -----------------------------------------------------------------------------


def test_after_deletion_no_row_no_canary_and_no_file_of_the_person_remains(
    client, violet, sam_with_files, therapist
):
    user = violet.user
    pk = user.pk
    client.force_login(sam_with_files.user)
    sam_before = download_json(client)
    client.force_login(user)

    # Before: the canary reads back through the app ...
    assert f"{CANARY} typed insight" in [i.text for i in Insight.objects.filter(client=user)]
    assert f"{CANARY} typed step" in [s.text for s in ActionStep.objects.filter(client=user)]
    notes = [s.notes for s in KapSession.objects.filter(client=user)]
    assert f"{CANARY} typed session notes" in notes
    answers = [
        r.answers.get("experienced-or-noticed")
        for r in Response.objects.filter(client=user, instrument__key="integration-worksheet")
    ]
    assert f"{CANARY} typed worksheet answer" in answers
    # ... yet is in no table as stored: free text is encrypted at rest.
    assert tables_containing(CANARY) == []
    # The raw search does find what is stored in plain text, and rows do point at the person.
    assert "accounts_user" in tables_containing(EMAIL)
    referencing = rows_referencing(pk)
    for column in (
        "journal_insight.client_id",
        "journal_response.client_id",
        "journal_kapsession.client_id",
        "care_therapistnote.client_id",
        "care_auditentry.subject_id",
        "accounts_carelink.client_id",
        "journal_calendarfeed.client_id",
        "otp_totp_totpdevice.user_id",
    ):
        assert referencing.get(column), column
    assert files_containing(Path(settings.DATA_DIR), CANARY, EMAIL) != []

    response = confirm(client, email=EMAIL)
    assert response.status_code == 200

    # (a) Not one row points at the person, and neither the canary nor the address is stored.
    assert rows_referencing(pk) == {}
    assert tables_containing(CANARY) == []
    assert tables_containing(EMAIL) == []
    assert not [s for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(pk)]
    # The therapists' audit trail is kept on purpose, naming the person by a number only.
    entry = AuditEntry.objects.get(actor=therapist, what="timeline")
    assert (entry.subject_id, entry.subject_label) == (None, str(pk))
    # (c) Their folder is gone, and no file in the data folder holds the canary or the address.
    assert not client_files_dir(user).exists()
    assert files_containing(Path(settings.DATA_DIR), CANARY, EMAIL) == []

    # Another client's data is intact, to the last field, with their file; the therapist stays.
    client.force_login(sam_with_files.user)
    sam_after = download_json(client)
    del sam_before["exported_at"], sam_after["exported_at"]
    assert sam_after == sam_before
    assert (client_files_dir(sam_with_files.user) / "keep.txt").read_text() == (
        f"{SAM_PHRASE} keep me"
    )
    assert User.objects.filter(pk=therapist.pk).exists()
    assert not CareLink.objects.filter(therapist=therapist).exists()
    for model in (TherapistNote, AlertAcknowledgement, AlertNotification, QuestionDiscussed):
        assert not model.objects.filter(therapist=therapist).exists(), model.__name__


def test_deleting_a_client_leaves_the_therapists_audit_trail_verifiable(client, violet, therapist):
    from kap.care.audit import verify

    audit.record(actor=therapist, subject=therapist, action="view", what="roster", ip=None)
    assert verify() == (2, [])
    assert confirm(client, email=EMAIL).status_code == 200
    assert AuditEntry.objects.count() == 2
    assert verify() == (2, [])


def test_deleting_a_client_who_gave_consent_leaves_no_address_in_the_audit_trail(
    client, violet, therapist
):
    """Accepting an invitation or changing what is shared writes an audit row with the client
    as its actor (their e-mail, their network address). Erasure blanks both; the keyed chain
    covers their digests, so it still verifies."""
    from kap.care.audit import verify

    audit.record(
        actor=violet.user, subject=violet.user, action="consent", what="sharing", ip="203.0.113.9"
    )
    audit.record(
        actor=therapist, subject=violet.user, action="view", what="timeline", ip="198.51.100.4"
    )
    assert tables_containing(EMAIL) != [] and tables_containing("203.0.113.9") != []
    rows = AuditEntry.objects.count()
    assert confirm(client, email=EMAIL).status_code == 200
    assert tables_containing(EMAIL) == []
    assert tables_containing("203.0.113.9") == []
    assert AuditEntry.objects.count() == rows
    assert tables_containing("198.51.100.4") != []  # the therapist's own address stays
    assert verify() == (rows, [])


def test_the_sqlite_file_and_wal_of_this_test_run_hold_no_trace_after_deletion(client, violet):
    """Only meaningful when the tests run on an SQLite file; the child-process test below always
    checks a real file."""
    if connection.vendor != "sqlite":
        pytest.skip(f"the database is {connection.vendor}, not an SQLite file")
    if connection.is_in_memory_db():
        pytest.skip(
            "pytest-django's SQLite test database is in memory"
            f" ({connection.settings_dict['NAME']}): no file to read; see"
            " test_a_real_sqlite_file_and_its_wal_hold_no_trace_after_deletion"
        )
    path = Path(connection.settings_dict["NAME"])
    confirm(client, email=EMAIL)
    for name in (path, Path(f"{path}-wal")):
        if name.exists():
            blob = name.read_bytes()
            assert CANARY.encode() not in blob and EMAIL.encode() not in blob, name


# --- A real SQLite file, in a child process -----------------------------------------------------

BUILD = f"""
import django, os
django.setup()
from django.core.management import call_command
call_command("kap_setup")
from kap.accounts.models import User
from kap.exports.erasure import client_files_dir
from tests.data.people import build_person
victim = User.objects.create_user({EMAIL!r}, {PASSWORD!r}, role="client", display_name="Violet")
other = User.objects.create_user("other@example.com", {PASSWORD!r}, role="client")
build_person(victim, {CANARY!r})
build_person(other, {SAM_PHRASE!r})
folder = client_files_dir(victim)
folder.mkdir(parents=True)
(folder / "attachment.txt").write_text({CANARY!r} + " " + {EMAIL!r})
print(victim.pk, other.pk)
os._exit(0)  # no clean close: the WAL stays on disk, to be read too
"""

DELETE = f"""
import django, os
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from kap.accounts.models import User
c = Client()
c.force_login(User.objects.get(email={EMAIL!r}))
r = c.post("/data/delete/", {{"email": {EMAIL!r}}})
assert r.status_code == 200 and b"has been deleted" in r.content, r.status_code
os._exit(0)
"""


def run_child(data_dir: Path, script: str) -> str:
    env = {**os.environ, "KAP_DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "kap.settings"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_a_real_sqlite_file_and_its_wal_hold_no_trace_after_deletion(set_up_data_dir):
    victim_pk, other_pk = map(int, run_child(set_up_data_dir, BUILD).split()[-2:])
    db = set_up_data_dir / "kap.sqlite3"
    wal = Path(f"{db}-wal")
    assert db.exists() and wal.exists() and wal.stat().st_size > 0
    stored = db.read_bytes() + wal.read_bytes()
    # The address is stored in plain text (the search works), the canary only encrypted.
    assert EMAIL.encode() in stored
    assert CANARY.encode() not in stored
    assert b"enc1:" in stored

    run_child(set_up_data_dir, DELETE)

    for path in sorted(set_up_data_dir.iterdir()):
        if path.name.startswith("kap.sqlite3"):
            blob = path.read_bytes()
            assert EMAIL.encode() not in blob, path.name
            assert CANARY.encode() not in blob, path.name
    assert files_containing(set_up_data_dir, CANARY, EMAIL) == []
    assert not (set_up_data_dir / "clients" / str(victim_pk)).exists()
    # The other client is intact, and no row points at the deleted person.
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            conn.execute("SELECT COUNT(*) FROM accounts_user WHERE id = ?", [victim_pk]).fetchone()[
                0
            ]
            == 0
        )
        counts = {
            table: conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE client_id = ?", [other_pk]
            ).fetchone()[0]
            for table in ("journal_insight", "journal_response", "journal_kapsession")
        }
        assert counts == {"journal_insight": 2, "journal_response": 10, "journal_kapsession": 2}
        for table, column in (
            ("journal_insight", "client_id"),
            ("journal_response", "client_id"),
            ("practices_practicelog", "client_id"),
            ("journal_safetyevent", "client_id"),
        ):
            n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", [victim_pk])
            assert n.fetchone()[0] == 0, table
    finally:
        conn.close()
