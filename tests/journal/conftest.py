"""Small factories for the client's records. Personas come from tests/conftest.py."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone


@pytest.fixture
def make_session(db):
    from kap.journal.models import KapSession

    def make(client, *, hours_ago: float = 5, status: str = "completed", **fields):
        return KapSession.objects.create(
            client=client,
            starts_at=timezone.now() - timedelta(hours=hours_ago),
            status=status,
            **fields,
        )

    return make


@pytest.fixture
def submit(guide):
    """Submit answers to an instrument of the built-in pack, as the journal does."""
    from kap.content.models import Instrument
    from kap.journal.services import submit_response

    def do(client, key: str, answers: dict, session=None):
        instrument = Instrument.objects.current().get(key=key)
        return submit_response(
            client=client, instrument=instrument, session=session, answers=answers
        ).response

    return do


@pytest.fixture
def draft(guide):
    from kap.content.models import Instrument
    from kap.journal.services import save_draft

    def do(client, key: str, answers: dict, session=None):
        instrument = Instrument.objects.current().get(key=key)
        return save_draft(
            client=client,
            instrument=instrument,
            session=session,
            answers=answers,
            base_version=None,
        )

    return do


def queries_for(client, url: str) -> int:
    """How many queries one GET of `url` takes (asserting it is a 200)."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx)


def field_error(response, field_id: str) -> str:
    """The error shown next to one field (includes/field.html), or "" if there is none."""
    import re

    html = response.content.decode()
    match = re.search(rf'<p class="field-error" id="{field_id}_error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""
