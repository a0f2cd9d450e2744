"""Dates people enter are kept between 1900 and 2100 (kap.lib.limits); whatever date is stored
(an import, an older version), the calendar feed and the pages that show dates still work."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from kap.journal.models import ActionStep, KapSession
from kap.lib.limits import DATE_RANGE_MESSAGE
from kap.practices.models import PracticeLog

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00", "1899-12-31T23:59", "2101-01-01T00:00", "9999-12-31T23:30"]
)
def test_a_session_outside_1900_to_2100_is_refused_and_not_stored(logged_in, when):
    response = logged_in.post("/sessions/new/", {"starts_at": when, "status": "planned"})
    assert response.status_code == 200
    assert DATE_RANGE_MESSAGE in response.content.decode()
    assert not KapSession.objects.exists()


@pytest.mark.parametrize("when", ["1900-01-01T00:00", "2100-12-31T23:59"])
def test_the_first_and_last_days_of_the_range_are_accepted(logged_in, client_user, when):
    response = logged_in.post("/sessions/new/", {"starts_at": when, "status": "planned"})
    assert response.status_code == 302
    session = KapSession.objects.get(client=client_user)
    edit = logged_in.post(
        f"/sessions/{session.pk}/edit/", {"starts_at": "9999-12-31T23:30", "status": "planned"}
    )
    assert DATE_RANGE_MESSAGE in edit.content.decode()
    session.refresh_from_db()
    assert f"{session.starts_at:%Y-%m-%dT%H:%M}" == when


@pytest.mark.parametrize("since", ["0001-01-01", "1899-12-31"])
def test_a_summary_from_before_1900_is_refused(logged_in, since):
    response = logged_in.get(f"/progress/summary/view/?since={since}&sections=insights")
    assert response.status_code == 400
    assert DATE_RANGE_MESSAGE in response.content.decode()


@pytest.mark.parametrize(
    "started_at", ["0001-01-01T00:00:00+05:00", "1899-12-31T23:59:59Z", "2101-01-01T00:00:00Z"]
)
def test_a_practice_log_outside_the_range_is_refused(logged_in, started_at):
    body = {
        "uuid": str(uuid.uuid4()),
        "instrument": "grounding",
        "started_at": started_at,
        "planned_seconds": 300,
        "elapsed_seconds": 300,
        "completed": True,
    }
    response = logged_in.post("/practices/log/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert "started_at" in response.json()["errors"]
    assert not PracticeLog.objects.exists()


EXTREMES = [
    datetime.min.replace(tzinfo=UTC),
    datetime(1, 1, 1, 12, tzinfo=UTC),
    datetime(2100, 12, 31, 23, 30, tzinfo=UTC),
    datetime(9999, 12, 31, 0, 0, tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
]


@pytest.fixture
def stored_extremes(client_user):
    """Sessions and steps at the ends of what the database holds, as an import could store."""
    for when in EXTREMES:
        for status in ("planned", "completed"):
            KapSession.objects.create(client=client_user, starts_at=when, status=status)
        ActionStep.objects.create(client=client_user, text="a step", created_at=when)
    # and one ordinary session, which the feed must still hold
    return KapSession.objects.create(
        client=client_user, starts_at=timezone.now() + timedelta(days=3), status="planned"
    )


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_the_calendar_feed_survives_any_stored_date(
    client, client_user, stored_extremes, settings, zone
):
    from kap.journal import reminders

    settings.TIME_ZONE = zone
    feed = reminders.reset_feed(client=client_user)
    response = client.get(f"/calendar/{feed.token}.ics")
    assert response.status_code == 200
    ics = response.content.decode()
    assert f"UID:session-{stored_extremes.pk}@" in ics
    assert "DTSTART:9999" not in ics and "DTSTART:0001" not in ics


@pytest.mark.parametrize(
    "url",
    ["/today/", "/sessions/", "/timeline/", "/steps/", "/progress/", "/progress/summary/view/"],
)
def test_pages_with_dates_survive_any_stored_date(logged_in, stored_extremes, url):
    assert logged_in.get(url).status_code == 200
