"""A person's scores over time: the one place that says which responses make the series of an
instrument's totals (`scored`), and the series itself (`score_series`).

The summary and the therapist's brief read the whole series, oldest first, with the band each
score was given when it was scored; the Trends page reads the same responses (`scored`) counted
per month in SQL and only its recent points one by one (kap.progress.trends).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kap.journal.models import Response


@dataclass(frozen=True)
class ScorePoint:
    when: datetime
    total: float
    band: str = ""


@dataclass(frozen=True)
class ScoreSeries:
    key: str  # the instrument key the responses are stored under
    title: str = ""  # the instrument's title, as of its latest score ("" when there is none)
    points: list[ScorePoint] = field(default_factory=list)  # oldest first


def scored(client, keys):
    """This person's responses that count as scores of the instruments in `keys`: submitted,
    with a total."""
    return (
        Response.objects.for_client(client)
        .submitted()
        .filter(instrument__key__in=keys, score_total__isnull=False)
    )


def score_series(client, keys) -> dict[str, ScoreSeries]:
    """The series of each instrument in `keys` for this person (`client`, a user or its id), by
    key, in one query; an instrument without a score yet has an empty one."""
    keys = list(dict.fromkeys(keys))
    points: dict[str, list[ScorePoint]] = {key: [] for key in keys}
    titles: dict[str, str] = {}
    rows = (
        scored(client, keys)
        .order_by("submitted_at", "pk")
        .values_list(
            "instrument__key", "submitted_at", "score_total", "score_band", "instrument__title"
        )
    )
    for key, when, total, band, title in rows:
        points[key].append(ScorePoint(when, total, band))
        titles[key] = title
    return {key: ScoreSeries(key, titles.get(key, ""), points[key]) for key in keys}
