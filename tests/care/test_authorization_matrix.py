"""The authorization matrix (issue 6): every route, as every persona, with everyone's object ids.

The world: two clinics, each with a clinic admin, two therapists and three clients. In each clinic
one client shares everything with their therapist, one shares only some kinds, and one was linked
and then ended the link (CA1 also once saw TA2, who kept a private note from then). Every client
has records of every kind, each holding its own canary phrase ("CA1-INSIGHT-CANARY-4012"): a
KAP session (clinician name and notes), a response to every instrument with free text, PHQ-9
with item 9 positive (so a safety event), a draft, an insight, an action step with a check-in, a
question to bring, a support item, a practice log and a calendar feed. Therapists write private
notes and acknowledge alerts with notes, each with its own canary.

Content has owners too (issue 13; kap.content.models.Scope). CA1 imported a questionnaire of
their own (its title, wording and CA1's answer each a canary) and CA2 imported a PHQ-9 from FHIR
(a measure, its title a canary, item 9 positive). Clinic A's admin published a pack through the
web (its title, a page and an instrument, each a canary) whose instrument is shared under
"worksheets"; CA1 and CA2 answered it. Their keys, the pack's key and its page's slug fill the
URLs beside the server's, and the rules are the code's (kap.content.models, kap.care.sharing):
- a personal instrument is its owner's alone: no other client, no therapist (of any clinic, the
  owner's own included) and no admin may open its form, blank form or preview, or read its title
  or wording. The owner's therapist sees the owner's *answers* to it only as consent shares them:
  an import of one of the packs' measures is shared under its measure's scope (the PHQ-9's is
  "scores", which shows its title and score, never words), any other import under none;
- a clinic's pack, pages and instruments are for that clinic's staff (admin and therapists) and
  the clients linked now to one of its therapists: never another clinic's people, never a client
  whose link has ended or who has none. A client's answers to it reach their therapist under the
  scope the pack shares the instrument under, like any other answers.

The URLConf is walked (tests/security/support.py), so routes added later are covered without
touching this file. Every path parameter is filled with every persona's objects of that kind
(a client id, a response id, an event id, a link id, an invitation id, ...). Each persona
(anonymous, every client, therapist and admin) GETs and then POSTs (empty data) every URL, each
inside a savepoint that is rolled back, so every request sees the same world.

Each request is classified from the objects in its URL, by the rules of the issue: a client
may use their own records; a therapist may use a client only through an active link, and with
the right scope where one is needed (a question needs "worksheets", an alert "safety"); a clinic
admin may manage the therapists and therapist invitations of their own clinic and nothing of
any client. Anything else is a forbidden attempt and must be refused (404 or 403; a redirect to
the login page for anonymous visitors) without writing to the database. A 405 (a GET on a
POST-only action) is counted apart: the POST to the same URL is the attempt.

Whatever the status, every body (HTML, JSON, CSV, iCalendar, the members of a zip, the text of a
PDF through pdftotext) and every header is searched for canaries: a persona may see only their
own records, or, as a therapist, what an actively linked client shares, and their own notes.
Positive controls make sure that the search can find something: each client meets every one of
their own canaries, each linked therapist every shared kind, and a PDF and a zip member held one.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import re
import time
import uuid
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import yaml
from django.db import connection, transaction
from django.test import Client
from django.urls import resolve

from kap.accounts.models import Scope
from tests.care.conftest import publish_clinic_pack
from tests.care.helpers import PDFTOTEXT, pdf_text
from tests.data.people import FHIR_FIXTURES, NLM_PHQ9
from tests.security.support import PARAM, verified_test_client, walk

ALL = list(Scope.values)
PARTIAL_A = [Scope.SCORES, Scope.SAFETY, Scope.INSIGHTS]
PARTIAL_B = [Scope.INTENTIONS, Scope.STEPS, Scope.SESSIONS, Scope.PRACTICES]

# (client, therapist, scopes, ended). CA1 saw TA2 before TA1; TA2's note from then stays TA2's.
LINKS = [
    ("CA1", "TA2", ALL, True),
    ("CA1", "TA1", ALL, False),
    ("CA2", "TA2", PARTIAL_A, False),
    ("CA3", "TA1", ALL, True),
    ("CB1", "TB1", ALL, False),
    ("CB2", "TB1", PARTIAL_B, False),
    ("CB3", "TB2", ALL, True),
]
# Therapists who acknowledge their linked client's alert with a note (written for the clinic).
ACKS = [("TA1", "CA1"), ("TB1", "CB1")]

# The consent rules, written out here rather than read from the app: which scope shares the
# canary of each kind. None: never shown to a therapist, whatever the client shares (the
# session's own notes, the support map, drafts). "NAME" (the display name) goes with any active
# link. Responses: the words of an instrument, by instrument key; scores share totals, not words.
INSTRUMENT_KIND = {
    "intention-setting": "INTENTION",
    "integration-worksheet": "WORKSHEET",
    "self-assessment": "SELFASSESSMENT",
    "capture-insights": "CAPTUREINSIGHTS",
    "insight-into-action": "INSIGHTINTOACTION",
    "build-support": "BUILDSUPPORT",
    "first-session-preparation": "FIRSTSESSIONPREP",
}
KIND_SCOPE = {
    "INTENTION": Scope.INTENTIONS,
    "WORKSHEET": Scope.WORKSHEETS,
    "SELFASSESSMENT": Scope.WORKSHEETS,
    "CAPTUREINSIGHTS": Scope.WORKSHEETS,
    "INSIGHTINTOACTION": Scope.WORKSHEETS,
    "BUILDSUPPORT": Scope.WORKSHEETS,
    "FIRSTSESSIONPREP": Scope.WORKSHEETS,
    "QUESTION": Scope.WORKSHEETS,
    "INSIGHT": Scope.INSIGHTS,
    "STEP": Scope.STEPS,
    "CHECKIN": Scope.STEPS,
    "SESSION": Scope.SESSIONS,  # the clinician's name, shown with the session
    "SESSIONNOTE": None,
    "SUPPORT": None,
    "DRAFT": None,
    "NAME": "any active link",
    # A client's own imported questionnaire: its title, an item's wording, the owner's answer.
    # Not one of the packs' measures, so no scope shares it ("their other imports under none").
    "OWNTITLE": None,
    "OWNITEM": None,
    "OWNANSWER": None,
    # A client's import of a measure (PHQ-9 by its LOINC code): charted under its own title
    # where the measure's scope ("scores") is shared; its safety alert goes with "safety".
    "OWNMEASURE": Scope.SCORES,
    # An answer to clinic A's instrument, which its pack shares under "worksheets".
    "CLINICANSWER": Scope.WORKSHEETS,
}
# Clinic A's pack (published through the web by AA) and CA1's own questionnaire.
CLINIC_PACK = "lakeside-care"
CLINIC_SLUG = "lakeside-welcome"
CLINIC_KEY = "lakeside-reflection"
OWN_KEY = "own-check-in"
# Responses attached to the KAP session (as the journal does for these two).
SESSION_INSTRUMENTS = ("intention-setting", "integration-worksheet")
RESPONSE_KEYS = ("phq9", "integration-worksheet")  # whose ids fill /r/<pk>/

# What the therapist's routes need, by kind of object in the URL: None = the active link alone.
NEEDS_SCOPE = {"client": None, "question": Scope.WORKSHEETS, "event": Scope.SAFETY}

# Path parameters: by name, then a bare `pk` by the path segment before it.
BY_NAME = {
    "client_id": "client",
    "user_id": "user",
    "invite_id": "invite",
    "question_id": "question",
    "event_id": "event",
    "token": "feed",
    "code": "code",
    "key": "key",
    "slug": "slug",
    "uuid": "practice-uuid",
    "upload_id": "pack-upload",
    "pack": "pack",
    "uidb64": "reset-uid",  # a password-reset link's account id (with its token, a capability)
}
BY_SEGMENT = {
    "sessions": "session",
    "insights": "insight",
    "steps": "step",
    "questions": "question",
    "support": "support",
    "r": "response",
    "practices": "practicelog",
    "sharing": "link",
    "clients": "client",
    "alerts": "event",
    "therapists": "user",
    "invite": "invite",
}
CONTENT_KINDS = {"key", "slug", "pack"}  # the same guide and instruments for everybody
CAPABILITY_KINDS = {"feed", "code", "reset-uid"}  # an unguessable token stands in for a login
# A query parameter that names a session: another client's session must be a 404 there too.
SESSION_QUERY = {
    ("journal:instrument", "get"): "query",
    ("journal:instrument", "post"): "data",
    ("journal:autosave", "post"): "data",
    ("journal:step-new", "get"): "query",
}
SESSION_QUERY_KEY = "intention-setting"
KEY_VALUES = ["self-assessment", "phq9"]  # the server's: the draft's and the one with safety rules
SKIP_PREFIXES = ("static/", "media/")


# --- The world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """Something whose id goes into a URL, and whose it is."""

    kind: str
    value: str
    owner: str | None = None  # the client whose record it is
    creator: str | None = None  # invitations
    clinic: str | None = None  # users and invitations
    role: str | None = None  # users
    invite_kind: str | None = None
    pack: str | None = None  # a guide page's slug: the pack it is a page of


def scoped(o: Obj) -> bool:
    """Content (an instrument key, a pack, a page) that is not the server's: somebody's own, or
    a clinic's. The server's content is everybody's and names nobody."""
    return o.kind in CONTENT_KINDS and (o.owner is not None or o.clinic is not None)


