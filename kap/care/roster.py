"""The therapist's roster: one row per actively linked client, in a fixed number of queries.

Everything a row shows comes from correlated subqueries on the link itself, and each one is
wrapped in "only if this link shares that scope" *in SQL*: a value the client did not share is
NULL before it reaches Python, so it can neither be shown nor used to sort the list (sorting by
PHQ-9 must not reveal the order of scores that were never shared).

Its score columns are the measures of the packs the therapist sees (kap.content.roles: the
server's and their clinic's), in the packs' order; each can be sorted by its instrument key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Coalesce, Lower, NullIf, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts.models import CareLink, Scope
from kap.care.alerts import undelivered_notifications
from kap.care.audit import record_many
from kap.care.models import AlertAcknowledgement, AlertNotification
from kap.content.models import Instrument
from kap.content.specs import Measure
from kap.journal.models import KapSession, Response, SafetyEvent
from kap.journal.records import upcoming as upcoming_sessions
from kap.lib.addresses import request_ip
from kap.lib.sparklines import sparkline

PER_PAGE = 25
# (value, label); the first is the default. Then one per measure (`sorts_for`).
SORTS = [
    ("alerts", gettext_lazy("Open safety alerts")),
    ("name", gettext_lazy("Name")),
    ("next", gettext_lazy("Next session")),
]


def sorts_for(measures: tuple[Measure, ...] | list[Measure]) -> list[tuple[str, str]]:
    """(value, label) of every way the roster can be sorted: SORTS, then by each measure's
    latest score (its instrument key is the value)."""
    fixed = {key for key, _label in SORTS}
    return SORTS + [
        (m.instrument, _("Latest %(measure)s") % {"measure": m.label})
        for m in measures
        if m.instrument not in fixed
    ]


def _column(n: int) -> str:
    """The annotation prefix of the n-th measure's column (keys may hold hyphens)."""
    return f"measure{n}"


def shares(scope: str) -> Q:
    """True in SQL when the link's scopes hold `scope`: on PostgreSQL, JSON containment
    (`scopes @> '["safety"]'`, no text made per row: the roster tests it for every link to sort
    them); on SQLite, where JSON `contains` is not available, the JSON text of a list of fixed
    words holds `"scope"` exactly when it is in it (the alias `scopes_text`, see roster_links)."""
    value = getattr(scope, "value", scope)
    if connection.vendor == "postgresql":
        return Q(scopes__contains=[value])
    return Q(scopes_text__contains=f'"{value}"')


def _only_if(scope: str, value, output_field=None):
    return Case(When(shares(scope), then=value), default=Value(None), output_field=output_field)


class _AnyOf(Lookup):
    """PostgreSQL: `column = ANY(ARRAY(subquery))`. The array is an InitPlan computed once per
    query, so each client's scores are read from the (client, instrument, status, submitted_at)
    index; an `IN (subquery)` is planned as a hash join over all the client's responses."""

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def _of_instrument(key: str) -> Q | Lookup:
    """Responses to any version of the instrument `key`, without joining the instruments."""
    # Any scope: the responses are the roster client's own, and sharing goes by key
    # (kap.care.sharing); a person's import never takes a key they see from a pack.
    versions = Instrument.objects.filter(key=key).values("pk")
    if connection.vendor == "postgresql":
        return _AnyOf(F("instrument_id"), Subquery(versions))
    return Q(instrument_id__in=Subquery(versions))


def _scores(key: str, newest_first: bool):
    order = ["-submitted_at", "-pk"] if newest_first else ["submitted_at", "pk"]
    rows = Response.objects.filter(
        _of_instrument(key),
        client=OuterRef("client_id"),
        status=Response.Status.SUBMITTED,
        score_total__isnull=False,
    )
    return rows.order_by(*order).values("score_total")[:1]


