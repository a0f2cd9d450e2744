"""Reminders: the dates that matter next, as a private calendar feed and as optional e-mails.

Neither ever carries what a person wrote. Calendar apps sync to third parties and e-mail passes
through other servers, so both hold neutral titles, dates and a link back to the app, nothing more:
no notes, insights, steps or answers. The clinician's name appears only if the person opts in.

E-mails go out at most once per reminder: a ReminderSent row is committed before the message is
handed to the SMTP server and is never retried, so a crash in between means one reminder is
missed rather than one is sent twice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from icalendar import Alarm, Calendar, Event

from kap.accounts.senders import sender_for
from kap.journal.due import INSIGHTS, MEASURE, SESSION, STEPS, Due, again_after, due_for
from kap.journal.models import CalendarFeed, KapSession, ReminderPreference, ReminderSent
from kap.journal.today import period
from kap.lib import languages, links, timezones
from kap.lib.limits import in_date_range

log = logging.getLogger(__name__)

# E-mail: a planned session is mentioned the day before; a completed one gets a nudge to capture
# insights once the person has had a little time to rest.
SESSION_NOTICE = timedelta(hours=24)
INSIGHT_NUDGE_AFTER = timedelta(hours=2)
# A step check-in that fell due while e-mails were off is not brought up days later.
STEP_GRACE = timedelta(days=2)
UID_DOMAIN = "kap-companion"


def _link(path: str) -> str:
    """A link back to the app in an e-mail (sent by the worker: no request), on KAP_BASE_URL."""
    return links.absolute(path)


# --- The calendar feed ----------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def reset_feed(*, client) -> CalendarFeed:
    """Create the person's calendar address, or replace it: the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    feed, _ = CalendarFeed.objects.update_or_create(
        client=client,
        defaults={
            "token": token,
            "token_hash": _hash(token),
            "created_at": timezone.now(),
            "last_fetched_at": None,
        },
    )
    return feed


def stop_feed(*, client) -> None:
    CalendarFeed.objects.filter(client=client).delete()


def feed_for_token(token: str) -> CalendarFeed | None:
    return (
        CalendarFeed.objects.filter(token_hash=_hash(token), client__is_active=True)
        .select_related("client")
        .first()
    )


def feed_url(feed: CalendarFeed, request=None) -> str:
    """The calendar's address, on the address `request` came to (kap.lib.links)."""
    return links.absolute(reverse("journal:calendar-feed", args=[feed.token]), request)


def webcal_url(feed: CalendarFeed, request=None) -> str:
    """The same address with the webcal scheme, which calendar apps open as a subscription."""
    return "webcal://" + feed_url(feed, request).split("://", 1)[1]


def mark_fetched(feed: CalendarFeed, now: datetime | None = None) -> None:
    now = now or timezone.now()
    # Calendar apps poll often; one write an hour is enough to say "last read by your calendar".
    if feed.last_fetched_at is None or now - feed.last_fetched_at > timedelta(hours=1):
        CalendarFeed.objects.filter(pk=feed.pk).update(last_fetched_at=now)


def _include_clinician(client) -> bool:
    pref = ReminderPreference.objects.filter(client=client).first()
    return bool(pref and pref.include_clinician)


def _named(session: KapSession, include_clinician: bool) -> str:
    """The clinician's name, when the person chose to show it, else ""."""
    return session.clinician_name if include_clinician else ""


def _session_title(session: KapSession, include_clinician: bool) -> str:
    if name := _named(session, include_clinician):
        return _("Session with %(name)s") % {"name": name}
    return _("Session")


def _fits(start: date | datetime, end: date | datetime) -> bool:
    """Whether an event from `start` to `end` lies in the dates people may enter (see
    kap.lib.limits): whatever is stored (an import, an older version), the feed never fails and
    never holds a date a calendar app cannot read."""
    try:
        if isinstance(start, datetime):
            start, end = timezone.localtime(start), timezone.localtime(end)
    except OverflowError:
        return False
    return in_date_range(start) and in_date_range(end)


def _event(uid, summary, description, url, start, end, now, *, busy=False) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{UID_DOMAIN}")
    event.add("dtstamp", now)
    event.add("summary", summary)
    event.add("description", description)
    event.add("url", url)
    event.add("dtstart", start)
    event.add("dtend", end)
    # Only the session itself blocks time; reminders leave the person's day free.
    event.add("transp", "OPAQUE" if busy else "TRANSPARENT")
    return event


