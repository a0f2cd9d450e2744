"""Another person's data never appears in my download: two clients each wrote their own canary
phrase into every kind of record, and each download holds one phrase only."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.urls import reverse

from tests.data.conftest import ALEX_PHRASE, SAM_PHRASE


def download_text(client, kind: str) -> str:
    response = client.get(reverse(f"exports:{kind}"))
    assert response.status_code == 200
    if kind == "csv":
        zf = zipfile.ZipFile(io.BytesIO(response.content))
        return "\n".join(zf.read(n).decode("utf-8-sig") for n in zf.namelist())
    return response.content.decode("utf-8")


@pytest.mark.parametrize("kind", ["json", "csv", "fhir"])
def test_my_download_holds_my_phrase_and_never_another_clients(client, alex, sam, kind):
    for me, mine, theirs in ((alex, ALEX_PHRASE, SAM_PHRASE), (sam, SAM_PHRASE, ALEX_PHRASE)):
        client.force_login(me.user)
        text = download_text(client, kind)
        assert mine in text, (me.user.email, kind)
        assert theirs not in text, (me.user.email, kind)
        other = sam if me is alex else alex
        assert other.user.email not in text


def test_my_json_export_counts_only_my_records(client, alex, sam):
    client.force_login(sam.user)
    export = json.loads(client.get(reverse("exports:json")).content)
    assert export["profile"]["email"] == sam.user.email
    # Sam has no therapist: Alex's link is not Sam's.
    assert export["care_links"] == []
    assert len(export["insights"]) == 2 and len(export["sessions"]) == 2


def test_the_fhir_bundle_names_neither_the_email_address_nor_a_database_key(logged_in, alex):
    text = download_text(logged_in, "fhir")
    bundle = json.loads(text)
    assert bundle["resourceType"] == "Bundle"
    assert alex.user.email not in text
    subjects = {
        e["resource"]["subject"]["reference"] for e in bundle["entry"] if "subject" in e["resource"]
    }
    assert len(subjects) == 1
    (subject,) = subjects
    assert subject.startswith("Patient/") and subject != f"Patient/{alex.user.pk}"
