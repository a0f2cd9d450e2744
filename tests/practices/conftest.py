import uuid
from datetime import UTC, datetime

import pytest


@pytest.fixture
def payload():
    """A valid log of a finished grounding practice, as the page's JavaScript sends it."""

    def make(**overrides):
        data = {
            "uuid": str(uuid.uuid4()),
            "instrument": "grounding",
            "version": 1,
            "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "planned_seconds": 300,
            "elapsed_seconds": 300,
            "completed": True,
            "settled_before": 3,
            "settled_after": 7,
            "pace": {"key": "calm", "inhale": 4, "hold_in": 0, "exhale": 6, "hold_out": 0},
            "notings": {},
        }
        data.update(overrides)
        return data

    return make


@pytest.fixture
def post_log(logged_in):
    def post(data):
        return logged_in.post("/practices/log/", data, content_type="application/json")

    return post


def log_practice(client, *, minutes_ago: float = 30, **fields):
    """A practice log of the built-in grounding practice (needs the `guide` fixture)."""
    from datetime import timedelta

    from django.utils import timezone

    from kap.content.models import Instrument
    from kap.practices.models import PracticeLog

    values = {
        "uuid": uuid.uuid4(),
        "client": client,
        "instrument": Instrument.objects.current().get(key="grounding"),
        "started_at": timezone.now() - timedelta(minutes=minutes_ago),
        "planned_seconds": 300,
        "elapsed_seconds": 300,
        "completed": True,
        "settled_before": 3,
        "settled_after": 7,
    }
    return PracticeLog.objects.create(**(values | fields))
