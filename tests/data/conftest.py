"""Fixtures for the tests of "Your data" (/data/): export, import, questionnaires, deletion.

Personas (client_user, stranger, make_user, guide, logged_in) come from tests/conftest.py; the
person with one of every record comes from tests/data/people.py.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.data.people import build_person

ALEX_PHRASE = "AMBER-LANTERN-7301"
SAM_PHRASE = "COBALT-MOTH-5529"


@pytest.fixture
def therapist(make_user):
    return make_user("dr.lee@example.com", role="therapist", display_name="Dr. Lee")


@pytest.fixture
def alex(client_user, guide, therapist):
    """The signed-in client of `logged_in`, with one of every kind of record."""
    return build_person(client_user, ALEX_PHRASE, therapist=therapist)


@pytest.fixture
def sam(stranger, guide):
    """Another client, with records of their own."""
    return build_person(stranger, SAM_PHRASE)


def page_text(response) -> str:
    """The page as a reader sees it: tags removed, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body)).strip()


def download_json(client) -> dict:
    response = client.get(reverse("exports:json"))
    assert response.status_code == 200
    return json.loads(response.content.decode("utf-8"))


def upload(client, url_name: str, field: str, content: bytes, name: str = "file.json"):
    return client.post(
        reverse(url_name),
        {field: SimpleUploadedFile(name, content, content_type="application/json")},
    )


def import_export_file(client, content: bytes):
    return upload(client, "exports:import", "export-file", content, "kap-export.json")


def row_counts() -> dict[str, int]:
    """Rows of every model of the app (journal, practices, content, accounts, care)."""
    return {
        model._meta.label: model._default_manager.count()
        for app in ("journal", "practices", "content", "accounts", "care")
        for model in apps.get_app_config(app).get_models()
    }


@pytest.fixture
def exported(client, alex) -> dict:
    client.force_login(alex.user)
    return json.loads(client.get(reverse("exports:json")).content)


@pytest.fixture
def newcomer(client, make_user, exported):
    """A new, empty account, signed in, about to import Alex's file."""
    user = make_user("newcomer@example.com")
    client.force_login(user)
    return user