def _score_count(key: str):
    rows = (
        Response.objects.filter(
            _of_instrument(key),
            client=OuterRef("client_id"),
            status=Response.Status.SUBMITTED,
            score_total__isnull=False,
        )
        .order_by()
        .values("client")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def open_events(therapist) -> QuerySet[SafetyEvent]:
    """Safety events this therapist has not acknowledged (each therapist acknowledges for
    themselves: one colleague's acknowledgement never hides an alert from another)."""
    mine = AlertAcknowledgement.objects.filter(event=OuterRef("pk"), therapist=therapist)
    return SafetyEvent.objects.filter(~Exists(mine))


def roster_links(
    therapist,
    sort: str = "alerts",
    now: datetime | None = None,
    measures: tuple[Measure, ...] | list[Measure] = (),
) -> QuerySet:
    """The therapist's active links, one page's worth of work per row whatever their number,
    with a latest/first/count column for each of `measures` (roles_for(therapist).measures)."""
    now = now or timezone.now()
    upcoming = (
        KapSession.objects.filter(upcoming_sessions(now), client=OuterRef("client_id"))
        .order_by("starts_at")
        .values("starts_at")[:1]
    )
    alerts = (
        open_events(therapist)
        .filter(client=OuterRef("client_id"))
        .order_by()
        .values("client")
        .annotate(n=Count("pk"))
        .values("n")
    )
    links = (
        CareLink.objects.active()
        .for_therapist(therapist)
        .filter(client__is_active=True)
        .select_related("client")
        .only(
            "pk",
            "scopes",
            "created_at",
            "ended_at",
            "client__id",
            "client__email",
            "client__display_name",
        )
        .alias(scopes_text=Cast("scopes", TextField()))  # (for `shares` on SQLite)
        .annotate(
            sort_name=Lower(
                Coalesce(
                    NullIf("client__display_name", Value("")),
                    "client__email",
                    output_field=CharField(),
                )
            ),
        )
        .annotate(
            next_session=_only_if(Scope.SESSIONS, Subquery(upcoming)),
            open_alerts=_only_if(
                Scope.SAFETY,
                Coalesce(Subquery(alerts, output_field=IntegerField()), 0),
                IntegerField(),
            ),
            # An open alert whose e-mail did not reach this therapist (given up on, or e-mail
            # is not set up): the row says so.
            **{
                f"email_{status}": _only_if(
                    Scope.SAFETY,
                    Exists(
                        undelivered_notifications(
                            therapist=therapist,
                            status=status,
                            event__client_id=OuterRef("client_id"),
                        )
                    ),
                    BooleanField(),
                )
                for status in (AlertNotification.Status.FAILED, AlertNotification.Status.UNSENT)
            },
            **{
                f"{_column(n)}_{part}": _only_if(Scope.SCORES, expression)
                for n, m in enumerate(measures)
                for part, expression in (
                    ("latest", Subquery(_scores(m.instrument, newest_first=True))),
                    ("first", Subquery(_scores(m.instrument, newest_first=False))),
                    ("count", _score_count(m.instrument)),
                )
            },
        )
    )
    # Open safety alerts first without counting them for every link: the clients with an alert
    # this therapist has not acknowledged are one uncorrelated subquery (hashed once per page);
    # only for those is the count evaluated (CASE evaluates its THEN lazily), and the columns
    # shown are computed for the rows of the page only.
    mine = CareLink.objects.active().for_therapist(therapist).filter(client=OuterRef("client_id"))
    alerted = Q(shares(Scope.SAFETY)) & Q(
        client_id__in=Subquery(open_events(therapist).filter(Exists(mine)).values("client_id"))
    )
    has_alerts = Case(When(alerted, then=Value(1)), default=Value(0))
    alert_count = Case(
        When(alerted, then=Coalesce(Subquery(alerts, output_field=IntegerField()), 0)),
        default=Value(0),
        output_field=IntegerField(),
    )
    orders = {
        "alerts": [F("alert_count").desc()],
        "name": [],
        "next": [F("next_session").asc(nulls_last=True)],
    }
    for n, m in enumerate(measures):
        orders.setdefault(m.instrument, [F(f"{_column(n)}_latest").desc(nulls_last=True)])
    order = orders.get(sort, orders["alerts"])
    # Open safety alerts come first whatever the sort; then the chosen order, then the name.
    return links.alias(has_alerts=has_alerts, alert_count=alert_count).order_by(
        F("has_alerts").desc(), *order, "sort_name", "pk"
    )


@dataclass(frozen=True)
class Score:
    latest: float
    first: float
    count: int
    recent: tuple[float, ...] = ()  # the latest SPARK_POINTS scores, oldest first
    top: float | None = None  # the top of the measure's scale

    @property
    def change(self) -> float | None:
        """Latest minus the first (the baseline); None while there is only one score."""
        return self.latest - self.first if self.count > 1 else None

    def sparkline(self, label: str):
        """A small line of the recent scores (kap.lib.sparklines.sparkline), or "" for one score."""
        if len(self.recent) < 2:
            return ""
        top = self.top if self.top else max(self.recent) or 1
        values = ", ".join(f"{v:g}" for v in self.recent)
        return sparkline(
            self.recent,
            label=_("%(label)s, the last %(n)s scores, oldest first: %(values)s")
            % {"label": label, "n": len(self.recent), "values": values},
            y_min=0,
            y_max=top,
        )


@dataclass(frozen=True)
class Row:
    link: CareLink
    shares_sessions: bool
    shares_scores: bool
    shares_safety: bool
    next_session: datetime | None
    scores: list[Score | None]  # one per measure, in the order of the columns
    open_alerts: int
    # An open alert's e-mail was not delivered / not sent because e-mail is not set up.
    email_not_delivered: bool = False
    email_not_set_up: bool = False
    # One per measure, in the order of the columns: (its short name, the score, its sparkline).
    cells: list[tuple[str, Score | None, str]] = field(default_factory=list)

    @property
    def client(self):
        return self.link.client


# How many of each measure's latest scores a roster row's sparkline draws.
SPARK_POINTS = 8


def recent_scores(
    client_ids: list[int], measures: tuple[Measure, ...] | list[Measure]
) -> dict[tuple[int, str], tuple[list[float], float | None]]:
    """(client, instrument key) → (their latest SPARK_POINTS scores, oldest first; the top of the
    scale), for the clients of one page, in one query however many there are: each client's
    scores are ranked newest first per instrument in SQL and only the first few are read. Pass
    only clients who share their scores."""
    keys = [m.instrument for m in measures]
    if not client_ids or not keys:
        return {}
    newest = [F("submitted_at").desc(), F("pk").desc()]
    rows = (
        Response.objects.filter(
            client_id__in=client_ids,
            instrument__key__in=keys,
            status=Response.Status.SUBMITTED,
            score_total__isnull=False,
        )
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("client_id"), F("instrument__key")], order_by=newest
            ),
        )
        .filter(rank__lte=SPARK_POINTS)
        .order_by("client_id", "instrument__key", "submitted_at", "pk")
        .values_list(
            "client_id", "instrument__key", "score_total", "instrument__spec__scoring__max"
        )
    )
    found: dict[tuple[int, str], tuple[list[float], float | None]] = {}
    for client_id, key, total, top in rows:
        values, was = found.setdefault((client_id, key), ([], None))
        values.append(total)
        if isinstance(top, int | float) and (was is None or top > was):
            found[(client_id, key)] = (values, float(top))
    return found