@dataclass(frozen=True)
class Canary:
    label: str  # "CA1-INSIGHT"; the phrase is "<label>-CANARY-<number>"
    phrase: str
    owner: str  # the client it is about
    kind: str
    writer: str | None = None  # a therapist's own note
    clinic: str | None = None  # a clinic's content ("A"); its owner is then "CLINICA"


@dataclass
class Persona:
    key: str  # "CA1", "TA1", "AA", "anonymous"
    role: str
    http: Client
    clinic: str | None = None
    may_see: set[str] = field(default_factory=set)  # canary labels
    expect_to_see: set[str] = field(default_factory=set)  # reachable, so must be met somewhere


@dataclass
class World:
    personas: dict[str, Persona]
    objects: dict[str, list[Obj]]
    canaries: dict[str, Canary]
    active: dict[tuple[str, str], list[str]]  # (therapist, client) -> scopes
    users: dict
    links: dict[tuple[str, str], object]


def _answers(spec, instrument_key: str, text: str | None) -> dict:
    """Every item answered: free text gets `text`, except items that become steps or questions
    (those get their own canaries, as records); PHQ-9 gets its worst answers (item 9 positive)."""
    out: dict = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "text":
            tags = set(getattr(item, "tags", None) or ())
            if text and not tags & {"next-steps", "questions-to-bring"}:
                out[item.key] = text
        elif kind == "check":
            out[item.key] = True
        elif kind == "rating":
            out[item.key] = (item.min + item.max) // 2
        else:
            options = spec.options_for(item)
            out[item.key] = options[-1 if instrument_key == "phq9" else min(1, len(options) - 1)]
            out[item.key] = out[item.key].value
    return out


