"""What comes next for this person: a short, calm list built from what they have recorded.

No streaks, no counts of missed days, no guilt: each suggestion is an invitation with a reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.utils import dateformat, timezone
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _

from kap.content.roles import Roles, roles_for
from kap.journal.due import (
    INSIGHTS,
    INTENTION,
    MEASURE,
    PREPARATION,
    SCREENING,
    SESSION,
    STEPS,
    WORKSHEET,
    Due,
    Facts,
    due_for,
    facts,
)
from kap.journal.models import ActionStep, KapSession, Response
from kap.journal.records import open_questions

# What is due, and from when, is kap.journal.due's to say (the same rules e-mail reminders and the
# calendar feed follow); this module says it in Today's words.

# Whole phrases, not a number word and a unit: in other languages the word agrees with the unit.
_WEEKS = (
    gettext_lazy("one week"),
    gettext_lazy("two weeks"),
    gettext_lazy("three weeks"),
    gettext_lazy("four weeks"),
    gettext_lazy("five weeks"),
    gettext_lazy("six weeks"),
    gettext_lazy("seven weeks"),
    gettext_lazy("eight weeks"),
    gettext_lazy("nine weeks"),
    gettext_lazy("ten weeks"),
)
_DAYS = (
    gettext_lazy("one day"),
    gettext_lazy("two days"),
    gettext_lazy("three days"),
    gettext_lazy("four days"),
    gettext_lazy("five days"),
    gettext_lazy("six days"),
    gettext_lazy("seven days"),
    gettext_lazy("eight days"),
    gettext_lazy("nine days"),
    gettext_lazy("ten days"),
)


@dataclass
class Suggestion:
    title: str
    why: str
    url: str
    action: str


def period(days: int) -> str:
    """A measure's interval in plain words ("two weeks", "10 days"), for the reason it is
    suggested again."""
    if days % 7 == 0:
        weeks = days // 7
        if weeks <= len(_WEEKS):
            return str(_WEEKS[weeks - 1])
        return ngettext("%(n)s week", "%(n)s weeks", weeks) % {"n": weeks}
    if days <= len(_DAYS):
        return str(_DAYS[days - 1])
    return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}


def _units(days: int) -> int:
    """How many weeks or days period(days) counts (what its verb agrees with)."""
    return days // 7 if days % 7 == 0 else days


def intention_for(
    user, session: KapSession | None, *, filling: str | None = None, roles: Roles | None = None
) -> list[tuple[str, str]] | None:
    """The intention set for a session, as (prompt, words) pairs: shown again when it matters.
    Not above the intention itself (`filling`: the key of the instrument being filled in), and
    not at all when no pack names an intention."""
    if session is None:
        return None
    key = (roles or roles_for(user)).key("intention")
    if key is None or key == filling:
        return None
    r = (
        Response.objects.for_client(user)
        .submitted()
        .of(key)
        .filter(session=session)
        .select_related("instrument")
        .order_by("-submitted_at")
        .first()
    )
    if r is None:
        return None
    items = r.instrument.parsed.items_by_key
    return [(items[k].text, v) for k, v in r.answers.items() if k in items and v]


@dataclass
class Kept:
    """What Today keeps between requests for one person: no word they wrote (no question, no
    intention, no note: those are read and decrypted afresh), only ids, dates, keys and counts,
    so that any cache backend may hold it. `facts.roles` is left out (None) while kept: the
    packs' roles are read on every request, and the key carries their fingerprint."""

    facts: Facts
    open_steps: int  # how many action steps are open (0 when none can be due)
    any_question: bool  # whether any question to bring is open


_FINGERPRINTS: dict[int, tuple[Roles, str]] = {}


def _fingerprint(roles: Roles) -> str:
    """The same for the same roles on every server (roles_for hands out one object per set of
    pack versions: it is hashed once)."""
    found = _FINGERPRINTS.get(id(roles))
    if found is None or found[0] is not roles:
        digest = hashlib.blake2b(repr(roles).encode(), digest_size=12).hexdigest()
        found = _FINGERPRINTS[id(roles)] = (roles, digest)
    return found[1]


