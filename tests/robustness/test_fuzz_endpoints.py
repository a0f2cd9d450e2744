"""Generated input at every form and JSON endpoint: never a 5xx, and a refusal writes nothing.

The routes come from the URLConf. Each is either an ENDPOINT (taking input: a form, a JSON body,
an upload or a query), fuzzed below from a request that is accepted as it stands, or in
NO_INPUT with the reason it takes none. A new route in neither fails
`test_every_route_is_fuzzed_or_says_why_not`, naming it.

For each endpoint the accepted request is sent once, then Hypothesis drops or replaces one or
more of its fields with junk: text with control characters and huge strings, numbers (NaN,
infinities, huge integers), odd dates, lists where one value is expected, unknown fields; JSON
bodies and uploads also get nested, oversized and non-standard JSON. Every response must be
below 500, and when the request is refused (a 4xx, or the form shown again) no table may have
changed — except those an endpoint writes on purpose even then (listed with the endpoint, e.g.
the draft kept when a check-in is sent incomplete). The NO_INPUT routes each get one request
with junk in the query and the body, under the same rules.

Examples are derandomized (the same every run) and few, for CI time; set KAP_FUZZ_EXAMPLES for a
longer hunt.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kap.accounts.models import CareLink, Invite, Scope
from kap.journal.models import (
    ActionStep,
    Insight,
    KapSession,
    QuestionToBring,
    SafetyEvent,
    SupportItem,
)
from tests.conftest import PASSWORD
from tests.content.test_clinic_packs import make_zip, pack_files
from tests.test_login_required import walk

pytestmark = pytest.mark.django_db

# Per endpoint; the whole file stays well under a minute. KAP_FUZZ_EXAMPLES=200 for a long run.
EXAMPLES = int(os.environ.get("KAP_FUZZ_EXAMPLES", "8"))
FHIR = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "hl7-sdc-phq9-questionnaire.json"

# --- Junk -------------------------------------------------------------------------------------

MISSING = object()
CONTROL = "".join(map(chr, range(32))) + "\x7f\u0085\u200b\u200e\u2028\u2029\ufeff"
# Field names used somewhere in the app, sent where they do not belong.
NAMES = [
    "version",
    "submission_token",
    "session",
    "next",
    "page",
    "calendar-reset",
    "calendar-stop",
    "calendar-create",
    "scopes",
    "status",
    "text",
    "note",
    "active",
]

texts = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40),
    st.text(alphabet=st.sampled_from(CONTROL), min_size=1, max_size=10),
    st.sampled_from([500, 501, 20_001, 100_000, 1_100_000, 2_700_000]).map(lambda n: "ж" * n),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "'; DROP TABLE x; --",
            "../../etc/passwd",
            "\x00",
            "%00",
            "{{ 7*7 }}",
            "null",
            "[]",
            "{}",
            "true",
        ]
    ),
)
numbers = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(min_value=2**31 - 2, max_value=10**40),
    st.integers(max_value=-(2**31)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e999", "-0", "NaN", "-Infinity", "٣", "0x10", "1_000", "9" * 5000]),
).map(str)
dates = st.one_of(
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
    st.dates().map(str),
    st.sampled_from(
        [
            "0001-01-01",
            "0001-01-01T00:00",
            "9999-12-31T23:59",
            "10000-01-01",
            "2026-02-30",
            "2026-13-01T10:00",
            "1899-12-31",
            "2100-12-31T23:59",
            "-0001-01-01",
            "2026-01-01T24:00",
            "last-session",
            "31/12/9999",
        ]
    ),
)
scalars = st.one_of(texts, numbers, dates)
form_values = st.one_of(scalars, st.lists(scalars, max_size=3))
# A query string: a server refuses a request line of more than a few kilobytes anyway.
short_scalars = st.one_of(texts.filter(lambda t: len(t) <= 5000), numbers, dates)
query_values = st.one_of(short_scalars, st.lists(short_scalars, max_size=3))

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    dates,
    st.sampled_from(["\ud800", "x" * 70_000]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
raw_bodies = st.one_of(
    st.sampled_from(
        [
            "[" * 10_000 + "]" * 10_000,
            '{"a":' * 5_000 + "1" + "}" * 5_000,
            "[" * 33 + "]" * 33,
            "",
            "{",
            "NaN",
            "1" * 5000,
            '{"uuid": "\\ud800"}',
        ]
    ),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
)


def mutated(base: dict, values) -> st.SearchStrategy:
    """The base request with at least one field dropped or replaced by junk (the base itself is
    sent once before), and maybe unknown fields."""
    extra = st.dictionaries(
        st.one_of(st.sampled_from(NAMES), st.text(max_size=12)), values, max_size=2
    )
    if not base:
        return st.dictionaries(st.sampled_from(NAMES), values, min_size=1, max_size=3)

    def change(keys):
        junk = st.lists(st.one_of(values, st.just(MISSING)), min_size=len(keys), max_size=len(keys))
        return st.tuples(st.just(keys), junk, extra)

    def build(drawn) -> dict:
        keys, junk, more = drawn
        out = {**more, **base}
        for key, value in zip(keys, junk, strict=True):
            if value is MISSING:
                del out[key]
            else:
                out[key] = value
        return out

    keys = st.lists(st.sampled_from(sorted(base)), min_size=1, max_size=len(base), unique=True)
    return keys.flatmap(change).map(build)


# --- The world every example starts from ------------------------------------------------------

_n = itertools.count()


def new_user(role: str = "client", **fields):
    from kap.accounts.models import User

    n = next(_n)
    return User.objects.create_user(
        f"fuzz-{role}-{n}@example.com", PASSWORD, role=role, display_name=f"{role} {n}", **fields
    )


@dataclass
class World:
    client_user: object
    therapist: object
    admin: object
    colleague: object
    session: KapSession
    response: object
    insight: Insight
    step: ActionStep
    question: QuestionToBring
    link: CareLink
    me: object = None  # the persona of the example being run

    def user(self, role: str = "client", **fields):
        return new_user(role, **fields)

    def invite(self, kind: str = Invite.Kind.CLIENT, by=None, email: str = "") -> str:
        code = uuid.uuid4().hex
        by = by or (self.therapist if kind == Invite.Kind.CLIENT else self.admin)
        Invite.objects.create(
            kind=kind,
            created_by=by,
            clinic=by.clinic,
            email=email,
            code_hash=hashlib.sha256(code.encode()).hexdigest(),
            expires_at=timezone.now() + timedelta(days=7),
        )
        return code

    def pending_invite(self, kind: str) -> int:
        code = self.invite(kind)
        return Invite.objects.get(code_hash=hashlib.sha256(code.encode()).hexdigest()).pk


def _answers(instrument, text: str = "a few words") -> dict:
    spec = instrument.parsed
    out = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "text":
            out[item.key] = text
        elif kind == "check":
            out[item.key] = "on"
        elif kind == "choice":
            out[item.key] = spec.options_for(item)[0].value
        else:
            out[item.key] = str(item.min)
    return out


@pytest.fixture
def world(client_user, guide) -> World:
    from kap.accounts.models import Clinic
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    clinic = Clinic.objects.create(name="Fuzz Clinic")
    therapist = new_user("therapist", clinic=clinic)
    session = KapSession.objects.create(
        client=client_user, starts_at=timezone.now() - timedelta(days=1), status="completed"
    )
    worksheet = Instrument.objects.current().get(key="integration-worksheet")
    answers = {k: v for k, v in _answers(worksheet).items() if v != "on"}
    response = submit_response(
        client=client_user, instrument=worksheet, session=session, answers=answers
    ).response
    from kap.ops.worker import beat

    beat()  # a server whose worker runs: /readyz answers 200
    return World(
        client_user=client_user,
        therapist=therapist,
        admin=new_user("admin", clinic=clinic),
        colleague=new_user("therapist", clinic=clinic),
        session=session,
        response=response,
        insight=Insight.objects.create(client=client_user, session=session, text="a thought"),
        step=ActionStep.objects.create(client=client_user, text="walk"),
        question=QuestionToBring.objects.create(client=client_user, text="eyes open?"),
        link=CareLink.objects.create(
            client=client_user, therapist=therapist, scopes=list(Scope.values)
        ),
    )


def login(browser, world: World, persona: str):
    """Log the test client in as the example's persona (a fresh account where one is used up)."""
    from tests.care.conftest import verify

    browser.logout()
    if persona == "visitor":
        world.me = None
    elif persona == "client":
        world.me = world.client_user
        browser.force_login(world.client_user)
    elif persona == "fresh_client":
        world.me = world.user("client")
        browser.force_login(world.me)
    elif persona in ("therapist", "admin"):
        world.me = getattr(world, persona)
        verify(browser, world.me)
    elif persona == "fresh_therapist":  # logged in, second factor not set up yet
        world.me = world.user("therapist", clinic=world.therapist.clinic)
        browser.force_login(world.me)
    else:
        raise ValueError(persona)


