"""What is due for one person: the one list of rules behind Today, the e-mail reminders and the
calendar feed.

Each rule says what is due and from when; each of the three shows the part it is for in its own
words (kap.journal.today, kap.journal.reminders). Which instrument is the intention, the
worksheet, the preparation, the screening, and which are followed over time, is the packs' to say
(kap.content.roles): a role no pack fills is simply never due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from kap.content.roles import Roles, roles_for
from kap.content.specs import Measure
from kap.journal.models import ActionStep, KapSession, Response
from kap.journal.records import INSIGHT_WINDOW

# How far back the list looks, so it stays small however long someone uses the app.
HISTORY = timedelta(days=90)
SESSION_LENGTH = timedelta(hours=1)
# An open action step is due a check-in this long after it was set or last checked in on.
STEP_CHECK_IN = timedelta(days=3)
# A planned session stays "next" for a while after its start (it may run late, or be logged late).
NEXT_SESSION_GRACE = timedelta(hours=12)
DAY = timedelta(days=1)

# The kinds, in the order Today lists them.
SESSION, INSIGHTS, WORKSHEET, INTENTION = "session", "insights", "worksheet", "intention"
# (Stored in ReminderSent.kind: the e-mail's record of what it has sent.)
PREPARATION, STEPS, MEASURE, SCREENING = "preparation", "steps", "scores", "screening"


@dataclass(frozen=True)
class Due:
    """One thing due, from `start` (a moment or a day) to `end`. `kind` and `key` together name
    it: the same reminder is never e-mailed twice, and it is the calendar event's UID."""

    kind: str
    key: str
    start: datetime | date
    end: datetime | date
    path: str
    session: KapSession | None = None
    measure: Measure | None = None

    def has_begun(self, now: datetime) -> bool:
        if isinstance(self.start, datetime):
            return self.start <= now
        return self.start <= timezone.localdate(now)

    def is_open(self, now: datetime) -> bool:
        """Begun and not yet over."""
        if isinstance(self.end, datetime):
            return self.has_begun(now) and now < self.end
        return self.has_begun(now) and timezone.localdate(now) < self.end


def _path(name: str, *args, session: KapSession | None = None) -> str:
    url = reverse(name, args=args)
    return f"{url}?session={session.pk}" if session else url


def again_after(measure: Measure) -> timedelta | None:
    """How long after it was last filled in a measure is due again; None: never again."""
    days = measure.again_after_days
    return timedelta(days=days) if days else None


def _plus(start, length):
    """start + length, or None at the very end of the calendar (a date from an import)."""
    try:
        return start + length
    except OverflowError:
        return None


@dataclass
class Facts:
    """What the rules read, in a constant number of queries whatever the length of the history."""

    roles: Roles
    sessions: list[KapSession]  # planned and completed, from `since` on, by start
    latest_completed: list[KapSession]  # the three most recent, at any time
    last_submitted: dict[str, datetime]  # instrument key -> when last submitted
    flags: set[tuple[str, int]]  # (worksheet or intention key, session id) already submitted
    step_days: list[date]
    any_session: bool

    @property
    def next_session(self) -> KapSession | None:
        return next((s for s in self.sessions if s.status == KapSession.Status.PLANNED), None)


def _step_check_in_days(client, since: date) -> list[date]:
    """The days open action steps are due a check-in: STEP_CHECK_IN after the step or its last
    check-in. One date per day, however many steps share it."""
    steps = (
        ActionStep.objects.for_client(client)
        .filter(status=ActionStep.Status.OPEN)
        .annotate(last_check_in=Max("checkins__created_at"))
        .values_list("created_at", "last_check_in")
    )
    days = set()
    for created_at, last_check_in in steps:
        moment = _plus(max(created_at, last_check_in or created_at), STEP_CHECK_IN)
        if moment is not None and (day := timezone.localdate(moment)) >= since:
            days.add(day)
    return sorted(days)