def build_world() -> World:
    from django.utils import timezone
    from django.utils.http import urlsafe_base64_encode
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import CareLink, Clinic, Invite, Role, User
    from kap.care.models import AlertAcknowledgement, TherapistNote
    from kap.content.crisis import default_pack
    from kap.content.models import Instrument, PackUpload
    from kap.content.models import Scope as ContentScope
    from kap.content.sync import ensure_default_pack
    from kap.exports import questionnaire_import
    from kap.journal import records
    from kap.journal.models import (
        ActionStep,
        Insight,
        KapSession,
        QuestionToBring,
        SafetyEvent,
        SupportItem,
    )
    from kap.journal.reminders import reset_feed
    from kap.journal.services import save_draft, submit_response
    from kap.practices.services import record_practice

    ensure_default_pack()
    now = timezone.now()
    numbers = itertools.count(4001)
    canaries: dict[str, Canary] = {}

    def canary(owner: str, kind: str, writer: str | None = None, clinic: str | None = None) -> str:
        label = f"{writer}-{kind}-ON-{owner}" if writer else f"{owner}-{kind}"
        phrase = f"{label}-CANARY-{next(numbers)}"
        canaries[label] = Canary(label, phrase, owner, kind, writer, clinic)
        return phrase

    users: dict[str, object] = {}
    objects: dict[str, list[Obj]] = defaultdict(list)
    personas: dict[str, Persona] = {"anonymous": Persona("anonymous", "anonymous", Client())}
    for c in "AB":
        clinic = Clinic.objects.create(name=f"Clinic {c}")
        staff = [(f"A{c}", Role.ADMIN)] + [(f"T{c}{i}", Role.THERAPIST) for i in (1, 2)]
        for key, role in staff:
            user = User.objects.create_user(
                f"{key.lower()}@example.com", None, role=role, clinic=clinic, display_name=key
            )
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
            users[key] = user
            personas[key] = Persona(key, role, verified_test_client(user, device), clinic=c)
        for i in (1, 2, 3):
            key = f"C{c}{i}"
            name = canary(key, "NAME")
            user = User.objects.create_user(
                f"{key.lower()}@example.com", None, role=Role.CLIENT, display_name=name
            )
            users[key] = user
            http = Client()
            http.force_login(user)
            personas[key] = Persona(key, Role.CLIENT, http)
    for key, user in users.items():
        p = personas[key]
        objects["user"].append(Obj("user", str(user.pk), clinic=p.clinic, role=p.role))
        if p.role == Role.CLIENT:
            objects["client"].append(Obj("client", str(user.pk), owner=key))

    links, active = {}, {}
    for client_key, therapist_key, scopes, ended in LINKS:
        link = CareLink.objects.create(
            client=users[client_key], therapist=users[therapist_key], scopes=list(scopes)
        )
        TherapistNote.objects.create(
            therapist=users[therapist_key],
            client=users[client_key],
            text=canary(client_key, "NOTE", writer=therapist_key),
        )
        if ended:
            link.ended_at = now - timedelta(days=1)
            link.save(update_fields=["ended_at"])
        else:
            active[(therapist_key, client_key)] = list(scopes)
        links[(client_key, therapist_key)] = link
        objects["link"].append(Obj("link", str(link.pk), owner=client_key))

    instruments = [
        i
        for i in Instrument.objects.server().current().select_related("pack").order_by("pk")
        if i.parsed.items
    ]
    self_assessment = next(i for i in instruments if i.key == "self-assessment")
    grounding = Instrument.objects.current().get(key="grounding")
    for key in [k for k, u in users.items() if personas[k].role == Role.CLIENT]:
        client = users[key]
        session = KapSession.objects.create(
            client=client,
            starts_at=now - timedelta(hours=20),
            status=KapSession.Status.COMPLETED,
            clinician_name=canary(key, "SESSION"),
            setting=KapSession.Setting.CLINIC,
            notes=canary(key, "SESSIONNOTE"),
        )
        objects["session"].append(Obj("session", str(session.pk), owner=key))
        for instrument in instruments:
            kind = INSTRUMENT_KIND.get(instrument.key)
            if kind is None and any(
                instrument.parsed.item_type(i) == "text" for i in instrument.parsed.items
            ):
                kind = "ANSWER" + re.sub(r"[^A-Z]", "", instrument.key.upper())
                KIND_SCOPE.setdefault(kind, None)  # not in the consent rules: never shared
            response = submit_response(
                client=client,
                instrument=instrument,
                session=session if instrument.key in SESSION_INSTRUMENTS else None,
                answers=_answers(instrument.parsed, instrument.key, kind and canary(key, kind)),
            ).response
            if instrument.key in RESPONSE_KEYS:
                objects["response"].append(Obj("response", str(response.pk), owner=key))
        save_draft(
            client=client,
            instrument=self_assessment,
            session=None,
            answers=_answers(self_assessment.parsed, self_assessment.key, canary(key, "DRAFT")),
            base_version=None,
        )
        insight = Insight.objects.create(
            client=client, session=session, text=canary(key, "INSIGHT")
        )
        step = ActionStep.objects.create(client=client, session=session, text=canary(key, "STEP"))
        records.check_in(step=step, status="working", note=canary(key, "CHECKIN"))
        question = QuestionToBring.objects.create(client=client, text=canary(key, "QUESTION"))
        support = SupportItem.objects.create(
            client=client, category=SupportItem.Category.PEOPLE, text=canary(key, "SUPPORT")
        )
        log, _ = record_practice(
            client=client,
            uuid=uuid.uuid4(),
            instrument=grounding,
            started_at=now - timedelta(hours=3),
            planned_seconds=300,
            elapsed_seconds=300,
            completed=True,
            settled_before=3,
            settled_after=7,
        )
        events = list(SafetyEvent.objects.filter(client=client).order_by("pk"))
        assert events, "PHQ-9 with item 9 positive should have stored a safety event"
        feed = reset_feed(client=client)
        for kind, obj in [
            ("insight", insight),
            ("step", step),
            ("question", question),
            ("support", support),
            ("practicelog", log),
            ("event", events[0]),
        ]:
            objects[kind].append(Obj(kind, str(obj.pk), owner=key))
        objects["practice-uuid"].append(Obj("practice-uuid", str(log.uuid), owner=key))
        objects["feed"].append(Obj("feed", feed.token, owner=key))

    # Content with an owner: CA1's own questionnaire, CA2's import of a measure, clinic A's pack.
    own = questionnaire_import.import_questionnaire(
        owner=users["CA1"],
        raw=json.dumps(
            {
                "resourceType": "Questionnaire",
                "name": OWN_KEY,
                "title": canary("CA1", "OWNTITLE"),
                "item": [
                    {
                        "linkId": "mood",
                        "text": canary("CA1", "OWNITEM"),
                        "type": "choice",
                        "answerOption": [{"valueString": "Low"}, {"valueString": "High"}],
                    },
                    {"linkId": "notes", "text": "Anything else?", "type": "text"},
                ],
            }
        ).encode(),
    )[0]
    assert (own.key, own.scope, own.owner) == (OWN_KEY, ContentScope.PERSONAL, users["CA1"])
    answered = submit_response(
        client=users["CA1"],
        instrument=own,
        session=None,
        answers={"mood": "high", "notes": canary("CA1", "OWNANSWER")},
    ).response
    objects["response"].append(Obj("response", str(answered.pk), owner="CA1"))

    phq9_fhir = json.loads((FHIR_FIXTURES / NLM_PHQ9).read_bytes())
    phq9_fhir["title"] = canary("CA2", "OWNMEASURE")
    measure = questionnaire_import.import_questionnaire(
        owner=users["CA2"], raw=json.dumps(phq9_fhir).encode()
    )[0]
    answered = submit_response(
        client=users["CA2"],
        instrument=measure,
        session=None,
        answers=_answers(measure.parsed, "phq9", None),  # item 9 positive: a safety event
    ).response
    assert answered.safety_events.exists(), "CA2's own PHQ-9 should have stored a safety event"
    objects["response"].append(Obj("response", str(answered.pk), owner="CA2"))

    dump = lambda data: yaml.safe_dump(data, sort_keys=False)  # noqa: E731
    published = publish_clinic_pack(
        personas["AA"].http,
        {
            "pack.yaml": dump(
                {
                    "key": CLINIC_PACK,
                    "title": canary("CLINICA", "PACK", clinic="A"),
                    "version": 1,
                    "language": "en",
                    "default_region": "US",
                    "crisis_resources": {
                        "US": {
                            "name": "Lakeside",
                            "resources": [{"name": "Lakeside night line", "action": "Call"}],
                        }
                    },
                    "pages": [
                        {
                            "slug": CLINIC_SLUG,
                            "title": "Welcome to Lakeside",
                            "file": "pages/welcome.md",
                            "instruments": [CLINIC_KEY],
                        }
                    ],
                    "instruments": ["instruments/reflection.yaml"],
                    "sharing": {"worksheets": [CLINIC_KEY]},
                }
            ),
            "instruments/reflection.yaml": dump(
                {
                    "key": CLINIC_KEY,
                    "version": 1,
                    "kind": "reflection",
                    "title": canary("CLINICA", "INSTRUMENT", clinic="A"),
                    "items": [{"key": "today", "text": "What stayed with you today?"}],
                }
            ),
            "pages/welcome.md": f"# Welcome\n\n{canary('CLINICA', 'PAGE', clinic='A')}\n",
        },
    )
    objects["pack-upload"].append(Obj("pack-upload", str(published.pk), creator="AA", clinic="A"))
    lakeside = Instrument.objects.get(key=CLINIC_KEY)
    assert (lakeside.scope, lakeside.clinic) == (ContentScope.CLINIC, users["AA"].clinic)
    for key in ("CA1", "CA2"):  # CA2 shares no worksheets with TA2: their words stay theirs
        answered = submit_response(
            client=users[key],
            instrument=lakeside,
            session=None,
            answers={"today": canary(key, "CLINICANSWER")},
        ).response
        objects["response"].append(Obj("response", str(answered.pk), owner=key))

    for therapist_key, client_key in ACKS:
        event = SafetyEvent.objects.filter(client=users[client_key]).order_by("pk").first()
        AlertAcknowledgement.objects.create(
            event=event,
            therapist=users[therapist_key],
            note=canary(client_key, "ACK", writer=therapist_key),
        )

    for key, user in users.items():
        role = personas[key].role
        if role == Role.CLIENT:
            continue
        code = f"{key.lower()}-invite-{uuid.uuid4().hex}"
        kind = Invite.Kind.CLIENT if role == Role.THERAPIST else Invite.Kind.THERAPIST
        invite = Invite.objects.create(
            kind=kind,
            created_by=user,
            clinic=user.clinic,
            code_hash=hashlib.sha256(code.encode()).hexdigest(),
            expires_at=now + timedelta(days=7),
        )
        clinic = personas[key].clinic
        objects["invite"].append(
            Obj("invite", str(invite.pk), creator=key, clinic=clinic, invite_kind=kind)
        )
        objects["code"].append(Obj("code", code, creator=key, clinic=clinic, invite_kind=kind))

    # A clinic admin's pack upload (kap.care.views_packs): theirs and their clinic's only.
    phq9 = Instrument.objects.server().get(key="phq9")
    for key, user in users.items():
        if personas[key].role != Role.ADMIN:
            continue
        upload = PackUpload.objects.create(
            clinic=user.clinic,
            uploaded_by=user,
            filename="pack.zip",
            archive=b"",
            problems=[["pack.yaml", "", "not checked (a test's upload)"]],
            instruments=[phq9.spec],
        )
        objects["pack-upload"].append(
            Obj("pack-upload", str(upload.pk), creator=key, clinic=personas[key].clinic)
        )

    objects["key"] = [Obj("key", k) for k in KEY_VALUES] + [
        Obj("key", own.key, owner="CA1"),
        Obj("key", measure.key, owner="CA2"),
        Obj("key", CLINIC_KEY, clinic="A"),
    ]
    objects["reset-uid"] = [Obj("reset-uid", urlsafe_base64_encode(str(users["CA1"].pk).encode()))]
    guide = default_pack()
    objects["pack"] = [Obj("pack", guide.key), Obj("pack", CLINIC_PACK, clinic="A")]
    objects["slug"] = [
        Obj("slug", p.slug, pack=guide.key) for p in guide.pages.order_by("order")[:1]
    ] + [Obj("slug", CLINIC_SLUG, clinic="A", pack=CLINIC_PACK)]

    world = World(personas, dict(objects), canaries, active, users, links)
    for p in personas.values():
        p.may_see, p.expect_to_see = visible_to(p, world)
    # A server whose worker runs: /readyz answers 200 like every other page.
    from kap.ops.worker import beat

    beat()
    return world


