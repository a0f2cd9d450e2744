"""Words about change between scores, and older entries condensed into averages: what the
Trends page and the summary say of a series, chosen here so that they are tested in one place.
They describe, never diagnose.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kap.content.specs import Measure
from kap.lib.chart_text import decimal_separator

# Trends draw and list about the last three months entry by entry, and what came before as
# averages over periods (months, quarters or years: at most OLDER_PERIODS of them), so that the
# page stays about the same size whether a person has recorded for a year or for ten.
RECENT = timedelta(days=62)
OLDER_PERIODS = 24


def number(value: float) -> str:
    """7, 6.5 — never 7.0 or 6.4999 (and 6,5 in Spanish). To one decimal place, a half rounded
    up as on paper: an average of 3.25 is 3.3, and 14.96 is 15."""
    rounded = Decimal(repr(value)).quantize(TENTH, ROUND_HALF_UP)
    text = f"{rounded:f}".removesuffix(".0")
    if text == "-0":
        return "0"
    return text.replace(".", decimal_separator()) if "." in text else text


TENTH = Decimal("0.1")


def and_join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return _("%(items)s and %(last)s") % {"items": ", ".join(parts[:-1]), "last": parts[-1]}


# --- Change from the first score --------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """The latest score next to the first one, in plain words."""

    name: str  # "PHQ-9"
    first: float
    latest: float
    remission_below: float | None = None
    # A fall to this fraction of the first score or less is a "response" (None: not named).
    response_fraction: float | None = None

    @property
    def percent_lower(self) -> int | None:
        if self.first <= 0 or self.latest >= self.first:
            return None
        return round((self.first - self.latest) / self.first * 100)

    @property
    def is_response(self) -> bool:
        fraction = self.response_fraction
        return fraction is not None and self.first > 0 and self.latest <= self.first * fraction

    @property
    def drop_words(self) -> str:
        """The drop that counts as a response, in words: "a drop of half or more"."""
        fraction = self.response_fraction or 0
        if fraction == 0.5:
            return _("a drop of half or more")
        return _("a drop of %(percent)s%% or more") % {"percent": round((1 - fraction) * 100)}

    @property
    def is_remission(self) -> bool:
        # Only a fall from at or above the line counts: a score that was always low is not one.
        below = self.remission_below
        return below is not None and self.first >= below and self.latest < below

    def sentences(self) -> list[str]:
        values = {
            "name": self.name,
            "latest": number(self.latest),
            "first": number(self.first),
            "percent": self.percent_lower,
        }
        if self.percent_lower is not None:
            words = [
                _(
                    "Your latest %(name)s (%(latest)s) is %(percent)s%% lower than your first "
                    "(%(first)s)."
                )
                % values
            ]
        elif self.latest == self.first:
            words = [_("Your latest %(name)s (%(latest)s) is the same as your first.") % values]
        else:
            words = [
                _(
                    "Your latest %(name)s (%(latest)s) is higher than your first (%(first)s). "
                    "Scores go up and down; this may be worth talking through with your clinician."
                )
                % values
            ]
        if self.is_response:
            words.append(_("Researchers call %(drop)s a ‘response’.") % {"drop": self.drop_words})
        if self.is_remission:
            words.append(
                _("It is also below %(line)s, which researchers call ‘remission’.")
                % {"line": number(self.remission_below or 0)}
            )
        if self.is_response or self.is_remission:
            words.append(
                _(
                    "These are words from research, not a diagnosis; your clinician can help you "
                    "make sense of them."
                )
            )
        return words


def change_between(
    name: str, measure: Measure | None, first: float, latest: float, count: int
) -> Change | None:
    """Words about change need two scores at least; one score is a starting point, not a trend.
    The research words (response, remission) are the measure's own, as its pack publishes them."""
    if count < 2:
        return None
    return Change(
        name,
        first,
        latest,
        remission_below=measure.remission_below if measure else None,
        response_fraction=measure.response_fraction if measure else None,
    )