def _session_event(d: Due, client, include_clinician: bool, now: datetime, base: str) -> Event:
    event = _event(
        f"session-{d.session.pk}",
        _session_title(d.session, include_clinician),
        _("Open your journal to look over your intention and preparation."),
        base + d.path,
        d.start,
        d.end,
        now,
        busy=True,
    )
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    name = _named(d.session, include_clinician)
    alarm.add(
        "description",
        _("Session with %(name)s tomorrow") % {"name": name} if name else _("Session tomorrow"),
    )
    alarm.add("trigger", -timedelta(days=1))
    event.add_component(alarm)
    return event


def _insights_event(d: Due, client, include_clinician: bool, now: datetime, base: str) -> Event:
    return _event(
        f"insights-{d.session.pk}",
        _("Capture insights"),
        _(
            "The first 72 hours after a session are a good time to note what stays with you. "
            "Even a few words help."
        ),
        base + d.path,
        d.start,
        d.end,
        now,
    )


def _steps_event(d: Due, client, include_clinician: bool, now: datetime, base: str) -> Event:
    return _event(
        f"steps-{client.pk}-{d.start:%Y%m%d}",
        _("Check in on your action steps"),
        _("Done, still working on it, or letting it go: all are fine."),
        base + d.path,
        d.start,
        d.end,
        now,
    )


def _measure_event(d: Due, client, include_clinician: bool, now: datetime, base: str) -> Event:
    m = d.measure
    return _event(
        f"scores-{m.instrument}-{client.pk}",
        _("A short check-in"),
        _("A few minutes; repeating it every %(period)s shows change over time.")
        % {"period": period(m.again_after_days)}
        if again_after(m)
        else _("A few minutes, whenever suits you."),
        base + d.path,
        d.start,
        d.end,
        now,
    )


# What the calendar shows of what is due, and how.
_CALENDAR = {
    SESSION: _session_event,
    INSIGHTS: _insights_event,
    STEPS: _steps_event,
    MEASURE: _measure_event,
}


def calendar_ics(client, now: datetime | None = None, *, base_url: str | None = None) -> bytes:
    """The person's calendar as iCalendar bytes: CRLF line endings and folded lines. Days are
    the person's own (their time zone), whoever's request fetches the feed, and so are its words
    (their language). Its links are on `base_url` (the address the feed was fetched from), else
    on KAP_BASE_URL."""
    with timezone.override(timezones.of(client)), languages.speaking(client):
        return _calendar_ics(client, now, base_url or links.base_url())


def _calendar_ics(client, now: datetime | None, base: str) -> bytes:
    now = now or timezone.now()
    include_clinician = _include_clinician(client)
    cal = Calendar()
    cal.add("prodid", f"-//{settings.MAIL_NAME}//Reminders//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", settings.MAIL_NAME)
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")

    for d in due_for(client, now):
        if d.kind in _CALENDAR and _fits(d.start, d.end):
            cal.add_component(_CALENDAR[d.kind](d, client, include_clinician, now, base))
    return cal.to_ical()


# --- E-mail reminders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    kind: str  # with `key`, names one reminder: the same reminder is never e-mailed twice
    key: str
    text: str  # one calm sentence for the e-mail; never anything the person wrote
    url: str


def _session_soon(
    session: KapSession, include_clinician: bool, moment: datetime, now: datetime
) -> str:
    """The e-mail's sentence for a session at `moment`: "Your session is tomorrow at 10:00."."""
    local = timezone.localtime(moment)
    days = (local.date() - timezone.localdate(now)).days
    words = {"time": f"{local:%H:%M}", "day": dateformat.format(local, _("l j F"))}
    if name := _named(session, include_clinician):
        words["name"] = name
        if days == 0:
            return _("Your session with %(name)s is today at %(time)s.") % words
        if days == 1:
            return _("Your session with %(name)s is tomorrow at %(time)s.") % words
        return _("Your session with %(name)s is on %(day)s at %(time)s.") % words
    if days == 0:
        return _("Your session is today at %(time)s.") % words
    if days == 1:
        return _("Your session is tomorrow at %(time)s.") % words
    return _("Your session is on %(day)s at %(time)s.") % words