def visible_to(p: Persona, world: World) -> tuple[set[str], set[str]]:
    """(every canary the persona may see, those they can reach and so must meet somewhere)."""
    may, expect = set(), set()
    for c in world.canaries.values():
        if c.clinic is not None:
            if in_clinic(p, c.clinic, world):
                may.add(c.label)
                expect.add(c.label)
        elif p.role == "client" and c.owner == p.key and c.writer is None:
            may.add(c.label)
            expect.add(c.label)
        elif p.role == "therapist":
            scopes = world.active.get((p.key, c.owner))
            if c.writer == p.key:
                may.add(c.label)
                if scopes is not None and c.kind == "NOTE":
                    expect.add(c.label)
            elif c.writer is None and scopes is not None:
                shared = KIND_SCOPE.get(c.kind)
                if shared == "any active link" or shared in scopes:
                    may.add(c.label)
                    expect.add(c.label)
    return may, expect


def in_clinic(p: Persona, clinic: str, world: World) -> bool:
    """Whether the persona sees this clinic's content (kap.content.models.clinics_of): its staff,
    and the clients linked now to one of its therapists."""
    if p.clinic is not None:
        return p.clinic == clinic
    return any(c == p.key and world.personas[t].clinic == clinic for t, c in world.active)


def may_read(p: Persona, o: Obj, world: World) -> bool:
    """Content in the URL: the server's is everybody's, a personal instrument its owner's alone,
    a clinic's for the people of that clinic."""
    if o.owner is not None:
        return o.owner == p.key
    if o.clinic is not None:
        return in_clinic(p, o.clinic, world)
    return True