def cache_key(
    user, now: datetime, roles: Roles, row: tuple[int, datetime] | None = None
) -> str | None:
    """Today's cache key for this person now, or None when Today is not cached
    (settings.TODAY_CACHE_SECONDS is 0). One query: the person's change stamp, read from the
    database before anything it stands for (kap.journal.stamps), so an entry is never older than
    what it is served for, on whichever app server wrote it. Also in the key: when they joined (an
    id used again is another person), the roles their packs give them (a pack loaded again, a
    clinic linked), their time zone (what "today" is), and a bucket of TODAY_CACHE_SECONDS
    (what moves with time alone is bounded by it). `row`: (journal_stamp, date_joined) when
    they were read from the database already in this request (a request's user is), to save
    the query."""
    seconds = settings.TODAY_CACHE_SECONDS
    if seconds <= 0 or not user.pk:
        return None
    if row is None:
        row = (
            get_user_model()
            .objects.filter(pk=user.pk)
            .values_list("journal_stamp", "date_joined")
            .first()
        )
    if row is None:
        return None
    stamp, joined = row
    zone = timezone.get_current_timezone_name()
    bucket = int(now.timestamp()) // seconds
    return f"kap.today:{user.pk}:{joined.timestamp()}:{stamp}:{_fingerprint(roles)}:{zone}:{bucket}"


def kept_for(user, now: datetime, roles: Roles) -> tuple[Kept, list | None]:
    """What the rules read for this person, from the cache when it holds it for this key; and,
    when it did not, the open questions to bring (read to know whether there are any)."""
    key = cache_key(user, now, roles)
    found = cache.get(key) if key else None
    if found is not None:
        return replace(found, facts=replace(found.facts, roles=roles)), None
    known = facts(user, now, roles=roles)
    open_steps = (
        ActionStep.objects.for_client(user).filter(status=ActionStep.Status.OPEN).count()
        if known.step_days
        else 0  # no open step has a check-in day: none can be due
    )
    questions = list(open_questions(user)[:10])
    kept = Kept(known, open_steps, bool(questions))
    if key:
        cache.set(
            key, replace(kept, facts=replace(known, roles=None)), settings.TODAY_CACHE_SECONDS
        )
    return kept, questions


def context(user, *, now: datetime | None = None, roles: Roles | None = None) -> dict:
    """Every query is bounded whatever the length of the history (kap.journal.due reads what the
    rules need; notes are deferred, never decrypted here), and what the packs say (one query).

    What the rules read is kept between requests (`kept_for`); what is due is worked out from it
    at each request, to the minute, as are the words (the hours since a session). Drafts, the
    questions to bring and the day's intention are read afresh: they hold the person's words,
    which no shared cache holds, and a draft's autosave does not touch the change stamp."""
    now = now or timezone.now()
    roles = roles or roles_for(user)
    kept, questions = kept_for(user, now, roles)
    if questions is None:
        questions = list(open_questions(user)[:10]) if kept.any_question else []
    known = kept.facts
    due = due_for(user, now, known=known)
    drafts = list(
        Response.objects.for_client(user)
        .drafts()
        .select_related("instrument", "session")
        .defer("session__notes", "answers")[:5]
    )
    # The most recent session still in its insight window; then what has begun, one step
    # check-in however many steps are due.
    insights = [d for d in due if d.kind == INSIGHTS and d.is_open(now)][-1:]
    begun = [d for d in due if d.kind not in (SESSION, INSIGHTS) and d.has_begun(now)]
    steps = [d for d in begun if d.kind == STEPS][:1]
    shown = insights + [d for d in begun if d.kind != STEPS or d in steps]
    next_session = known.next_session
    todays_intention = None
    if next_session and timezone.localdate(next_session.starts_at) == timezone.localdate(now):
        todays_intention = intention_for(user, next_session, roles=roles)
    return {
        "now": now,  # the day's date at the top of the page, in the person's language
        "todays_intention": todays_intention,
        "suggestions": [_suggestion(d, now, kept.open_steps) for d in shown],
        "next_session": next_session,
        "questions": questions,
        "drafts": drafts,
        "latest_completed": known.latest_completed[0] if known.latest_completed else None,
    }


