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