# --- The URLs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    name: str
    route: str
    method: str
    url: str
    objs: tuple[Obj, ...]
    data: dict | None = None

    @property
    def label(self) -> str:
        data = f" {self.data}" if self.data else ""
        return f"{self.method.upper()} {self.url}{data} ({self.name})"


class Unattributable(Exception):
    pass


def values_for(route: str, m: re.Match, world: World) -> list[Obj]:
    conv, name = m.group(1) or "str", m.group(2)
    before = route[: m.start()].rstrip("/").rsplit("/", 1)[-1]
    kind = BY_NAME.get(name)
    if kind is None and name == "pk":
        kind = BY_SEGMENT.get(before)
    if kind is None:
        raise Unattributable(
            f"route {route!r}: no way to tell whose <{conv}:{name}> is; add it to BY_NAME or "
            f"BY_SEGMENT in {__name__} so that the matrix covers it"
        )
    return world.objects[kind]


def fill(route: str, params: list[re.Match], values: list[str]) -> str:
    url, pos = "", 0
    for m, value in zip(params, values, strict=True):
        url += route[pos : m.start()] + value
        pos = m.end()
    return "/" + url + route[pos:]


def probes(world: World) -> tuple[list[Probe], list[str]]:
    out, problems = [], []
    default = world.objects["pack"][0].value  # the server's guide: guide/<slug>/ is its page
    for name, route in walk():
        if route.startswith(SKIP_PREFIXES):
            continue
        if any(ch in route for ch in "^$()[]\\?*+"):
            problems.append(f"route {route!r} ({name}) is a regular expression: fill it by hand")
            continue
        params = list(PARAM.finditer(route))
        try:
            choices = [values_for(route, m, world) for m in params]
        except Unattributable as e:
            problems.append(str(e))
            continue
        combos = list(itertools.product(*choices))
        if not combos:
            problems.append(f"route {route!r} ({name}): the world has nothing to fill it with")
        for combo in combos:
            url = fill(route, params, [o.value for o in combo])
            # A page's slug is somebody's only within its own pack (guide/<slug>/ is the
            # default pack's); under another pack it names no page of theirs.
            pack = next((o.value for o in combo if o.kind == "pack"), default)
            objs = tuple(
                o
                for o in combo
                if o.kind not in CONTENT_KINDS or (scoped(o) and (o.pack or pack) == pack)
            )
            out += [Probe(name, route, method, url, objs) for method in ("get", "post")]
    routes = dict(walk())
    for (name, method), carrier in SESSION_QUERY.items():
        if name not in routes:
            problems.append(f"SESSION_QUERY names {name!r}, which is no longer a route")
            continue
        route = routes[name]
        params = list(PARAM.finditer(route))
        url = fill(route, params, [SESSION_QUERY_KEY] * len(params))
        for session in world.objects["session"]:
            if carrier == "query":
                out.append(Probe(name, route, method, f"{url}?session={session.value}", (session,)))
            else:
                out.append(Probe(name, route, method, url, (session,), {"session": session.value}))
    return out, problems


