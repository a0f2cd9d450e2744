"""A database as the first release left it, and the same database read back after an upgrade.

Run in child processes by tests/deploy/test_upgrade.py, with Django set up against a database of
their own (KAP_DATA_DIR, and DATABASE_URL for PostgreSQL):

    python -m tests.deploy.first_release make FACTS.json   # the first release's tables and rows
    kap setup                                               # the upgrade, as README "Upgrading"
    python -m tests.deploy.first_release check FACTS.json  # every row there, readable, served

`make` needs no checkout of the first release: it migrates to the migrations that release had
(FIRST_RELEASE_LEAVES) and writes rows through the models as they were then (the migration
state's historical models, whose encrypted fields encrypt as the app does). The built-in guide
is the one the first release loaded (first_release_guide.json, its very rows).
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from datetime import timedelta
from pathlib import Path

# The first release: commit 8600eb7 ("XSS browser test: accept the ?saved redirect after
# submit"). The last migration of each of our apps in it, from
# `git ls-tree -r --name-only 8600eb7 kap/*/migrations` (exports had none; progress and ops
# did not exist). Django's and the other packages' apps are migrated to their migrations of
# today: their versions are the dependencies' (pyproject.toml's have not changed since).
FIRST_RELEASE = "8600eb7"
FIRST_RELEASE_LEAVES = [
    ("accounts", "0002_clinic_user_clinic_invite_carelink"),
    ("care", "0002_audit_hash_without_foreign_keys"),
    ("content", "0001_initial"),
    ("journal", "0003_response_client_instrument_index"),
    ("practices", "0001_initial"),
]
GUIDE = Path(__file__).with_name("first_release_guide.json")

PASSWORD = "a quiet morning by the lake"
# A PHQ-9 in the first release's form (option values); its score then: 5, "Mild".
ANSWERS = {
    "q1": "several-days",
    "q2": "more-than-half",
    "q3": "several-days",
    "q4": "not-at-all",
    "q5": "not-at-all",
    "q6": "several-days",
    "q7": "not-at-all",
    "q8": "not-at-all",
    "q9": "not-at-all",
}
EARLIER_ANSWERS = {**ANSWERS, "q2": "several-days"}
WORDS = {
    "notes": "Upgrade canary: the music was gentle, the room warm",
    "insight": "Upgrade canary: I can rest before I am tired",
    "step": "Upgrade canary: walk by the river on Sundays",
    "therapist_note": "Upgrade canary: follow up on sleep",
    "draft": "Upgrade canary: half a sentence, still being writ",
    "imported": "Upgrade canary: slept through",
}
BACKEND = "django.contrib.auth.backends.ModelBackend"
AUDITED = ["timeline", "brief.pdf"]


def first_release_audit_hash(prev_hash, actor_email, subject_label, action, what, ip, at) -> str:
    """An audit row's hash as the first release computed it (AuditEntry.payload in its
    kap/care/models.py): `kap audit verify` must still accept the chains it wrote."""
    payload = [prev_hash, actor_email, subject_label, action, what, ip, at.isoformat()]
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def make(facts_path: Path) -> None:
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    from kap.accounts.models import User as TodaysUser

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    gone = [node for node in FIRST_RELEASE_LEAVES if node not in graph.nodes]
    assert not gone, f"migrations of the first release are gone (squashed or renamed?): {gone}"
    ours = {app for app, _ in FIRST_RELEASE_LEAVES} | {"exports", "progress", "ops"}
    others = [node for node in graph.leaf_nodes() if node[0] not in ours]
    targets = FIRST_RELEASE_LEAVES + others
    executor.migrate(targets)
    # The models as they were then, rendered afresh from the migrations.
    apps = executor.loader.project_state(targets).apps

    def model(label: str):
        return apps.get_model(*label.split("."))

    now = timezone.now()
    User = model("accounts.User")
    clinic = model("accounts.Clinic").objects.create(name="Lakeside Therapy")
    hashed = make_password(PASSWORD)
    client = User.objects.create(
        email="alex@example.com", password=hashed, role="client", display_name="Alex"
    )
    therapist = User.objects.create(
        email="dr.lee@example.com", password=hashed, role="therapist", clinic=clinic
    )
    User.objects.create(email="admin@example.com", password=hashed, role="admin", clinic=clinic)
    model("accounts.CareLink").objects.create(
        client=client, therapist=therapist, scopes=["scores", "intentions"]
    )

    guide = json.loads(GUIDE.read_text())
    pack = model("content.Pack").objects.create(**guide["pack"])
    Instrument = model("content.Instrument")
    instruments = {
        i["key"]: Instrument.objects.create(pack=pack, **i) for i in guide["instruments"]
    }
    model("content.Page").objects.bulk_create(
        model("content.Page")(pack=pack, **p) for p in guide["pages"]
    )

    session = model("journal.KapSession").objects.create(
        client=client,
        starts_at=now - timedelta(days=3),
        status="completed",
        clinician_name="Dr Lee",
        setting="clinic",
        notes=WORDS["notes"],
    )
    Response = model("journal.Response")
    response = Response.objects.create(
        client=client,
        instrument=instruments["phq9"],
        session=session,
        status="submitted",
        answers=ANSWERS,
        version=2,
        score_total=5.0,
        score_band="Mild",
        submitted_at=now - timedelta(days=2),
    )
    model("journal.ResponseVersion").objects.create(
        response=response, version=1, answers=EARLIER_ANSWERS, score_total=4.0, saved_at=now
    )
    draft = Response.objects.create(
        client=client,
        instrument=instruments["integration-worksheet"],
        status="draft",
        answers={"experienced-or-noticed": WORDS["draft"]},
    )
    insight = model("journal.Insight").objects.create(
        client=client, session=session, text=WORDS["insight"]
    )
    step = model("journal.ActionStep").objects.create(
        client=client, session=session, source=response, text=WORDS["step"]
    )
    note = model("care.TherapistNote").objects.create(
        therapist=therapist, client=client, text=WORDS["therapist_note"]
    )
    practice = model("practices.PracticeLog").objects.create(
        uuid=uuid.uuid4(),
        client=client,
        instrument=instruments["grounding"],
        started_at=now - timedelta(hours=5),
        planned_seconds=300,
        elapsed_seconds=290,
        completed=True,
        settled_before=4,
        settled_after=7,
    )
    # Questionnaires imported from FHIR were shared rows then: one the client answered (it
    # becomes theirs), one nobody answered (nobody to give it to: gone).
    phq9 = guide["instruments"][[i["key"] for i in guide["instruments"]].index("phq9")]
    imported = Instrument.objects.create(
        pack=None,
        key="sleep-check",
        version=1,
        kind="questionnaire",
        title="Sleep check",
        spec={**phq9["spec"], "key": "sleep-check", "title": "Sleep check"},
        checksum="0" * 64,
    )
    imported_response = Response.objects.create(
        client=client,
        instrument=imported,
        status="submitted",
        answers={**ANSWERS, "q1": WORDS["imported"]},
        submitted_at=now - timedelta(days=1),
    )
    Instrument.objects.create(
        pack=None,
        key="never-answered",
        version=1,
        kind="questionnaire",
        title="Never answered",
        spec={**phq9["spec"], "key": "never-answered"},
        checksum="1" * 64,
    )

    # Dr Lee's reads of Alex's records, in the audit trail's chain.
    previous = "0" * 64
    for what in AUDITED:
        row = {
            "actor_email": therapist.email,
            "subject_label": str(client.pk),
            "action": "view",
            "what": what,
            "ip": "10.0.0.7",
        }
        at = timezone.now()
        digest = first_release_audit_hash(previous, *row.values(), at)
        model("care.AuditEntry").objects.create(
            actor=therapist, subject=client, created_at=at, prev_hash=previous, hash=digest, **row
        )
        previous = digest

    # Alex was logged in when the upgrade began (the hash is of the password, as the first
    # release's login stored it).
    login = SessionStore()
    login["_auth_user_id"] = str(client.pk)
    login["_auth_user_backend"] = BACKEND
    login["_auth_user_hash"] = TodaysUser(password=client.password).get_session_auth_hash()
    login["kap_started"] = login["kap_last_seen"] = int(now.timestamp())
    login.create()

    facts = {
        "client": client.pk,
        "therapist": therapist.pk,
        "clinic": clinic.pk,
        "session": session.pk,
        "response": response.pk,
        "draft": draft.pk,
        "insight": insight.pk,
        "step": step.pk,
        "note": note.pk,
        "practice": practice.pk,
        "imported_response": imported_response.pk,
        "login": login.session_key,
    }
    facts_path.write_text(json.dumps(facts))


def check(facts_path: Path) -> None:
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from kap.accounts.models import CareLink, User
    from kap.care.models import AuditEntry, TherapistNote
    from kap.content.models import Instrument, Scope
    from kap.journal.models import ActionStep, Insight, KapSession, Response, ResponseVersion
    from kap.practices.models import PracticeLog

    facts = json.loads(facts_path.read_text())
    executor = MigrationExecutor(connection)
    unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    assert not unapplied, f"migrations left unapplied: {unapplied}"

    client = User.objects.get(pk=facts["client"])
    assert (client.email, client.role, client.display_name) == (
        "alex@example.com",
        "client",
        "Alex",
    )
    assert client.check_password(PASSWORD)
    therapist = User.objects.get(email="dr.lee@example.com")
    assert therapist.role == "therapist" and therapist.clinic.name == "Lakeside Therapy"
    admin = User.objects.get(email="admin@example.com")
    assert admin.role == "admin" and admin.clinic_id == facts["clinic"]
    link = CareLink.objects.get(client=client, therapist=therapist)
    assert link.ended_at is None and sorted(link.scopes) == ["intentions", "scores"]

    session = KapSession.objects.get(pk=facts["session"])
    assert session.notes == WORDS["notes"] and session.clinician_name == "Dr Lee"
    response = Response.objects.get(pk=facts["response"])
    assert response.answers == ANSWERS
    assert (response.instrument.key, response.instrument.version) == ("phq9", 1)
    assert response.instrument.scope == Scope.SERVER
    assert (response.status, response.score_total, response.session_id) == (
        "submitted",
        5.0,
        session.pk,
    )
    (earlier,) = ResponseVersion.objects.filter(response=response)
    assert earlier.answers == EARLIER_ANSWERS
    draft = Response.objects.get(pk=facts["draft"])
    assert draft.status == "draft" and draft.answers == {"experienced-or-noticed": WORDS["draft"]}
    assert Insight.objects.get(pk=facts["insight"]).text == WORDS["insight"]
    assert ActionStep.objects.get(pk=facts["step"]).text == WORDS["step"]
    assert TherapistNote.objects.get(pk=facts["note"]).text == WORDS["therapist_note"]
    assert PracticeLog.objects.get(pk=facts["practice"]).instrument.key == "grounding"
    audited = AuditEntry.objects.filter(subject=client, actor=therapist).order_by("pk")
    assert [e.what for e in audited] == AUDITED

    imported = Response.objects.get(pk=facts["imported_response"])
    assert imported.answers["q1"] == WORDS["imported"]
    assert (imported.instrument.scope, imported.instrument.owner_id) == (Scope.PERSONAL, client.pk)
    assert not Instrument.objects.filter(key="never-answered").exists()

    # Still encrypted in the database.
    with connection.cursor() as cursor:
        cursor.execute("SELECT answers FROM journal_response WHERE id = %s", [response.pk])
        (stored,) = cursor.fetchone()
        cursor.execute("SELECT text FROM journal_insight WHERE id = %s", [facts["insight"]])
        (stored_insight,) = cursor.fetchone()
    assert stored.startswith("enc1:") and "more-than-half" not in stored
    assert stored_insight.startswith("enc1:") and "canary" not in stored_insight

    # Alex, logged in before the upgrade, still is, and sees the answers as they gave them.
    assert SessionStore(facts["login"]).load()["_auth_user_id"] == str(client.pk)
    setup_test_environment()
    browser = Client()
    browser.cookies[settings.SESSION_COOKIE_NAME] = facts["login"]
    page = browser.get(reverse("journal:response", args=[response.pk]))
    assert page.status_code == 200, page.status_code
    html = page.content.decode()
    assert "More than half the days" in html and "5 of 27" in html, html[:3000]
    # The draft is still there to carry on with.
    page = browser.get(reverse("journal:instrument", args=["integration-worksheet"]))
    assert page.status_code == 200 and WORDS["draft"] in page.content.decode()
    print("first release's rows: all read back")


if __name__ == "__main__":
    import django

    django.setup()
    {"make": make, "check": check}[sys.argv[1]](Path(sys.argv[2]))