# --- Older entries as averages ---------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Entries of one month, quarter or year, as averages (None where nothing was rated)."""

    start: date
    months: int  # 1, 3 or 12
    count: int
    means: list[float | None]

    @property
    def when(self) -> datetime:
        """The middle of the period, to place it on a time axis."""
        first = datetime.combine(self.start, datetime.min.time(), timezone.get_current_timezone())
        return first + timedelta(days=15 * self.months)

    @cached_property  # a chart's point and a table's row
    def label(self) -> str:
        if self.months == 12:
            return f"{self.start:%Y}"
        if self.months == 3:
            end = date(self.start.year, self.start.month + 2, 1)
            month_year = _("F Y")
            return f"{date_format(self.start, 'F')}–{date_format(end, month_year)}"
        return date_format(self.start, _("F Y"))

    @property
    def mean(self) -> float | None:
        return self.means[0] if self.means else None


def cutoff_for(latest: datetime | None) -> datetime | None:
    """Entries before this (the first of a month, two to three months before the latest entry)
    are shown as averages; None when there is nothing yet."""
    if latest is None:
        return None
    start = timezone.localtime(latest - RECENT).date().replace(day=1)
    return datetime.combine(start, datetime.min.time(), timezone.get_current_timezone())


def period_months(first: date, cutoff: datetime) -> int:
    """How long the periods before `cutoff` are when the oldest entry was on `first` (a local
    date): months, or quarters or years when months would be more than OLDER_PERIODS."""
    end = timezone.localtime(cutoff).date()
    span = (end.year - first.year) * 12 + end.month - first.month + 1
    return next((m for m in (1, 3, 12) if span <= OLDER_PERIODS * m), 12)


def period_start(day: date, months: int) -> date:
    """The first day of the period of `months` (1, 3 or 12) that `day` falls in."""
    return date(day.year, (day.month - 1) // months * months + 1, 1)


@dataclass(frozen=True)
class Periods:
    """How the entries from `first` to the cutoff are grouped (see `periods_before`)."""

    months: int  # 1, 3 or 12
    starts: list[date]  # each period's first day (local), oldest first
    bounds: list[datetime]  # where the second, third… period begin: local midnights


def periods_before(first: datetime, cutoff: datetime) -> Periods:
    """The periods that entries from `first` (the oldest) up to `cutoff` fall in. An entry
    belongs to the last period whose start it is not before: compare it with `bounds`, a handful
    of moments, rather than converting every entry to local time."""
    day = timezone.localtime(first).date()
    months = period_months(day, cutoff)
    end = timezone.localtime(cutoff).date()
    starts = [period_start(day, months)]
    while (following := _months_after(starts[-1], months)) < end:
        starts.append(following)
    zone = timezone.get_current_timezone()
    return Periods(
        months, starts, [datetime.combine(d, datetime.min.time(), zone) for d in starts[1:]]
    )


def condense(
    rows: Sequence,
    cutoff: datetime | None,
    values: Sequence[Callable[[object], float | None]],
    when: Callable[[object], datetime] = lambda r: r.when,
) -> tuple[list[Period], list]:
    """(periods, recent): `rows` (oldest first) before `cutoff` averaged per month — or per
    quarter or year when months would be more than OLDER_PERIODS — and the rest as they are.

    Each row is placed by comparing its time with the periods' local starts (a handful of
    boundaries), not by converting every row to local time."""
    if cutoff is None:
        return [], list(rows)
    split = bisect_left(rows, cutoff, key=when)
    older, recent = rows[:split], list(rows[split:])
    if not older:
        return [], recent
    grouping = periods_before(when(older[0]), cutoff)
    groups: dict[date, list] = {}
    for row in older:
        start = grouping.starts[bisect_right(grouping.bounds, when(row))]
        groups.setdefault(start, []).append(row)
    periods = []
    for start, members in groups.items():
        means: list[float | None] = []
        for value in values:
            found = [v for v in map(value, members) if v is not None]
            means.append(sum(found) / len(found) if found else None)
        periods.append(Period(start, grouping.months, len(members), means))
    return periods, recent


def _months_after(day: date, months: int) -> date:
    """The first day of the period of `months` that follows the one starting on `day`."""
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)