def role_gate(route: str) -> str | None:
    """The role a route is for, where the app refuses everybody else outright."""
    if route.startswith("care/clinic/"):
        return "admin"
    if route.startswith("care/"):
        return "therapist"
    if route.startswith(("data/", "account/sharing/")):
        return "client"
    return None


def is_public(url: str) -> bool:
    return getattr(resolve(url.split("?", 1)[0]).func, "login_required", True) is False


def expectation(p: Persona, probe: Probe, world: World) -> str:
    """ "allowed", "forbidden" or "capability" (a token in the URL stands in for a login)."""
    if any(o.kind in CAPABILITY_KINDS for o in probe.objs):
        return "capability"
    if not all(may_read(p, o, world) for o in probe.objs if o.kind in CONTENT_KINDS):
        return "forbidden"
    if p.role == "anonymous":
        return "allowed" if is_public(probe.url) else "forbidden"
    gate = role_gate(probe.route)
    if gate is not None and p.role != gate:
        return "forbidden"
    records = [o for o in probe.objs if o.kind not in CONTENT_KINDS]
    if all(may_use(p, gate, o, tuple(records), world) for o in records):
        return "allowed"
    return "forbidden"


def may_use(p: Persona, gate: str | None, o: Obj, objs: tuple[Obj, ...], world: World) -> bool:
    if gate == "admin":
        if o.kind == "user":
            return o.role == "therapist" and o.clinic == p.clinic
        if o.kind == "invite":
            return o.invite_kind == "therapist" and o.clinic == p.clinic
        if o.kind == "pack-upload":
            return o.clinic == p.clinic
        return False
    if gate == "therapist":
        if o.kind == "invite":
            return o.invite_kind == "client" and o.creator == p.key
        if o.owner is None or o.kind not in NEEDS_SCOPE:
            return False
        if len({x.owner for x in objs}) != 1:  # e.g. one client's question under another's id
            return False
        scopes = world.active.get((p.key, o.owner))
        needed = NEEDS_SCOPE[o.kind]
        return scopes is not None and (needed is None or needed in scopes)
    # The client's own pages: their own records only.
    return o.owner == p.key and o.kind not in ("user",)


# --- Reading a response -----------------------------------------------------------------------


@dataclass
class Stats:
    requests: int = 0
    by_expectation: Counter = field(default_factory=Counter)
    refused_by: Counter = field(default_factory=Counter)
    method_not_allowed: int = 0
    pdfs: int = 0
    pdfs_unread: int = 0
    zip_members: int = 0
    canary_in: Counter = field(default_factory=Counter)  # format -> responses with an allowed one
    seconds: float = 0.0
    allowed_refused: list[str] = field(default_factory=list)  # e.g. a form's own 404 on a bad id


def contents(response, stats: Stats) -> list[tuple[str, str]]:
    """(format, text) of everything in a response: headers, body, zip members, PDF text."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    parts = [("headers", "\n".join(f"{k}: {v}" for k, v in response.items()))]

    def one(fmt: str, data: bytes):
        if data[:5] == b"%PDF-":
            stats.pdfs += 1
            text = pdf_text(data)
            if text is None:
                stats.pdfs_unread += 1
                return
            parts.append(("pdf", text))
        elif data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for member in z.namelist():
                    stats.zip_members += 1
                    one("zip", z.read(member))
        else:
            parts.append((fmt, data.decode("utf-8", errors="replace")))

    kind = response.get("Content-Type", "").split(";")[0].split("/")[-1] or "body"
    one(kind, body)
    return parts


def canaries_in(text: str, world: World) -> set[str]:
    # Whitespace goes (a PDF line break or an iCalendar fold may fall inside a phrase); the label
    # and its hyphen are enough, so a phrase cut short (a preview, a truncated title) still counts.
    squeezed = re.sub(r"\s+", "", text).upper()
    if "-" not in squeezed:
        return set()
    return {label for label in world.canaries if f"{label}-" in squeezed}


def refused(p: Persona, response) -> bool:
    if response.status_code in (403, 404):
        return True
    return (
        p.role == "anonymous"
        and response.status_code == 302
        and response["Location"].startswith("/login/")
    )


def send(p: Persona, probe: Probe):
    """The request inside a savepoint that is rolled back, with every row it wrote (sessions
    aside), and the persona's cookies put back afterwards (a logout must not end the persona)."""
    writes: list[str] = []

    def watch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE") and "django_session" not in sql:
            # (An INSERT ... RETURNING has no row count until read: every INSERT counts.)
            if verb == "INSERT" or context["cursor"].rowcount != 0:
                writes.append(" ".join(sql.split())[:100])
        return result

    cookies = copy.deepcopy(p.http.cookies)
    try:
        with transaction.atomic(), connection.execute_wrapper(watch):
            try:
                if probe.method == "get":
                    return p.http.get(probe.url), writes, None
                return p.http.post(probe.url, probe.data or {}), writes, None
            finally:
                transaction.set_rollback(True)
    except Exception as e:  # a 500: reported, not raised, so the rest of the matrix still runs
        return None, writes, f"{type(e).__name__}: {str(e)[:200]}"
    finally:
        p.http.cookies = cookies


# --- The module's world -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module, in a transaction rolled back at its end."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def row(p: Persona, probe: Probe, status, what: str) -> str:
    return f"{p.key:9} {probe.label} -> {status}: {what}"


# Every persona of build_world, one test each (so that test processes share the matrix).
PERSONAS = ["anonymous"] + [
    f"{kind}{c}{i}"
    for c in "AB"
    for kind, numbers in (("A", [""]), ("T", "12"), ("C", "123"))
    for i in numbers
]
# The one whose own records reach every format (pages, JSON, the export zip, the summary PDF).
EVERY_FORMAT = "CA1"


