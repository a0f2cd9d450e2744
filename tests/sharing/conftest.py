"""Personas and factories for sharing. The client persona (Alex) comes from tests/conftest.py."""

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

CODE = "calm-river-4821"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@pytest.fixture
def clinic(db):
    from kap.accounts.models import Clinic

    return Clinic.objects.create(name="Harbour Clinic")


@pytest.fixture
def therapist(make_user, clinic):
    return make_user(
        "rivera@harbour.example", role="therapist", display_name="Dr Rivera", clinic=clinic
    )


@pytest.fixture
def clinic_admin(make_user, clinic):
    return make_user("admin@harbour.example", role="admin", display_name="Pat", clinic=clinic)


@pytest.fixture
def make_invite(db):
    from kap.accounts.models import Invite

    def make(created_by, *, code: str = CODE, kind: str = "client", days: float = 7, **fields):
        return Invite.objects.create(
            kind=kind,
            created_by=created_by,
            clinic=fields.pop("clinic", created_by.clinic),
            code_hash=code_hash(code),
            expires_at=timezone.now() + timedelta(days=days),
            **fields,
        )

    return make


@pytest.fixture
def make_link(db):
    from kap.accounts.models import CareLink

    def make(client, therapist, scopes=(), **fields):
        return CareLink.objects.create(
            client=client, therapist=therapist, scopes=list(scopes), **fields
        )

    return make


def as_therapist(therapist):
    """A request as the therapist's side would see it, for kap.care.access helpers."""
    request = RequestFactory().get("/care/")
    request.user = therapist
    return request


def queries_for(client, url: str) -> int:
    """How many queries one GET of `url` takes, after a first GET has warmed per-process caches."""
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)
