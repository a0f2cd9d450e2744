"""Issue 16: a large import is written in short transactions, so other people's saves go on while
it runs (none fails with "database is locked"), and a failure half-way leaves none of its rows.

The first test runs the app in child processes on a real SQLite file (tests/children.py): one
imports a large export while another person saves every few milliseconds with a short busy
timeout, as two app servers would.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from django.db import OperationalError

from kap.exports import json_import
from kap.practices.models import PracticeLog
from tests.children import ROOT, child_env
from tests.conftest import PASSWORD
from tests.data.conftest import import_export_file, page_text, row_counts

INSIGHTS = 4000
RESPONSES = 1000
BUSY_TIMEOUT = 1  # second: far shorter than the one transaction of the whole import took,
# far longer than one of its short transactions (100 rows)

SAVER = f"""
import json, sys, time
from pathlib import Path
from django.db import OperationalError, connection, transaction
connection.settings_dict["OPTIONS"]["timeout"] = {BUSY_TIMEOUT}
from kap.accounts.models import User
from kap.journal.models import Insight
other = User.objects.create_user("other@example.com", {PASSWORD!r}, role="client")
ready, stop = Path(sys.argv[1]), Path(sys.argv[2])
saves, failures, slowest = 0, [], 0.0
while not stop.exists():
    began = time.monotonic()
    try:
        with transaction.atomic():
            Insight.objects.create(client=other, text="a save by someone else")
        saves += 1
    except OperationalError as e:
        failures.append(str(e))
    slowest = max(slowest, time.monotonic() - began)
    ready.touch()
    time.sleep(0.01)
print(json.dumps({{"other": other.pk, "saves": saves, "failures": failures, "slowest": slowest}}))
"""

IMPORTER = f"""
import copy, json
from kap.accounts.models import User
from kap.exports import json_import
from kap.practices.models import PracticeLog
from kap.exports.json_export import export_dict
from tests.data.people import build_person
json_import.ROWS_PER_TRANSACTION = 100
source = User.objects.create_user("source@example.com", {PASSWORD!r}, role="client")
build_person(source, "QUIET-HARBOUR-2231")
data = export_dict(source)
submitted = next(r for r in data["responses"] if r["status"] == "submitted" and not r["history"])
top = max(r["id"] for r in data["responses"])
data["responses"] += [
    dict(copy.deepcopy(submitted), id=top + n) for n in range(1, {RESPONSES} + 1)
]
top = max(i["id"] for i in data["insights"])
data["insights"] += [
    dict(data["insights"][0], id=top + n, text=f"insight {{n}} on a long walk by the lake")
    for n in range(1, {INSIGHTS} + 1)
]
raw = json.dumps(data, default=str).encode()
newcomer = User.objects.create_user("newcomer@example.com", {PASSWORD!r}, role="client")
result = json_import.import_json(user=newcomer, raw=raw)
print(json.dumps({{"newcomer": newcomer.pk, "counts": result.counts}}))
"""


def python(data_dir, script: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "import django; django.setup()\n" + textwrap.dedent(script), *args],
        env=child_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def finished(child: subprocess.Popen) -> dict:
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_other_saves_go_on_while_a_large_import_is_written(set_up_data_dir, tmp_path):
    ready, stop = tmp_path / "ready", tmp_path / "stop"
    saver = python(set_up_data_dir, SAVER, str(ready), str(stop))
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert saver.poll() is None and time.monotonic() < deadline, saver.stderr.read()
            time.sleep(0.05)
        imported = finished(python(set_up_data_dir, IMPORTER))
    finally:
        stop.touch()
    saved = finished(saver)

    # Every save of the other person's went in while the import was written, none waiting out
    # the busy timeout: one transaction for the whole import fails them ("database is locked").
    assert saved["failures"] == []
    assert saved["slowest"] < BUSY_TIMEOUT
    # The import is complete ...
    assert imported["counts"]["insights"] > INSIGHTS
    assert imported["counts"]["check-ins and worksheets"] > RESPONSES
    conn = sqlite3.connect(set_up_data_dir / "kap.sqlite3")
    try:
        mine = conn.execute(
            "SELECT COUNT(*), MIN(id), MAX(id) FROM journal_insight WHERE client_id = ?",
            [imported["newcomer"]],
        ).fetchone()
        assert mine[0] == imported["counts"]["insights"]
    finally:
        conn.close()


def _two_open_drafts(export: dict) -> None:
    """Two open drafts of one check-in, the last response: refused by the database half-way."""
    draft = next(r for r in export["responses"] if r["status"] == "draft")
    top = max(r["id"] for r in export["responses"])
    export["responses"].append(dict(draft, id=top + 1))


def test_a_refusal_half_way_leaves_none_of_the_imports_rows(
    client, exported, newcomer, monkeypatch
):
    # Many small transactions, so that the failure comes after several were committed.
    monkeypatch.setattr(json_import, "ROWS_PER_TRANSACTION", 2)
    assert len(exported["sessions"]) >= 2 and len(exported["responses"]) > 4
    good = json.dumps(exported).encode()
    _two_open_drafts(exported)
    before = row_counts()

    response = import_export_file(client, json.dumps(exported).encode())

    assert response.status_code == 400
    assert "two open drafts" in page_text(response)
    assert "Nothing was imported" in page_text(response)
    assert row_counts() == before  # not one row, nor a questionnaire of the file made again
    assert not json_import.has_records(newcomer)
    # The account is as it was: the good file goes in.
    assert import_export_file(client, good).status_code == 302
    assert json_import.has_records(newcomer)


def test_an_error_in_the_last_records_written_leaves_none_of_the_imports_rows(
    client, exported, newcomer, monkeypatch
):
    """The practices go last: everything else was committed when the database gives up."""
    monkeypatch.setattr(json_import, "ROWS_PER_TRANSACTION", 2)
    assert exported["practice_logs"]

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(PracticeLog.objects, "bulk_create", locked)
    before = row_counts()

    with pytest.raises(OperationalError):
        import_export_file(client, json.dumps(exported).encode())

    assert row_counts() == before
    assert not json_import.has_records(newcomer)