def facts(client, now: datetime, roles: Roles | None = None) -> Facts:
    roles = roles or roles_for(client)
    mine = KapSession.objects.for_client(client).defer("notes")
    sessions = list(
        mine.filter(
            status__in=[KapSession.Status.PLANNED, KapSession.Status.COMPLETED],
            starts_at__gte=now - HISTORY,
        ).order_by("starts_at")
    )
    # Planned sessions long past were never logged: they are not "next".
    sessions = [
        s
        for s in sessions
        if s.status == KapSession.Status.COMPLETED or s.starts_at >= now - NEXT_SESSION_GRACE
    ]
    latest = list(mine.filter(status=KapSession.Status.COMPLETED).order_by("-starts_at")[:3])
    last_keys = [*roles.measure_keys, *roles.keys("preparation", "screening")]
    mine_submitted = Response.objects.for_client(client).submitted()
    last_submitted = (
        dict(
            mine_submitted.filter(instrument__key__in=last_keys)
            .values_list("instrument__key")
            .annotate(last=Max("submitted_at"))
            .order_by()
        )
        if last_keys
        else {}
    )
    flagged = roles.keys("worksheet", "intention")
    nxt = next((s for s in sessions if s.status == KapSession.Status.PLANNED), None)
    ids = [s.pk for s in latest] + ([nxt.pk] if nxt else [])
    flags = (
        set(
            mine_submitted.filter(session_id__in=ids, instrument__key__in=flagged)
            .values_list("instrument__key", "session_id")
            .order_by()
        )
        if ids and flagged
        else set()
    )
    # "Any session at all" only matters for someone new, and is then asked cheaply.
    any_session = bool(
        sessions or latest or mine.exclude(status=KapSession.Status.CANCELLED).exists()
    )
    today = timezone.localdate(now)
    return Facts(
        roles,
        sessions,
        latest,
        last_submitted,
        flags,
        _step_check_in_days(client, since=today - HISTORY),
        any_session,
    )


def due_for(client, now: datetime | None = None, *, known: Facts | None = None) -> list[Due]:
    """Everything due for this person from HISTORY ago on, in Today's order."""
    now = now or timezone.now()
    f = known or facts(client, now)
    roles, today = f.roles, timezone.localdate(now)
    out: list[Due] = []

    for s in f.sessions:
        if s.status == KapSession.Status.PLANNED and (end := _plus(s.starts_at, SESSION_LENGTH)):
            # A session moved to another time is a new reminder.
            key = f"{s.pk}:{s.starts_at:%Y%m%dT%H%M}"
            out.append(Due(SESSION, key, s.starts_at, end, _path("journal:session", s.pk), s))
    for s in f.sessions:
        if s.status == KapSession.Status.COMPLETED and (end := _plus(s.starts_at, INSIGHT_WINDOW)):
            out.append(
                Due(INSIGHTS, str(s.pk), s.starts_at, end, _path("journal:session", s.pk), s)
            )

    worksheet, intention = roles.key("worksheet"), roles.key("intention")
    for s in f.latest_completed if worksheet else []:
        if (worksheet, s.pk) not in f.flags:
            path = _path("journal:instrument", worksheet, session=s)
            out.append(Due(WORKSHEET, str(s.pk), s.starts_at, today + DAY, path, s))
            break
    nxt = f.next_session
    if intention and nxt and (intention, nxt.pk) not in f.flags:
        path = _path("journal:instrument", intention, session=nxt)
        out.append(Due(INTENTION, str(nxt.pk), today, nxt.starts_at, path, nxt))

    preparation, screening = roles.key("preparation"), roles.key("screening")
    if preparation and not f.latest_completed and preparation not in f.last_submitted:
        out.append(
            Due(
                PREPARATION,
                preparation,
                today,
                today + DAY,
                _path("journal:instrument", preparation),
            )
        )
    for day in f.step_days:
        if end := _plus(day, DAY):
            out.append(Due(STEPS, day.isoformat(), day, end, _path("journal:steps")))
    for m in roles.measures:
        last, wait = f.last_submitted.get(m.instrument), again_after(m)
        if last is None:
            start, since = today, "first"
        elif wait is not None:
            start, since = (
                _plus(timezone.localdate(last), wait),
                timezone.localdate(last).isoformat(),
            )
        else:
            continue  # filled in once, and not asked for again
        if start is not None and (end := _plus(start, DAY)):
            path = _path("journal:instrument", m.instrument)
            out.append(Due(MEASURE, f"{m.instrument}:{since}", start, end, path, measure=m))
    if screening and screening not in f.last_submitted and not f.any_session:
        out.append(
            Due(SCREENING, screening, today, today + DAY, _path("journal:instrument", screening))
        )
    return out
