"""Issue 17: an autosave on the page's own draft at the version it shows is one conditional
UPDATE … RETURNING on the responses table (nothing read first); anything else still takes the
careful path and refuses a stale page."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kap.journal.models import Response

pytestmark = pytest.mark.django_db

KEY = "integration-worksheet"


def autosave(client, version, text):
    return client.post(
        reverse("journal:autosave", args=[KEY]),
        {"version": version, "felt-different": text},
    )


def statements_on_responses(ctx) -> list[str]:
    table = Response._meta.db_table
    return [q["sql"] for q in ctx.captured_queries if table in q["sql"].split(" WHERE ")[0]]


def test_a_save_at_the_current_version_is_one_update_returning_the_new_version(
    logged_in, client_user, draft
):
    first = draft(client_user, KEY, {"felt-different": "first words"})

    with CaptureQueriesContext(connection) as ctx:
        answer = autosave(logged_in, first.version, "second words")

    assert answer.status_code == 200, answer.content
    body = json.loads(answer.content)
    assert body["status"] == "saved" and body["version"] == first.version + 1
    assert body["id"] == first.pk
    on_responses = statements_on_responses(ctx)
    assert len(on_responses) == 1 and on_responses[0].lstrip().upper().startswith("UPDATE")
    assert "RETURNING" in on_responses[0].upper()
    stored = Response.objects.get(pk=first.pk)
    assert stored.answers == {"felt-different": "second words"}
    assert stored.version == first.version + 1
    # Encrypted at rest like every other write of it.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT answers FROM {Response._meta.db_table} WHERE id = %s", [first.pk])
        assert "second words" not in cursor.fetchone()[0]


def test_a_save_from_an_older_version_writes_nothing_and_is_a_conflict(
    logged_in, client_user, draft
):
    first = draft(client_user, KEY, {"felt-different": "kept"})
    assert autosave(logged_in, first.version, "newer").status_code == 200

    stale = autosave(logged_in, first.version, "from a stale tab")

    assert stale.status_code == 409
    stored = Response.objects.get(pk=first.pk)
    assert stored.answers == {"felt-different": "newer"} and stored.version == first.version + 1


def test_a_submitted_draft_is_never_updated_by_a_late_autosave(logged_in, client_user, draft):
    first = draft(client_user, KEY, {"felt-different": "final"})
    Response.objects.filter(pk=first.pk).update(status=Response.Status.SUBMITTED)

    late = autosave(logged_in, first.version, "a late keystroke")

    assert late.status_code == 409
    assert Response.objects.get(pk=first.pk).answers == {"felt-different": "final"}
    assert not Response.objects.drafts().filter(client=client_user).exists()


def test_a_save_that_sends_no_version_is_the_same_one_update(logged_in, client_user, draft):
    """A sender with no version field at all (a script, not our pages) is not compared with the
    stored version: the open draft is overwritten by the same single UPDATE, nothing read first.
    Once that draft is submitted, such a save starts a new one and leaves the response alone."""
    first = draft(client_user, KEY, {"felt-different": "first words"})

    with CaptureQueriesContext(connection) as ctx:
        answer = logged_in.post(reverse("journal:autosave", args=[KEY]), {"felt-different": "more"})

    assert json.loads(answer.content)["version"] == first.version + 1
    on_responses = statements_on_responses(ctx)
    assert len(on_responses) == 1 and on_responses[0].lstrip().upper().startswith("UPDATE")
    assert Response.objects.get(pk=first.pk).answers == {"felt-different": "more"}

    Response.objects.filter(pk=first.pk).update(status=Response.Status.SUBMITTED)
    logged_in.post(reverse("journal:autosave", args=[KEY]), {"felt-different": "a new draft"})
    assert Response.objects.get(pk=first.pk).answers == {"felt-different": "more"}
    assert Response.objects.drafts().get(client=client_user).answers == {
        "felt-different": "a new draft"
    }
