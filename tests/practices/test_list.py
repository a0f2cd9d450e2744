"""/practices/: a person's own past practices, newest first, in a constant number of queries."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kap.content.models import Instrument
from kap.practices.models import PracticeLog
from kap.practices.services import record_practice

pytestmark = pytest.mark.django_db


def add_logs(client, count, key="grounding"):
    instrument = Instrument.objects.get(key=key)
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for n in range(count):
        record_practice(
            client=client,
            uuid=uuid.uuid4(),
            instrument=instrument,
            started_at=start + timedelta(days=n),
            planned_seconds=300,
            elapsed_seconds=120 + n,
            completed=n % 2 == 0,
            settled_before=n % 11,
            settled_after=10,
            pace=instrument.parsed.paces[0] if instrument.parsed.paces else None,
            notings={"thought": 2} if key == "gentle-awareness" else None,
        )


def test_it_lists_a_persons_practices_newest_first(logged_in, client_user, stranger):
    add_logs(client_user, 3)
    add_logs(stranger, 1, key="gentle-awareness")
    html = logged_in.get("/practices/").content.decode()
    assert html.index("3 Mar 2026") < html.index("2 Mar 2026") < html.index("1 Mar 2026")
    assert "Gentle Awareness Practice</td>" not in html
    assert "Calm (4 in, 6 out)" in html
    assert "stopped early" in html
    assert "0 → 10" in html


def test_it_shows_notings(logged_in, client_user):
    add_logs(client_user, 1, key="gentle-awareness")
    assert "thought 2" in logged_in.get("/practices/").content.decode()


def test_it_invites_a_first_practice_when_there_is_none(logged_in):
    html = logged_in.get("/practices/").content.decode()
    assert "Nothing here yet" in html
    assert 'href="/practices/grounding/"' in html
    assert 'href="/practices/gentle-awareness/"' in html


def test_the_list_takes_the_same_number_of_queries_for_1_or_20_practices(
    logged_in, client_user, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    add_logs(client_user, 1)
    logged_in.get("/practices/")  # a first visit may write to the session; count the next
    with CaptureQueriesContext(connection) as one:
        assert logged_in.get("/practices/").status_code == 200
    add_logs(client_user, 19)
    with django_assert_num_queries(len(one.captured_queries)):
        response = logged_in.get("/practices/")
    assert response.content.decode().count("<tr>") == 20 + 1  # and the heading row


def test_a_person_sees_one_of_their_own_practices(logged_in, client_user):
    add_logs(client_user, 1)
    log = PracticeLog.objects.get()
    response = logged_in.get(f"/practices/{log.pk}/")
    assert response.status_code == 200
    assert "Grounding Before Exploration" in response.content.decode()


def test_another_persons_practice_is_404(logged_in, stranger):
    add_logs(stranger, 1)
    log = PracticeLog.objects.get()
    assert logged_in.get(f"/practices/{log.pk}/").status_code == 404


def test_for_client_keeps_to_one_person(client_user, stranger, guide):
    add_logs(client_user, 2)
    add_logs(stranger, 3)
    assert PracticeLog.objects.for_client(client_user).count() == 2
    assert PracticeLog.objects.for_client(stranger).count() == 3
