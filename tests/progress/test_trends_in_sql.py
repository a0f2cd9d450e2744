"""Older scores on the Trends page are averaged in SQL (per local month, then rolled up into
quarters or years): the figures must be exactly those that averaging each score in Python
(kap.progress.change.condense) gives, in any time zone."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from kap.journal.models import Response
from kap.journal.scores import score_series
from kap.progress.change import condense, cutoff_for
from kap.progress.trends import trends


def _dated(phq9, client, whens: list[datetime], totals: list[int]):
    for when, total in zip(whens, totals, strict=True):
        response = phq9(client, total)
        Response.objects.filter(pk=response.pk).update(submitted_at=when, created_at=when)


def _compare(client):
    """The SQL path and condense over every score, for PHQ-9 (scores) and GAD-7 (none)."""
    data = trends(client)
    series = score_series(client, ["phq9", "gad7"])
    cutoff = cutoff_for(series["phq9"].points[-1].when if series["phq9"].points else None)
    assert data.cutoff == cutoff
    for key in ("phq9", "gad7"):
        everything = series[key].points
        periods, recent = condense(everything, cutoff, [lambda p: p.total])
        trend = data.scores[key]
        assert trend.periods == periods
        assert trend.points == recent
        assert trend.count == len(everything)
        assert trend.first == (everything[0] if everything else None)
        assert trend.last == (everything[-1] if everything else None)
    return data


# Ten years (years), four years (quarters), a year and a half (months).
@pytest.mark.parametrize("days", [3650, 1400, 500])
@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_sql_periods_are_those_condense_makes(client_user, phq9, days, zone):
    start = datetime(2016, 1, 1, 12, tzinfo=UTC)
    step = days / 40
    whens = [start + timedelta(days=step * i, hours=7 * i) for i in range(40)]
    # Late on the last day of a month in UTC: the next month already in Auckland.
    whens[5] = datetime(2016, 3, 31, 20, 0, tzinfo=UTC)
    whens[6] = datetime(2016, 3, 31, 20, 0, tzinfo=UTC)  # the same moment: order by pk
    whens.sort()
    _dated(phq9, client_user, whens, [(i * 7) % 25 for i in range(40)])

    with timezone.override(zone):
        data = _compare(client_user)
    assert data.scores["phq9"].periods, "older scores are averaged"
    assert data.scores["phq9"].points, "recent scores are listed one by one"
    assert data.scores["gad7"].count == 0 and not data.scores["gad7"].periods


def test_a_score_just_after_a_utc_month_ends_counts_in_the_local_month(client_user, phq9):
    late_march = datetime(2016, 3, 31, 20, 0, tzinfo=UTC)  # 1 April, 9:00 in Auckland
    whens = [datetime(2016, 3, 10, tzinfo=UTC), late_march, datetime(2016, 8, 20, tzinfo=UTC)]
    _dated(phq9, client_user, whens, [10, 20, 5])

    with timezone.override("Pacific/Auckland"):
        data = _compare(client_user)
    assert [(p.start.month, p.count, p.mean) for p in data.scores["phq9"].periods] == [
        (3, 1, 10),
        (4, 1, 20),
    ]
    with timezone.override("UTC"):
        data = _compare(client_user)
    assert [(p.start.month, p.count, p.mean) for p in data.scores["phq9"].periods] == [(3, 2, 15)]


def test_a_measure_that_stopped_before_the_cutoff_keeps_its_first_and_last(client_user, phq9, gad7):
    phq9(client_user, 20, days=900)
    phq9(client_user, 12, days=800)
    phq9(client_user, 8, days=700)
    gad7(client_user, 5, days=1)

    data = trends(client_user)

    trend = data.scores["phq9"]
    assert trend.points == []
    assert [(p.count, p.mean) for p in trend.periods] == [(1, 20), (1, 12), (1, 8)]
    assert (trend.first.total, trend.last.total, trend.count) == (20, 8, 3)
    assert trend.change and trend.change.percent_lower == 60


def test_nothing_recorded_yet(client_user):
    data = trends(client_user)
    assert data.cutoff is None
    assert data.is_empty
    assert all(not t.periods and not t.points and t.count == 0 for t in data.scores.values())