def due_reminders(
    client, now: datetime | None = None, *, include_clinician: bool = False
) -> list[Reminder]:
    """What is due for this person right now, each with a key that says when it was due."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    out: list[Reminder] = []
    due = due_for(client, now)
    for d in due:
        if d.kind == SESSION and d.start - SESSION_NOTICE <= now < d.start:
            text = _session_soon(d.session, include_clinician, d.start, now)
            out.append(Reminder(d.kind, d.key, text, _link(d.path)))
    for d in due:
        # Once the person has had a little time to rest.
        if d.kind == INSIGHTS and d.start + INSIGHT_NUDGE_AFTER <= now < d.end:
            text = _(
                "The first few days after your session are a good time to capture insights. "
                "Even a few words help."
            )
            out.append(Reminder(d.kind, d.key, text, _link(d.path)))
    steps = [d for d in due if d.kind == STEPS and today - STEP_GRACE <= d.start <= today]
    if steps:
        text = _(
            "Your action steps are ready for a check-in. Done, still working on it, or "
            "letting it go: all are fine."
        )
        out.append(Reminder(STEPS, steps[-1].key, text, _link(steps[-1].path)))
    for d in due:
        if d.kind == MEASURE and d.has_begun(now):
            # Never the instrument's name: e-mail passes through other people's servers.
            text = _("A short check-in is there when you are ready: it takes a few minutes.")
            out.append(Reminder(d.kind, d.key, text, _link(d.path)))
    return out


def _claim(client, due: list[Reminder]) -> dict[int, Reminder]:
    """Record each reminder as being sent, before it is sent; return those not recorded before,
    by the id of their row. The unique constraint settles a race between two workers."""
    claimed = {}
    with transaction.atomic():
        for d in due:
            row, created = ReminderSent.objects.get_or_create(
                client=client, kind=d.kind, key=d.key, defaults={"status": "sending"}
            )
            if created:
                claimed[row.pk] = d
    return claimed


def _message(client, due: list[Reminder]) -> mail.EmailMessage:
    # Two check-ins due read as one line (their words are the same), each still recorded; it
    # links to Today, which lists them both.
    by_text: dict[str, Reminder] = {}
    for d in due:
        first = by_text.setdefault(d.text, d)
        if first.url != d.url:
            by_text[d.text] = Reminder(first.kind, first.key, first.text, _link(reverse("home")))
    lines = list(by_text.values())
    context = {
        "due": lines,
        "home_url": _link(reverse("home")),
        "settings_url": _link(reverse("journal:reminders")),
        "crisis_url": _link(reverse("crisis")),
    }
    subject = _("A gentle reminder") if len(lines) == 1 else _("A few gentle reminders")
    body = render_to_string("email/reminders.txt", context)
    # Auto-Submitted keeps out-of-office replies from answering a reminder (RFC 3834).
    return mail.EmailMessage(
        subject,
        body,
        from_email=sender_for(client),
        to=[client.email],
        headers={"Auto-Submitted": "auto-generated"},
    )


def _deliver(message: mail.EmailMessage, connection) -> None:
    connection.send_messages([message])


def send_to(client, due: list[Reminder], connection) -> int:
    """E-mail what is due and not yet sent, in one message. Returns how many reminders it held."""
    claimed = _claim(client, due)
    if not claimed:
        return 0
    rows = ReminderSent.objects.filter(pk__in=claimed)
    try:
        _deliver(_message(client, list(claimed.values())), connection)
    except Exception:
        # The server may have accepted it before failing, so it is not tried again.
        log.exception("Reminder e-mail to user %s failed; it will not be retried", client.pk)
        rows.update(status=ReminderSent.Status.FAILED)
        return 0
    rows.update(status=ReminderSent.Status.SENT, sent_at=timezone.now())
    return len(claimed)


def send_due_reminders(now: datetime | None = None) -> int:
    """E-mail everyone who opted in what is due for them. Returns how many reminders went out."""
    if not settings.SMTP_HOST:
        return 0
    now = now or timezone.now()
    prefs = list(
        ReminderPreference.objects.filter(email_enabled=True, client__is_active=True)
        .select_related("client")
        .order_by("pk")
    )
    if not prefs:
        return 0
    connection = mail.mailers.default
    # If the server cannot be reached, nothing has been recorded yet and the next run tries again.
    connection.open()
    sent = 0
    try:
        for pref in prefs:
            # "Today", "tomorrow at 10:00" and the days things are due: the person's own; and
            # the e-mail's words in their language.
            with timezone.override(timezones.of(pref.client)), languages.speaking(pref.client):
                due = due_reminders(pref.client, now, include_clinician=pref.include_clinician)
                if due:
                    sent += send_to(pref.client, due, connection)
    finally:
        connection.close()
    return sent