# --- The endpoints ----------------------------------------------------------------------------


def redirected(response) -> bool:
    return response.status_code in (301, 302, 303)


@dataclass
class Endpoint:
    route: str  # the route's name, as reverse() spells it
    persona: str
    base: Callable[[World, dict], dict]  # an accepted request, for these URL kwargs
    kwargs: Callable[[World], dict] = lambda w: {}
    kind: str = "form"  # form | json | upload (a JSON file) | zip | query
    accepted: Callable = redirected
    # Tables written on purpose even when the request is refused, with the reason.
    may_write: frozenset[str] = frozenset()
    examples: int = 10  # tenths of EXAMPLES: fewer for the slow ones (PDFs, uploads)
    upload_field: str = ""
    label: str = ""  # tells two endpoints on one route apart

    @property
    def id(self) -> str:
        return self.route + (f"[{self.label}]" if self.label else "")


PACK_ZIP = make_zip(pack_files())


def _checked_upload(w):
    """A clinic pack upload that passed its checks, waiting to be published by the admin."""
    from kap.content import uploads
    from kap.content.models import PackUpload

    bundle = uploads.check(PACK_ZIP).bundle
    return PackUpload.objects.create(
        clinic=w.admin.clinic,
        uploaded_by=w.admin,
        filename="pack.zip",
        archive=PACK_ZIP,
        pack_key=bundle.spec.key,
        pack_title=bundle.spec.title,
        pack_version=bundle.spec.version,
        instruments=[spec.model_dump(mode="json") for spec in bundle.instruments],
    )


