"""Keeping a chart's time axis to the dates that matter: one date typed by mistake (1999 for
2026) must not stretch a chart over decades. `focus` picks the entries and session markers a
chart draws and says in words what it left out (`Focus.note`, `far_markers_note`);
`isolated_before` tells the session numbering (kap.progress.trends) which of the earliest
sessions stand apart the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kap.lib.chart_text import as_datetime, format_date, timestamp
from kap.lib.charts import Marker, Point, Series

__all__ = ["ISOLATED", "Focus", "far_markers_note", "focus", "isolated_before"]

#: An entry or a session this much (or more) away from all the others, at either end of a
#: history, is far enough to be a mistyped date (1999 for 2026): see `focus`.
ISOLATED = timedelta(days=180)


@dataclass(frozen=True)
class Focus:
    """What `focus` keeps for the chart, and what it leaves out (to be said under the chart)."""

    series: list[Series]
    markers: list[Marker]
    entries_left_out: list[Point]
    markers_left_out: list[Marker]

    @property
    def note(self) -> str:
        """One sentence naming the entries not drawn, or "" when every entry is."""
        # Counted by moment, as `focus` weighs them: a practice's before and after are one.
        n = len({timestamp(p.when) for p in self.entries_left_out})
        if not n:
            return ""
        # By year: an entry before the page's cutoff is an average over a month, a quarter or a
        # year (kap.progress.change), dated in its middle; its year is right either way.
        years = sorted({as_datetime(p.when).year for p in self.entries_left_out})
        listed = ", ".join(str(y) for y in years[:3]) + (", …" if len(years) > 3 else "")
        return ngettext(
            "%(count)s entry, from %(years)s, is not drawn: it is far from all the others and "
            "would stretch the chart.",
            "%(count)s entries, from %(years)s, are not drawn: they are far from all the others "
            "and would stretch the chart.",
            n,
        ) % {"count": n, "years": listed}


def far_markers_note(markers: Sequence[Marker]) -> str:
    """One sentence naming the session markers `focus` left out of the charts, or "" for none."""
    if not markers:
        return ""
    ordered = sorted(set(markers), key=lambda m: timestamp(m.when))
    named = []
    for m in ordered[:3]:
        day = format_date(as_datetime(m.when))
        named.append(m.label if day in m.label else f"{m.label} ({day})")
    if len(ordered) > 3:
        more = len(ordered) - 3
        named.append(ngettext("%(count)s more", "%(count)s more", more) % {"count": more})
    listed = (
        named[0]
        if len(named) == 1
        else _("%(items)s and %(last)s") % {"items": ", ".join(named[:-1]), "last": named[-1]}
    )
    return ngettext(
        "%(sessions)s is not marked on the charts: far from the dates of the entries, it would "
        "stretch them.",
        "%(sessions)s are not marked on the charts: far from the dates of the entries, they would "
        "stretch them.",
        len(ordered),
    ) % {"sessions": listed}


def _core(stamps: list[float], *, keep: int) -> tuple[float, float] | None:
    """The first and last of `stamps` (sorted) once isolated ones at either end are set aside:
    one is isolated when the gap to its neighbour is longer than ISOLATED and longer than all
    the others together span. At least `keep` are kept."""
    if not stamps:
        return None
    gap = ISOLATED.total_seconds()
    lo, hi = 0, len(stamps) - 1
    while hi - lo >= keep:
        if stamps[lo + 1] - stamps[lo] > max(gap, stamps[hi] - stamps[lo + 1]):
            lo += 1
        elif stamps[hi] - stamps[hi - 1] > max(gap, stamps[hi - 1] - stamps[lo]):
            hi -= 1
        else:
            break
    return stamps[lo], stamps[hi]


def focus(series: Sequence[Series], markers: Sequence[Marker] = ()) -> Focus:
    """The entries and session markers a chart should draw so that its time axis covers the
    period the data is from, not a date typed by mistake.

    - The axis comes from the entries. An entry alone at either end of the history, more than
      ISOLATED from the next and further from it than the rest span, is left out (at least two
      are always kept): one mistyped year cannot stretch the chart over decades.
    - A session marker widens the axis only when it is within ISOLATED of the entries; one
      further away is left out.
    What is left out is named in `Focus.note`, and stays in the page's tables.
    """
    # Each moment once: the before and after of one practice are one entry in time.
    stamps = sorted({timestamp(p.when) for s in series for p in s.points})
    core = _core(stamps, keep=2)
    if core is None:
        return Focus(list(series), [], [], list(markers))
    first, last = core
    kept_series = [
        Series(s.name, [p for p in s.points if first <= timestamp(p.when) <= last], s.css_class)
        for s in series
    ]
    left_out = [p for s in series for p in s.points if not first <= timestamp(p.when) <= last]
    reach = ISOLATED.total_seconds()
    near = [m for m in markers if first - reach <= timestamp(m.when) <= last + reach]
    far = [m for m in markers if m not in near]
    return Focus(kept_series, near, left_out, far)


def isolated_before(stamps: Sequence[datetime]) -> int:
    """How many of the earliest `stamps` (sorted, oldest first) stand apart from the rest as a
    mistyped date would (see `_core`); one is always kept. For numbering sessions."""
    values = [timestamp(s) for s in stamps]
    core = _core(values, keep=1)
    return 0 if core is None else sum(1 for v in values if v < core[0])
