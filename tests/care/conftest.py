"""Personas and factories for the therapist's side. Base personas come from tests/conftest.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.accounts.models import Scope

ALL_SCOPES = list(Scope.values)
# Written into what a client did not share; it must never reach a therapist's page or PDF.
CANARY = "purple-otter-canary"


def verify(client, user):
    """Log `user` in on the test client and mark the session as past its second factor, as
    django_otp.login() does (the session holds the device's persistent id)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def clinic(db):
    from kap.accounts.models import Clinic

    return Clinic.objects.create(name="Lakeside Clinic")


@pytest.fixture
def therapist(make_user, clinic):
    return make_user("dr.lee@example.com", role="therapist", display_name="Dr Lee", clinic=clinic)


@pytest.fixture
def colleague(make_user, clinic):
    return make_user("dr.kim@example.com", role="therapist", display_name="Dr Kim", clinic=clinic)


@pytest.fixture
def clinic_admin(make_user, clinic):
    return make_user("admin@example.com", role="admin", display_name="Pat Admin", clinic=clinic)


@pytest.fixture
def link(db):
    from kap.accounts.models import CareLink

    def make(client, therapist, scopes=None):
        return CareLink.objects.create(
            client=client, therapist=therapist, scopes=ALL_SCOPES if scopes is None else scopes
        )

    return make


@pytest.fixture
def linked(client_user, therapist, link, guide):
    """Alex, linked to Dr Lee with everything shared."""
    return link(client_user, therapist)


@pytest.fixture
def as_therapist(client, therapist):
    return verify(client, therapist)


@pytest.fixture
def submit(guide):
    """Submit answers as the journal does (safety rules and follow-ups included)."""
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    def do(client, key: str, answers: dict, session=None):
        instrument = Instrument.objects.current().get(key=key)
        return submit_response(
            client=client, instrument=instrument, session=session, answers=answers
        ).response

    return do


PHQ9_OPTIONS = ["not-at-all", "several-days", "more-than-half", "nearly-every-day"]
GAD7_KEYS = [f"q{i}" for i in range(1, 8)]


def phq9_answers(total: int, item9: int = 0) -> dict:
    """PHQ-9 answers adding up to `total` (item 9 given separately; 0 means no safety event)."""
    answers, left = {}, total - item9
    for i in range(1, 9):
        weight = min(3, left)
        answers[f"q{i}"] = PHQ9_OPTIONS[weight]
        left -= weight
    answers["q9"] = PHQ9_OPTIONS[item9]
    return answers


def gad7_answers(total: int) -> dict:
    answers, left = {}, total
    for key in GAD7_KEYS:
        weight = min(3, left)
        answers[key] = PHQ9_OPTIONS[weight]
        left -= weight
    return answers


@pytest.fixture
def make_session(db):
    from kap.journal.models import KapSession

    def make(client, *, hours_from_now: float, status: str = "planned", **fields):
        return KapSession.objects.create(
            client=client,
            starts_at=timezone.now() + timedelta(hours=hours_from_now),
            status=status,
            **fields,
        )

    return make


def publish_clinic_pack(admin_http, files: dict[str, str]):
    """Zip `files` (pack.yaml, its instruments and pages), upload the zip and publish it as a
    clinic admin does through the web (`admin_http`: a test client signed in as a verified
    admin); returns the PackUpload, published for the admin's clinic."""
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    from kap.content.models import PackUpload

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    zipped = SimpleUploadedFile("pack.zip", buffer.getvalue(), content_type="application/zip")
    response = admin_http.post("/care/clinic/packs/upload/", {"pack-file": zipped})
    assert response.status_code == 302, response.content.decode()[:2000]
    upload = PackUpload.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[-1]))
    assert upload.is_valid, upload.problems
    response = admin_http.post(f"/care/clinic/packs/{upload.pk}/publish/")
    assert response.status_code == 302, response.status_code
    upload.refresh_from_db()
    assert upload.published_pack is not None
    return upload


@pytest.fixture
def keep_signal_handlers():
    """db_worker installs its own SIGINT/SIGTERM handlers; put pytest's back afterwards."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)
