"""A person's scores over time (kap.journal.scores): the one series the Trends page, the summary
and the therapist's brief all read."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kap.journal.models import Response
from kap.journal.scores import ScorePoint, score_series

NOT_AT_ALL, SEVERAL_DAYS = "not-at-all", "several-days"


def gad7(weights: list[int]) -> dict:
    options = [NOT_AT_ALL, SEVERAL_DAYS]
    return {f"q{i}": options[w] for i, w in enumerate(weights, start=1)}


def test_each_series_is_oldest_first_with_its_bands_in_one_query(
    client_user, stranger, submit, draft
):
    later = submit(client_user, "gad7", gad7([1, 1, 1, 1, 1, 1, 0]))
    earlier = submit(client_user, "gad7", gad7([0, 0, 0, 0, 0, 0, 0]))
    Response.objects.filter(pk=earlier.pk).update(submitted_at=timezone.now() - timedelta(days=3))
    submit(stranger, "gad7", gad7([1] * 7))  # someone else's
    draft(client_user, "gad7", gad7([1] * 7))  # not submitted
    earlier.refresh_from_db()
    later.refresh_from_db()

    with CaptureQueriesContext(connection) as ctx:
        found = score_series(client_user, ["gad7", "phq9", "gad7"])

    assert len(ctx) == 1
    assert list(found) == ["gad7", "phq9"]
    assert found["gad7"].points == [
        ScorePoint(earlier.submitted_at, 0, earlier.score_band),
        ScorePoint(later.submitted_at, 6, later.score_band),
    ]
    assert found["gad7"].title == later.instrument.title
    assert (found["phq9"].points, found["phq9"].title) == ([], "")