def _fresh_uuid_log(w, kw):
    return {
        "uuid": str(uuid.uuid4()),
        "instrument": "grounding",
        "version": 1,
        "started_at": datetime.now(UTC).isoformat(),
        "planned_seconds": 300,
        "elapsed_seconds": 300,
        "completed": True,
        "settled_before": 3,
        "settled_after": 7,
        "pace": {"key": "calm", "inhale": 4, "hold_in": 0, "exhale": 6, "hold_out": 0},
        "notings": {},
    }


def _manual_log(pace: str):
    def make(w, kw):
        data = {
            "uuid": str(uuid.uuid4()),
            "minutes": "5",
            "stopped_early": "",
            "settled_before": "3",
            "settled_after": "7",
        }
        return {**data, "pace": pace} if pace else data

    return make


def _worksheet(w, kw):
    from kap.content.models import Instrument

    instrument = Instrument.objects.current().get(key="integration-worksheet")
    return {**_answers(instrument), "version": "", "submission_token": "", "session": ""}


def _edit(w, kw):
    from kap.journal.models import Response

    response = Response.objects.get(pk=kw["pk"])
    return {**_answers(response.instrument, "changed words"), "version": str(response.version)}


def _invite_with_email(w) -> int:
    code = w.invite(Invite.Kind.THERAPIST, email=f"fuzz-resend-{next(_n)}@example.org")
    return Invite.objects.get(code_hash=hashlib.sha256(code.encode()).hexdigest()).pk


def _fresh_response(w):
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    instrument = Instrument.objects.current().get(key="capture-insights")
    answers = {k: v for k, v in _answers(instrument).items() if v != "on"}
    return {
        "pk": submit_response(
            client=w.client_user, instrument=instrument, session=None, answers=answers
        ).response.pk
    }


def _export_file(w, kw):
    from kap.exports import json_export

    return {"export-file": json_export.export_json(w.user("client"))}


def _fresh_event(w):
    from kap.journal.models import Response

    response = Response.objects.get(pk=w.response.pk)
    event = SafetyEvent.objects.create(
        client=w.client_user, response=response, rule_key=f"rule-{next(_n)}"
    )
    return {"event_id": event.pk}


def _fresh_link(w):
    return {
        "pk": CareLink.objects.create(
            client=w.client_user, therapist=w.user("therapist"), scopes=[Scope.SCORES]
        ).pk
    }