def _score(link, n: int, recent=None) -> Score | None:
    column = _column(n)
    latest = getattr(link, f"{column}_latest")
    if latest is None:
        return None
    values, top = recent or ((), None)
    return Score(
        latest,
        getattr(link, f"{column}_first"),
        getattr(link, f"{column}_count") or 0,
        tuple(values),
        top,
    )


def rows(links, measures: tuple[Measure, ...] | list[Measure] = ()) -> list[Row]:
    """The page's rows, with a score (or None) for each of the `measures` roster_links used, and
    the recent scores for its sparkline (one query for the page, `recent_scores`)."""
    links = list(links)
    sharing = [link.client_id for link in links if link.shares(Scope.SCORES)]
    recent = recent_scores(sharing, measures)
    out = []
    for link in links:
        scores = [
            _score(link, n, recent.get((link.client_id, m.instrument)))
            for n, m in enumerate(measures)
        ]
        out.append(
            Row(
                link=link,
                shares_sessions=link.shares(Scope.SESSIONS),
                shares_scores=link.shares(Scope.SCORES),
                shares_safety=link.shares(Scope.SAFETY),
                next_session=link.next_session,
                scores=scores,
                open_alerts=link.open_alerts or 0,
                email_not_delivered=bool(link.email_failed),
                email_not_set_up=bool(link.email_unsent),
                cells=[
                    (m.label, score, score.sparkline(m.label) if score else "")
                    for m, score in zip(measures, scores, strict=True)
                ],
            )
        )
    return out


def audit_roster(request, clients: list) -> None:
    """One audit row per client whose row was shown, appended in one INSERT (a page of 25 clients
    costs a fixed number of queries rather than three per client)."""
    if clients:
        record_many(
            actor=request.user,
            subjects=clients,
            action="view",
            what="roster",
            ip=request_ip(request),
        )
