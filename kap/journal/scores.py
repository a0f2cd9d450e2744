"""A person's scores over time: the one place the series of an instrument's totals is read.

The Trends page, the summary and the therapist's brief all draw or compare the same series:
each submitted response of an instrument that has a total, oldest first, with the band it was
given when it was scored.
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


def score_series(client, keys) -> dict[str, ScoreSeries]:
    """The series of each instrument in `keys` for this person (`client`, a user or its id), by
    key, in one query; an instrument without a score yet has an empty one."""
    keys = list(dict.fromkeys(keys))
    points: dict[str, list[ScorePoint]] = {key: [] for key in keys}
    titles: dict[str, str] = {}
    rows = (
        Response.objects.for_client(client)
        .submitted()
        .filter(instrument__key__in=keys, score_total__isnull=False)
        .order_by("submitted_at", "pk")
        .values_list(
            "instrument__key", "submitted_at", "score_total", "score_band", "instrument__title"
        )
    )
    for key, when, total, band, title in rows:
        points[key].append(ScorePoint(when, total, band))
        titles[key] = title
    return {key: ScoreSeries(key, titles.get(key, ""), points[key]) for key in keys}