def test_the_matrix_has_every_persona_of_the_world(world):
    assert sorted(world.personas) == sorted(PERSONAS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_as_every_persona_refuses_what_is_not_theirs(world, db, capsys, persona):
    from kap.ops.worker import beat

    start = time.monotonic()
    all_probes, unattributable = probes(world)
    assert unattributable == [], "\n".join(unattributable)
    stats = Stats()
    leaks, not_refused, writes_seen, errors = [], [], [], []
    seen: dict[str, set[str]] = defaultdict(set)
    for p in [world.personas[persona]]:
        # A running worker beats every 30 s: on a slow machine the matrix outlasts the 10
        # minutes after which /readyz calls the worker gone (a 503, counted as a server error).
        beat()
        for probe in all_probes:
            expected = expectation(p, probe, world)
            response, writes, error = send(p, probe)
            stats.requests += 1
            if error is not None:
                errors.append(row(p, probe, "exception", error))
                continue
            status = response.status_code
            if status >= 500:
                errors.append(row(p, probe, status, "server error"))
            if status == 405:
                stats.method_not_allowed += 1
            else:
                stats.by_expectation[expected] += 1
            if expected == "allowed" and status in (403, 404):
                stats.allowed_refused.append(row(p, probe, status, "allowed, yet refused"))
            if expected == "forbidden" and status != 405:
                if refused(p, response):
                    stats.refused_by[status] += 1
                else:
                    location = response.get("Location", "")
                    not_refused.append(row(p, probe, status, f"not refused {location}".strip()))
                if writes:
                    writes_seen.append(row(p, probe, status, "wrote " + "; ".join(writes[:3])))
            for fmt, text in contents(response, stats):
                found = canaries_in(text, world)
                seen[p.key] |= found
                for label in sorted(found - p.may_see):
                    c = world.canaries[label]
                    leaks.append(row(p, probe, status, f"{c.phrase} in the {fmt}"))
                if found & p.may_see and fmt != "headers":
                    stats.canary_in[fmt] += 1
    stats.seconds = time.monotonic() - start

    # Positive controls: the search finds what the persona may see, in every format.
    unseen = []
    for p in [world.personas[persona]]:
        missing = sorted(p.expect_to_see - seen[p.key])
        if missing:
            unseen.append(
                f"{p.key}: never met {', '.join(world.canaries[m].phrase for m in missing)}"
            )
    formats = []
    if persona == EVERY_FORMAT:
        formats = [f for f in ("html", "json", "zip") if not stats.canary_in[f]]
        if PDFTOTEXT and not stats.canary_in["pdf"]:
            formats.append("pdf")

    forbidden = stats.by_expectation["forbidden"]
    refused_total = sum(stats.refused_by.values())
    summary = [
        "",
        f"authorization matrix, {persona}: {stats.requests:,} requests, {forbidden:,} forbidden"
        f" attempts, {refused_total:,} refused as expected, {len(leaks)} leaks",
        f"  {len(all_probes):,} probes (GET and empty POST); "
        f"allowed {stats.by_expectation['allowed']:,}, capability URLs "
        f"{stats.by_expectation['capability']:,}, 405 (method not accepted) "
        f"{stats.method_not_allowed:,}",
        "  refused: "
        + ", ".join(
            f"{n:,} x {'login redirect' if s == 302 else s}"
            for s, n in sorted(stats.refused_by.items())
        ),
        f"  not refused: {len(not_refused)}, wrote to the database: {len(writes_seen)}, "
        f"errors: {len(errors)}; allowed yet answered 403/404 (no such sheet, staff-only "
        f"two-factor page, ...): {len(stats.allowed_refused)}",
        "  bodies with a canary the persona may see: "
        + ", ".join(f"{f} {n:,}" for f, n in sorted(stats.canary_in.items())),
        f"  PDFs: {stats.pdfs} ({stats.pdfs_unread} unread"
        + ("" if PDFTOTEXT else ": pdftotext (poppler-utils) is missing, PDF text NOT checked")
        + f"), zip members opened: {stats.zip_members:,}, {stats.seconds:.0f} s",
    ]
    with capsys.disabled():
        print("\n".join(summary))

    def listing(title: str, rows: list[str], limit: int = 40) -> str:
        more = f"\n  ... and {len(rows) - limit} more" if len(rows) > limit else ""
        return f"{title} ({len(rows)}):\n  " + "\n  ".join(rows[:limit]) + more

    failures = []
    if leaks:
        failures.append(listing("LEAKS: canaries a persona may not see", leaks))
    if not_refused:
        failures.append(listing("forbidden attempts that were not refused (404/403)", not_refused))
    if writes_seen:
        failures.append(listing("forbidden attempts that wrote to the database", writes_seen))
    if errors:
        failures.append(listing("server errors", errors))
    if unseen:
        failures.append(listing("positive controls: canaries never found where allowed", unseen))
    if formats:
        failures.append(f"no allowed canary was ever found in these formats: {formats}")
    if forbidden < 100:
        failures.append(f"only {forbidden} forbidden attempts: the matrix did not run")
    if failures:
        pytest.fail("\n\n".join(failures) + "\n" + "\n".join(summary), pytrace=False)


def test_every_admin_action_is_probed_with_each_clinics_objects(world, db):
    """Every route of the clinic admin's (care/clinic/...), walked from the URLConf: probed with
    GET and POST, as every persona, with the objects of both clinics where it takes any (so that
    AA meets clinic B's therapists, invitations and uploads, and AB clinic A's), and with clinic
    A's own content and the clients' own in the place of an uploaded instrument's key."""
    all_probes, unattributable = probes(world)
    assert unattributable == [], "\n".join(unattributable)
    admin_routes = {name: route for name, route in walk() if role_gate(route) == "admin"}
    assert {"care:clinic-pack-publish", "care:therapist-active"} <= set(admin_routes)
    problems = []
    for name, route in sorted(admin_routes.items()):
        mine = [probe for probe in all_probes if probe.name == name]
        if {probe.method for probe in mine} != {"get", "post"}:
            problems.append(f"{name}: not probed with both GET and POST")
        if PARAM.search(route):
            clinics = {
                o.clinic for probe in mine for o in probe.objs if o.kind not in CONTENT_KINDS
            }
            if not {"A", "B"} <= clinics:
                problems.append(f"{name}: probed with objects of clinics {sorted(clinics)} only")
        if "<slug:key>" in route:
            owners = {o.owner or o.clinic for probe in mine for o in probe.objs if scoped(o)}
            if not {"CA1", "CA2", "A"} <= owners:
                problems.append(f"{name}: keys of {sorted(owners)} only")
    assert problems == [], "\n".join(problems)
    # Every persona asks for each of them: nobody but a clinic's admin may, and each admin may
    # use each action on something of their own clinic (so the matrix sees it work, too).
    admins = {key for key, p in world.personas.items() if p.role == "admin"}
    assert {world.personas[key].clinic for key in admins} == {"A", "B"}
    allowed_on: dict[str, set[str]] = defaultdict(set)
    for probe in all_probes:
        if probe.name in admin_routes:
            allowed = {
                key
                for key, p in world.personas.items()
                if expectation(p, probe, world) == "allowed"
            }
            assert allowed <= admins, (probe.label, allowed)
            allowed_on[probe.name] |= allowed
    assert {name: allowed_on[name] for name in admin_routes} == dict.fromkeys(admin_routes, admins)


# --- Consent revocation -----------------------------------------------------------------------


class Forms(HTMLParser):
    """Each <form>'s action and the (name, value) pairs a browser would send from it."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "fields": []})
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1]["fields"].append((a["name"], a.get("value") or "on"))


def post_form(http: Client, page_url: str, action: str, change=None):
    """GET the page, find the form that posts to `action` ("" for the page itself), let
    `change` tick or untick its boxes, and POST what a browser would send."""
    page = http.get(page_url)
    assert page.status_code == 200, (page_url, page.status_code)
    found = [f for f in Forms(page.content.decode()).forms if f["action"] == action]
    assert found, f"no form posting to {action!r} on {page_url}"
    fields = found[0]["fields"]
    if change is not None:
        fields = change(fields)
    data: dict[str, list[str]] = defaultdict(list)
    for name, value in fields:
        data[name].append(value)
    return http.post(action or page_url, dict(data))


def test_consent_revocation_takes_effect_on_the_next_request(world, db):
    ta1, ca1 = world.personas["TA1"], world.personas["CA1"]
    link = world.links[("CA1", "TA1")]
    client_page = f"/care/clients/{world.users['CA1'].pk}/"
    brief = f"{client_page}brief/"
    insight = world.canaries["CA1-INSIGHT"]
    worksheet = world.canaries["CA1-WORKSHEET"]
    action = f"/account/sharing/{link.pk}/"
    scope_field = f"link-{link.pk}-scopes"

    def shown(url: str) -> set[str]:
        response = ta1.http.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return canaries_in(response.content.decode(), world)

    def shown_in_pdf() -> set[str] | None:
        response = ta1.http.get(f"{client_page}brief.pdf")
        assert response.status_code == 200
        text = pdf_text(response.content)
        return None if text is None else canaries_in(text, world)

    def set_insights(on: bool):
        def change(fields):
            ticked = [v for n, v in fields if n == scope_field]
            assert (Scope.INSIGHTS in ticked) is not on, f"the form showed {ticked}"
            if on:
                ticked.append(Scope.INSIGHTS)
            else:
                ticked.remove(Scope.INSIGHTS)
            return [(n, v) for n, v in fields if n != scope_field] + [
                (scope_field, v) for v in ticked
            ]

        response = post_form(ca1.http, "/account/sharing/", action, change)
        assert response.status_code == 302, response.status_code
        link.refresh_from_db()
        assert (Scope.INSIGHTS in link.scopes) is on, link.scopes

    # Shared: the insight is on the client page, the brief and its PDF.
    assert {insight.label, worksheet.label} <= shown(client_page)
    assert insight.label in shown(brief)
    pdf = shown_in_pdf()
    assert pdf is None or insight.label in pdf

    # The client turns insights off: the therapist's very next request no longer shows it.
    set_insights(False)
    page = shown(client_page)
    assert insight.label not in page, f"{insight.phrase} still shown after consent was withdrawn"
    assert worksheet.label in page  # the rest is still shared
    assert insight.label not in shown(brief)
    pdf = shown_in_pdf()
    assert pdf is None or (insight.label not in pdf and worksheet.label in pdf)

    # Back on: shown again at once.
    set_insights(True)
    assert insight.label in shown(client_page)

    # The client ends the link (the confirmation page's form): everything is a 404 at once.
    name = world.canaries["CA1-NAME"].label
    assert name in canaries_in(ta1.http.get("/care/").content.decode(), world)
    end = f"/account/sharing/{link.pk}/end/"
    response = post_form(ca1.http, end, "")
    assert response.status_code == 302, response.status_code
    link.refresh_from_db()
    assert link.ended_at is not None
    for url in (client_page, brief, f"{client_page}brief.pdf"):
        status = ta1.http.get(url).status_code
        assert status == 404, f"{url} still answers {status} after the client ended the link"
    roster = ta1.http.get("/care/")
    assert roster.status_code == 200
    assert name not in canaries_in(roster.content.decode(), world), "still on the roster"
