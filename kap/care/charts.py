"""Charts of what a client shares with a therapist: their scores over time.

Only what the link's scopes share is read: the scores of the instruments the client's packs put
under "scores" (kap.care.sharing), and session dates to mark on them only when "sessions" is
shared too. Each measure is named by its short name (PHQ-9) and anything else by its title in
the client's packs ("Changes You Hope For"), never by a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from kap.accounts.models import CareLink, Scope
from kap.care.sharing import Record, scopes_from, shares
from kap.content.roles import roles_for
from kap.journal.scores import ScoreSeries, score_series
from kap.lib import chart_focus, charts
from kap.progress.trends import banded, bands_of, current_specs, followed_in, session_markers


@dataclass(frozen=True)
class ScoreChart:
    key: str
    name: str  # "PHQ-9", or the instrument's title
    svg: SafeString
    note: str  # the entries the chart leaves out (kap.lib.chart_focus.Focus.note), or ""
    count: int
    far: tuple[charts.Marker, ...] = ()  # sessions too far from the scores to mark


def far_sessions_note(drawn: list[ScoreChart]) -> str:
    """The sessions some chart could not mark (kap.lib.chart_focus.far_markers_note), once."""
    return chart_focus.far_markers_note([m for c in drawn for m in c.far])


@dataclass(frozen=True)
class SharedScores:
    """The series a link shares, with what is needed to name and draw them."""

    series: dict[str, ScoreSeries]
    names: dict[str, str]  # key → short name or title
    tops: dict[str, float]  # key → the top of its scale
    bands: dict[str, list[charts.Band]]
    rules: dict[str, object]  # key → the scoring that names a total's band (see bands_of)
    average: str | None  # the packs' outcomes: its score is an average of 0–10 ratings


def shared_scores(link: CareLink, scopes: set[str]) -> SharedScores | None:
    """The client's scores this link shares, or None when it shares none (nothing is read)."""
    if Scope.SCORES not in scopes:
        return None
    client = link.client
    roles = roles_for(client)
    outcomes = roles.key("outcomes")
    specs = current_specs(client, [*roles.measure_keys, *roles.keys("outcomes")], with_imports=True)
    followed = followed_in(roles, specs)
    keys = scopes_from(roles, followed).get(Scope.SCORES, [])
    names = {f.key: f.label for f in followed}
    tops: dict[str, float] = {}
    bands: dict[str, list[charts.Band]] = {}
    rules: dict[str, object] = {}
    for f in followed:
        top, found, rule = bands_of(f, specs)
        if top is not None:
            tops[f.key] = top
        bands[f.key] = [charts.Band(b.min, b.max, b.label) for b in found]
        rules[f.key] = rule
    for key in keys:
        if key in specs:
            instrument, spec = specs[key]
            names.setdefault(key, instrument.title)
            if spec.scoring and spec.scoring.max is not None:
                tops.setdefault(key, spec.scoring.max)
    return SharedScores(score_series(link.client_id, keys), names, tops, bands, rules, outcomes)


def score_charts(
    link: CareLink, scopes: set[str], shared: SharedScores | None, *, prefix: str
) -> list[ScoreChart]:
    """One chart per shared instrument with scores, with the completed sessions marked when the
    link shares sessions. `prefix` keeps the charts' ids apart from the page's others."""
    if shared is None:
        return []
    markers: list[charts.Marker] = []
    if shares(scopes, Record.SESSIONS):
        markers = [charts.Marker(s.when, s.label) for s in session_markers(link.client_id)]
    out = []
    for key, series in shared.series.items():
        if not series.points:
            continue
        name = shared.names.get(key) or series.title
        top = shared.tops.get(key) or max(p.total for p in series.points) or 1
        rule = shared.rules.get(key)
        points = [banded(p, rule) for p in series.points]
        if key == shared.average:
            title = _("%(name)s: the average rating over time (0 to %(top)s)") % {
                "name": name,
                "top": f"{top:g}",
            }
            label = _("Average (0–10)")
        else:
            title = _("%(name)s totals over time (0 to %(top)s)") % {
                "name": name,
                "top": f"{top:g}",
            }
            label = _("%(name)s total") % {"name": name}
        focused = chart_focus.focus(
            [charts.Series(label, [charts.Point(p.when, p.total, p.band) for p in points])],
            markers,
        )
        svg = charts.responsive_chart(
            focused.series,
            markers=focused.markers,
            title=title,
            y_min=0,
            y_max=top,
            bands=shared.bands.get(key, []),
            y_label=label,
            chart_id=f"{prefix}-{key}",
        )
        out.append(
            ScoreChart(key, name, svg, focused.note, len(points), tuple(focused.markers_left_out))
        )
    return out