def _totp_setup(w, kw):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=w.me, name="Authenticator app", confirmed=False)
    return {"code": f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"}


def _signup(w, kw):
    n = next(_n)
    return {
        "display_name": "Kim",
        "email": f"kim-{n}@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }


SESSION_FORM = {
    "starts_at": "2025-03-01T10:00",
    "status": "completed",
    "clinician_name": "Dr Lee",
    "setting": "clinic",
    "notes": "calm",
}
SUMMARY = {"since": "2025-01-01", "sections": ["insights", "scores", "steps"]}
status_200 = lambda r: r.status_code == 200  # noqa: E731


def shows(template: str):
    """Accepted when the answer is a page made with this template (e.g. the recovery codes)."""
    return lambda r: r.status_code == 200 and template in {t.name for t in r.templates}


json_ok = lambda r: r.status_code in (200, 201)  # noqa: E731
never = lambda r: False  # noqa: E731  (a query never writes: every answer is checked)


def _translation_review() -> dict:
    from kap.content.models import Pack

    guide = Pack.objects.get(key="kap-guide", clinic=None, owner=None)
    return {"pack": guide.pk, "language": "es", "digest": guide.translations["es"]["digest"]}


ENDPOINTS = [
    # Accounts
    Endpoint("signup", "visitor", _signup),
    Endpoint(
        "login", "visitor", lambda w, kw: {"username": w.client_user.email, "password": PASSWORD}
    ),
    # Choosing the language (kap.accounts.views_language): a client's is saved on the account.
    Endpoint("language", "client", lambda w, kw: {"language": "es", "next": "/guide/"}),
    # A wrong current password is counted (kap.accounts.views.PasswordChange).
    Endpoint(
        "password_change",
        "fresh_client",
        lambda w, kw: {
            "old_password": PASSWORD,
            "new_password1": "another quiet lake 42",
            "new_password2": "another quiet lake 42",
        },
        may_write=frozenset({"accounts_throttlehit"}),
    ),
    Endpoint("account", "client", lambda w, kw: {"display_name": "Alex", "region": ""}),
    # The same answer whether or not the address has an account; each request is counted by the
    # throttle (kap.accounts.throttle), refused or not.
    Endpoint(
        "password_reset",
        "visitor",
        lambda w, kw: {"email": "someone@example.com"},
        may_write=frozenset({"accounts_throttlehit"}),
    ),
    Endpoint(
        "two-factor",
        "fresh_therapist",
        _totp_setup,
        accepted=shows("accounts/two_factor_codes.html"),
        # the set-up page makes the (unconfirmed) device it shows as a QR code
        may_write=frozenset({"otp_totp_totpdevice"}),
    ),
    # Journal
    Endpoint(
        "journal:instrument",
        "client",
        _worksheet,
        kwargs=lambda w: {"key": "integration-worksheet"},
        # an incomplete form keeps what was typed as a draft (nothing typed is lost)
        may_write=frozenset({"journal_response"}),
    ),
    Endpoint(
        "journal:autosave",
        "client",
        lambda w, kw: {"felt-different": "typing", "version": ""},
        kwargs=lambda w: {"key": "integration-worksheet"},
        accepted=status_200,
    ),
    Endpoint("journal:response-edit", "client", _edit, kwargs=_fresh_response),
    Endpoint("journal:session-new", "client", lambda w, kw: dict(SESSION_FORM)),
    Endpoint(
        "journal:session-edit",
        "client",
        lambda w, kw: dict(SESSION_FORM),
        kwargs=lambda w: {"pk": w.session.pk},
    ),
    Endpoint(
        "journal:insight-add",
        "client",
        lambda w, kw: {"text": "it stayed with me"},
        kwargs=lambda w: {"pk": w.session.pk},
    ),
    Endpoint(
        "journal:insight-edit",
        "client",
        lambda w, kw: {"text": "it still does"},
        kwargs=lambda w: {"pk": w.insight.pk},
    ),
    Endpoint(
        "journal:insight-delete",
        "client",
        lambda w, kw: {},
        kwargs=lambda w: {"pk": Insight.objects.create(client=w.client_user, text="gone").pk},
    ),
    Endpoint(
        "journal:session-delete",
        "client",
        lambda w, kw: {},
        kwargs=lambda w: {
            "pk": KapSession.objects.create(
                client=w.client_user, starts_at=timezone.now(), status="completed"
            ).pk
        },
    ),
    Endpoint(
        "journal:step-new",
        "client",
        lambda w, kw: {"text": "call my sister", "session": str(w.session.pk)},
    ),
    Endpoint(
        "journal:step-check-in",
        "client",
        lambda w, kw: {f"step-{kw['pk']}-status": "working", f"step-{kw['pk']}-note": "ok"},
        kwargs=lambda w: {"pk": w.step.pk},
    ),
    Endpoint("journal:question-new", "client", lambda w, kw: {"text": "may I keep my eyes open?"}),
    Endpoint(
        "journal:question-asked",
        "client",
        lambda w, kw: {"next": "/questions/"},
        kwargs=lambda w: {"pk": w.question.pk},
    ),
    Endpoint(
        "journal:support", "client", lambda w, kw: {"category": "people", "text": "my sister"}
    ),
    Endpoint(
        "journal:support-delete",
        "client",
        lambda w, kw: {},
        kwargs=lambda w: {
            "pk": SupportItem.objects.create(
                client=w.client_user, category="people", text="gone"
            ).pk
        },
    ),
    Endpoint(
        "journal:reminders",
        "client",
        lambda w, kw: {"include_clinician": "on", "email_enabled": ""},
    ),
    Endpoint(
        "journal:timeline",
        "client",
        lambda w, kw: {"q": "thought", "kind": "", "session": str(w.session.pk), "page": "1"},
        kind="query",
        accepted=never,
    ),
    # Practices
    Endpoint(
        "practices:practice",
        "client",
        _manual_log("calm"),
        kwargs=lambda w: {"key": "grounding"},
        label="paced",
    ),
    Endpoint(
        "practices:practice",
        "client",
        _manual_log(""),
        kwargs=lambda w: {"key": "gentle-awareness"},
        label="timed",
    ),
    Endpoint(
        "practices:note",
        "client",
        _manual_log("box"),
        kwargs=lambda w: {"key": "grounding"},
    ),
    Endpoint("practices:log", "client", _fresh_uuid_log, kind="json", accepted=json_ok),
    # The first steps after signing up
    Endpoint("welcome:session", "client", lambda w, kw: {"starts_at": "2090-05-04T10:00"}),
    Endpoint("welcome:reminders", "client", lambda w, kw: {"calendar": "on", "email": "on"}),
    Endpoint("practices:list", "client", lambda w, kw: {"page": "1"}, kind="query", accepted=never),
    # Your data
    Endpoint(
        "exports:import",
        "fresh_client",
        _export_file,
        kind="upload",
        upload_field="export-file",
        examples=6,
    ),
    Endpoint(
        "exports:import-questionnaire",
        "client",
        lambda w, kw: {"questionnaire-file": FHIR.read_bytes()},
        kind="upload",
        upload_field="questionnaire-file",
        examples=6,
    ),
    Endpoint(
        "exports:delete", "fresh_client", lambda w, kw: {"email": w.me.email}, accepted=status_200
    ),
    # Progress
    Endpoint(
        "progress:summary-view", "client", lambda w, kw: dict(SUMMARY), kind="query", accepted=never
    ),
    Endpoint(
        "progress:summary-pdf",
        "client",
        lambda w, kw: dict(SUMMARY),
        kind="query",
        accepted=never,
        examples=4,
    ),
    # Sharing (the client's side)
    Endpoint("invite-code", "client", lambda w, kw: {"code": w.invite()}),
    Endpoint(
        "invite",
        "client",
        lambda w, kw: {"scopes": ["scores", "safety"]},
        kwargs=lambda w: {"code": w.invite()},
        label="client",
    ),
    Endpoint(
        "invite",
        "visitor",
        lambda w, kw: {**_signup(w, kw), "display_name": "Dr Noor"},
        kwargs=lambda w: {"code": w.invite(Invite.Kind.THERAPIST)},
        label="therapist",
    ),
    # Someone invited without an account makes one from the invitation (sign-up open or not).
    Endpoint(
        "invite",
        "visitor",
        _signup,
        kwargs=lambda w: {"code": w.invite(Invite.Kind.CLIENT)},
        label="client-signup",
    ),
    Endpoint(
        "sharing-link",
        "client",
        lambda w, kw: {f"link-{kw['pk']}-scopes": ["scores", "insights"]},
        kwargs=lambda w: {"pk": w.link.pk},
    ),
    Endpoint("sharing-end", "client", lambda w, kw: {}, kwargs=_fresh_link),
    # The therapist's side
    Endpoint(
        "care:invite", "therapist", lambda w, kw: {"email": "", "days": "7"}, accepted=status_200
    ),
    Endpoint(
        "care:invite-revoke",
        "therapist",
        lambda w, kw: {},
        kwargs=lambda w: {"invite_id": w.pending_invite(Invite.Kind.CLIENT)},
    ),
    Endpoint(
        "care:note-add",
        "therapist",
        lambda w, kw: {"text": "check in about sleep"},
        kwargs=lambda w: {"client_id": w.client_user.pk},
    ),
    Endpoint(
        "care:question-discussed",
        "therapist",
        lambda w, kw: {"next": "/care/"},
        kwargs=lambda w: {"client_id": w.client_user.pk, "question_id": w.question.pk},
    ),
    Endpoint(
        "care:alert-ack",
        "therapist",
        lambda w, kw: {"note": "called", "next": ""},
        kwargs=_fresh_event,
    ),
    Endpoint(
        "care:roster",
        "therapist",
        lambda w, kw: {"sort": "alerts", "page": "1"},
        kind="query",
        accepted=never,
    ),
    Endpoint(
        "care:client",
        "therapist",
        lambda w, kw: {"page": "1"},
        kwargs=lambda w: {"client_id": w.client_user.pk},
        kind="query",
        accepted=never,
    ),
    # The clinic admin's side
    Endpoint(
        "care:clinic-invite", "admin", lambda w, kw: {"email": "", "days": "7"}, accepted=status_200
    ),
    Endpoint(
        "care:clinic-invite-revoke",
        "admin",
        lambda w, kw: {},
        kwargs=lambda w: {"invite_id": w.pending_invite(Invite.Kind.THERAPIST)},
    ),
    Endpoint(
        "care:clinic-admin-add",
        "admin",
        lambda w, kw: {"email": f"fuzz-admin-{next(_n)}@example.org", "display_name": "Sam"},
        accepted=shows("care/clinic_admin_added.html"),
    ),
    # A clinic admin marks the guide's Spanish reviewed for their clinic (kap.content.views).
    Endpoint("translation-review", "admin", lambda w, kw: _translation_review()),
    Endpoint(
        "care:staff-second-factor-reset",
        "admin",
        lambda w, kw: {"confirm": "yes"},
        kwargs=lambda w: {"user_id": w.colleague.pk},
    ),
    # Invitations by e-mail (kap.care.views_invites): a list that cannot be used invites nobody.
    Endpoint(
        "care:clinic-invitations",
        "admin",
        lambda w, kw: {
            "kind": "therapist",
            "addresses": f"fuzz-invited-{next(_n)}@example.org",
            "days": "7",
        },
    ),
    Endpoint(
        "care:clinic-invite-resend",
        "admin",
        lambda w, kw: {},
        kwargs=lambda w: {"invite_id": _invite_with_email(w)},
    ),
    Endpoint("care:clinic-invitation-text", "admin", lambda w, kw: {"text": "Welcome."}),
    Endpoint(
        "care:therapist-active",
        "admin",
        lambda w, kw: {"active": "1"},
        kwargs=lambda w: {"user_id": w.colleague.pk},
    ),
    # An upload that is a zip at all is kept with its report (even one listing problems): a zip
    # that cannot be opened, is unsafe or too large is refused and nothing is kept.
    Endpoint(
        "care:clinic-pack-upload",
        "admin",
        lambda w, kw: {"pack-file": PACK_ZIP},
        kind="zip",
        upload_field="pack-file",
        examples=4,
    ),
    Endpoint(
        "care:clinic-pack-publish",
        "admin",
        lambda w, kw: {},
        kwargs=lambda w: {"upload_id": _checked_upload(w).pk},
        examples=4,
    ),
]

# Routes that take no input but their address (and a session). Each still gets one request
# with junk in its query and body: below 500, nothing written.
NO_INPUT = {
    "home": "the start page",
    "guide-index": "a guide page",
    "guide-page": "a guide page",
    "guide-pack-page": "a guide page",
    "care:clinic-packs": "a page (its form posts to clinic-pack-upload)",
    "care:clinic-pack": "an upload's report",
    "care:clinic-pack-preview": "an uploaded instrument shown read-only",
    "crisis": "the crisis page",
    "logout": "logs out; no fields",
    "password_change_done": "a page",
    "journal:today": "a page",
    "journal:instruments": "a list",
    "journal:response": "a page",
    "journal:sessions": "a list",
    "journal:session": "a page",
    "journal:steps": "a list",
    "journal:questions": "a list",
    "journal:calendar-feed": "a feed found by its token (tests/reminders)",
    "practices:detail": "a page",
    "welcome:about": "a page (the last of the first steps)",
    "exports:index": "a page",
    "exports:json": "a download",
    "exports:csv": "a download",
    "exports:fhir": "a download",
    "progress:trends": "a page",
    "progress:summary": "the summary's form (sent to summary-view and summary-pdf)",
    "progress:blank": "a blank sheet",
    "progress:blank-pdf": "a blank sheet",
    "care:brief": "a page",
    "care:brief-pdf": "a download",
    "care:clinic": "a page",
    "sharing": "a page (its forms post to sharing-link and sharing-end)",
    "sharing-views": "a list",
    "ops:healthz": "a probe for load balancers",
    "ops:readyz": "a probe for load balancers",
    "password_reset_done": "a page",
    "password_reset_complete": "a page",
    "password_reset_confirm": "a link checked by its token (tests/accounts/test_password_reset.py)",
    "style-guide": "a page (no one's data)",
    "offline:manifest": "a file (tests/offline)",
    "offline:service-worker": "a file (tests/offline)",
    "offline:page": "a page",
    "offline:pages": "a list of addresses (tests/offline)",
    "setup": "sends to sign-in once any account exists, as here (tests/accounts/test_clinic_setup.py)",
}


def test_every_route_is_fuzzed_or_says_why_not():
    routes = {name for name, _ in walk(get_resolver().url_patterns)}
    fuzzed = {e.route for e in ENDPOINTS}
    missing = sorted(routes - fuzzed - set(NO_INPUT))
    assert missing == [], f"routes with no fuzzing and no reason in NO_INPUT: {missing}"
    assert not (fuzzed & set(NO_INPUT))
    assert sorted((fuzzed | set(NO_INPUT)) - routes) == [], "listed routes that do not exist"


# --- Running ----------------------------------------------------------------------------------

# Written on every request or by design whatever the answer: sessions, the sign-in throttle's
# records, the audit trail of reads (a page of client data shown with a form error is a read).
IGNORED = ("django_session", "django_migrations", "axes_", "care_auditentry")


def _tables() -> list[str]:
    return sorted(t for t in connection.introspection.table_names() if not t.startswith(IGNORED))


def snapshot(tables) -> dict[str, str]:
    """A digest of every row of each table (order aside): one round trip on PostgreSQL."""
    qn = connection.ops.quote_name
    out = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            parts = ", ".join(
                f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f" FROM {qn(table)} t)"
                for table in tables
            )
            cursor.execute(f"SELECT {parts}")  # noqa: S608 (table names from Django)
            return dict(zip(tables, cursor.fetchone(), strict=True))
        for table in tables:
            cursor.execute(f"SELECT * FROM {qn(table)}")  # noqa: S608 (table names from Django)
            rows = sorted(repr(row) for row in cursor.fetchall())
            out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return out


def send(browser, endpoint: Endpoint, url: str, data):
    if endpoint.kind == "json":
        body = data if isinstance(data, str) else json.dumps(data, allow_nan=True)
        return browser.post(url, body, content_type="application/json")
    if endpoint.kind == "query":
        return browser.get(url, data)
    if endpoint.kind == "zip":
        content = data.get(endpoint.upload_field, b"")
        if not isinstance(content, bytes):
            content = str(content).encode("utf-8", "surrogatepass")
        data = {**data, endpoint.upload_field: SimpleUploadedFile("p.zip", content)}
    if endpoint.kind == "upload":
        content = data.get(endpoint.upload_field, b"")
        if not isinstance(content, bytes):
            content = (content if isinstance(content, str) else json.dumps(content)).encode(
                "utf-8", "surrogatepass"
            )
        data = {**data, endpoint.upload_field: SimpleUploadedFile("f.json", content)}
    return browser.post(url, data)


def strategy(endpoint: Endpoint, base: dict) -> st.SearchStrategy:
    if endpoint.kind == "json":
        return st.one_of(mutated(base, json_values), raw_bodies, json_values)
    if endpoint.kind == "zip":
        whole = base[endpoint.upload_field]
        names = st.sampled_from(
            ["pack.yaml", "instruments/sleep-diary.yaml", "pages/welcome.md", "../x", "/etc/x"]
        )
        files = st.one_of(
            st.just(whole),
            st.integers(0, len(whole) - 1).map(lambda n: whole[:n]),  # cut short
            st.binary(max_size=200),
            raw_bodies,
            st.dictionaries(names, st.one_of(st.text(max_size=80), st.binary(max_size=80)))
            .filter(bool)
            .map(make_zip),
        )
        return st.fixed_dictionaries({endpoint.upload_field: files})
    if endpoint.kind == "upload":
        original = json.loads(base[endpoint.upload_field])
        files = st.one_of(
            st.just(base[endpoint.upload_field]),
            mutated(original, json_values) if isinstance(original, dict) else json_values,
            raw_bodies,
        )
        return st.fixed_dictionaries({endpoint.upload_field: files})
    return mutated(base, query_values if endpoint.kind == "query" else form_values)


def run_once(browser, world, endpoint: Endpoint, tables, data=None) -> tuple[object, bool]:
    login(browser, world, endpoint.persona)
    kwargs = endpoint.kwargs(world)
    url = reverse(endpoint.route, kwargs=kwargs)
    base = endpoint.base(world, kwargs)
    before = snapshot(tables)
    response = send(browser, endpoint, url, base if data is None else data(base))
    assert response.status_code < 500, (endpoint.id, response.status_code)
    accepted = endpoint.accepted(response)
    if not accepted:
        after = snapshot(tables)
        changed = sorted(t for t in tables if before[t] != after[t])
        assert set(changed) <= endpoint.may_write, (
            f"{endpoint.id} refused the request ({response.status_code}) but wrote {changed}"
        )
    return response, accepted


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.id)
def test_junk_never_fails_and_a_refusal_writes_nothing(client, world, endpoint):
    tables = _tables()
    # The request as it stands is accepted: the junk below starts from something that works.
    response, accepted = run_once(client, world, endpoint, tables)
    assert accepted or endpoint.accepted is never, (endpoint.id, response.status_code)

    def fuzz(drawn):
        run_once(client, world, endpoint, tables, lambda base: drawn.draw(strategy(endpoint, base)))

    # Named after the endpoint: derandomize seeds from the function, so each endpoint gets its
    # own (fixed) examples rather than all of them the same.
    fuzz.__name__ = fuzz.__qualname__ = "fuzz_" + "".join(
        c if c.isalnum() else "_" for c in endpoint.id
    )
    settings(
        max_examples=max(1, EXAMPLES * endpoint.examples // 10),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(st.data())(fuzz))()


@pytest.mark.parametrize("route", sorted(NO_INPUT))
def test_routes_without_input_shrug_off_junk(client, world, route):
    if route == "logout":
        pytest.skip("posting to logout logs out; nothing else to check")
    tables = _tables()
    pattern = dict(walk(get_resolver().url_patterns))[route]
    args = {
        "slug": "first-session",
        "key": "integration-worksheet",
        "token": "x" * 32,
        "pack": "kap-guide",
        "uidb64": "MQ",
    }
    upload = _checked_upload(world) if route.startswith("care:clinic-pack") else None
    needed = {
        "care:clinic-pack": {"upload_id": upload and upload.pk},
        "care:clinic-pack-preview": {"upload_id": upload and upload.pk, "key": "sleep-diary"},
        "journal:response": {"pk": world.response.pk},
        "journal:session": {"pk": world.session.pk},
        "care:brief": {"client_id": world.client_user.pk},
        "care:brief-pdf": {"client_id": world.client_user.pk},
        "practices:detail": {"pk": 1},
    }.get(route)
    import re

    names = re.findall(r"<(?:\w+:)?(\w+)>", pattern)
    kwargs = needed or {n: args[n] for n in names}
    persona = (
        "admin"
        if route.startswith("care:clinic")
        else ("therapist" if route.startswith("care:") else "client")
    )
    login(client, world, persona)
    url = reverse(route, kwargs=kwargs)
    junk = {
        "page": "9" * 30,
        "session": "-1",
        "q": "\x00" * 3,
        "since": "0001-01-01",
        "version": "NaN",
        "next": "//evil.example/",
        "sort": ["a", "b"],
    }
    for method in ("get", "post"):
        before = snapshot(tables)
        response = getattr(client, method)(url, junk)
        assert response.status_code < 500, (route, method, response.status_code)
        after = snapshot(tables)
        assert [t for t in tables if before[t] != after[t]] == [], (route, method)