# Today's page as rendered, kept in this process's memory for the minute at most
# (kap.journal.views.today). Never in CACHES, which a deployment may point at a shared server:
# the page holds the person's words (the questions to bring, the day's intention), and those stay
# in the process that decrypted them. Bounded: the least recently used go first.
PAGE_SECONDS = 60
PAGES = LocMemCache("kap.today.pages", {"TIMEOUT": PAGE_SECONDS, "OPTIONS": {"MAX_ENTRIES": 2000}})


def page_key(request, now: datetime, roles: Roles) -> str | None:
    """The key of this request's Today page, or None when it is not kept. Everything the page is
    made from is in it: what Today keeps (`cache_key`: the change stamp, which a draft started or
    deleted raises too; the roles; the time zone), the minute (the hours since a session, a
    draft's time to the minute, the date), the language, the address (the forms come back to it),
    the name it greets and the role its navigation is for, and the CSRF secret its forms' tokens
    are made from (a page made for another secret would be refused when posted; none yet: not
    kept)."""
    user = request.user
    secret = request.META.get("CSRF_COOKIE")
    if not secret:
        return None
    base = cache_key(user, now, roles, row=(user.journal_stamp, user.date_joined))
    if base is None:
        return None
    parts = (
        base,
        int(now.timestamp()) // PAGE_SECONDS,
        get_language(),
        request.get_full_path(),
        user.display_name,
        user.role,
        secret,
    )
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=20).hexdigest()
    return f"{user.pk}:{digest}"


def _suggestion(d: Due, now, open_steps: int) -> Suggestion:
    """Today's words for one thing due."""
    if d.kind == INSIGHTS:
        hours = int((now - d.start).total_seconds() // 3600)
        why = ngettext(
            "%(hours)s hour since your session. Even a few words help.",
            "%(hours)s hours since your session. Even a few words help.",
            hours,
        ) % {"hours": hours}
        return Suggestion(
            _("Capture insights while they are close"), why, d.path, _("Write an insight")
        )
    if d.kind == WORKSHEET:
        day = dateformat.format(timezone.localtime(d.session.starts_at), _("j F"))
        why = _("For your session on %(date)s. One field at a time is fine.") % {"date": day}
        return Suggestion(_("Integration worksheet"), why, d.path, _("Open the worksheet"))
    if d.kind == INTENTION:
        why = _(
            "Two questions to carry into it: what you want to understand, and what you are open to."
        )
        return Suggestion(
            _("Set an intention for your next session"), why, d.path, _("Set an intention")
        )
    if d.kind == PREPARATION:
        why = _(
            "Your goals, the patterns you want to shift, how ready you feel, and any questions."
        )
        return Suggestion(_("Prepare for your first session"), why, d.path, _("Start preparing"))
    if d.kind == STEPS:
        n = open_steps
        why = ngettext(
            "You have %(n)s step you are working on. "
            "Done, still working on it, or let it go — all are fine.",
            "You have %(n)s steps you are working on. "
            "Done, still working on it, or let it go — all are fine.",
            n,
        ) % {"n": n}
        return Suggestion(_("Check in on your action steps"), why, d.path, _("Check in"))
    if d.kind == MEASURE:
        m = d.measure
        if d.key.endswith(":first"):
            why = _("A few minutes, whenever suits you.")
        else:
            why = ngettext(
                "%(period)s has passed since the last one; repeating it shows change over time.",
                "%(period)s have passed since the last one; repeating it shows change over time.",
                _units(m.again_after_days),
            ) % {"period": period(m.again_after_days).capitalize()}
        return Suggestion(
            _("%(label)s check-in") % {"label": m.label},
            why,
            d.path,
            _("Take the %(label)s") % {"label": m.label},
        )
    if d.kind == SCREENING:
        why = _("A short checklist from the guide to start a conversation with a clinician.")
        return Suggestion(_("Signs you might benefit"), why, d.path, _("Look at the signs"))
    raise ValueError(f"Today has no words for {d.kind!r}")
