"""What comes next for this person: a short, calm list built from what they have recorded.

No streaks, no counts of missed days, no guilt: each suggestion is an invitation with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from kap.content.roles import Roles, roles_for
from kap.content.specs import Measure
from kap.journal.models import ActionStep, KapSession, Response
from kap.journal.records import INSIGHT_WINDOW, open_questions

# Which instrument is the intention, the worksheet, the preparation, the screening, and which are
# the measures followed over time, is the packs' to say (kap.content.roles): a role no pack fills
# simply has no suggestion.

_NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass
class Suggestion:
    title: str
    why: str
    url: str
    action: str


def _url(name: str, *args, session: KapSession | None = None) -> str:
    url = reverse(name, args=args)
    return f"{url}?session={session.pk}" if session else url


def again_after(measure: Measure) -> timedelta | None:
    """How long after it was last filled in a measure is suggested again; None: never again."""
    days = measure.again_after_days
    return timedelta(days=days) if days else None


def period(days: int) -> str:
    """A measure's interval in plain words ("two weeks", "10 days"), for the reason it is
    suggested again."""
    weeks, unit = (days // 7, "week") if days % 7 == 0 else (days, "day")
    word = _NUMBERS[weeks - 1] if weeks <= len(_NUMBERS) else str(weeks)
    return f"{word} {unit}{'s' if weeks != 1 else ''}"


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


def context(user) -> dict:
    """Every query is bounded whatever the length of the history: the next planned session, the
    latest three completed (notes deferred, never decrypted here), and worksheet/intention flags
    for those four sessions only; and what the packs say (one query, kap.content.roles)."""
    now = timezone.now()
    roles = roles_for(user)
    worksheet, intention = roles.key("worksheet"), roles.key("intention")
    preparation, screening = roles.key("preparation"), roles.key("screening")
    # The only instruments whose last submission a suggestion depends on.
    last_keys = [*roles.measure_keys, *roles.keys("preparation", "screening")]
    mine = KapSession.objects.for_client(user).defer("notes")
    next_session = (
        mine.filter(status=KapSession.Status.PLANNED, starts_at__gte=now - timedelta(hours=12))
        .order_by("starts_at")
        .first()
    )
    completed = list(mine.filter(status=KapSession.Status.COMPLETED).order_by("-starts_at")[:3])
    last_submitted = (
        dict(
            Response.objects.for_client(user)
            .submitted()
            .filter(instrument__key__in=last_keys)
            .values_list("instrument__key")
            .annotate(last=Max("submitted_at"))
            .order_by()
        )
        if last_keys
        else {}
    )
    ids = [s.pk for s in completed] + ([next_session.pk] if next_session else [])
    flagged = roles.keys("worksheet", "intention")
    flags = (
        set(
            Response.objects.for_client(user)
            .submitted()
            .filter(session_id__in=ids, instrument__key__in=flagged)
            .values_list("instrument__key", "session_id")
            .order_by()
        )
        if ids and flagged
        else set()
    )
    drafts = list(
        Response.objects.for_client(user)
        .drafts()
        .select_related("instrument", "session")
        .defer("session__notes", "answers")[:5]
    )
    open_steps = ActionStep.objects.for_client(user).filter(status=ActionStep.Status.OPEN).count()
    questions = list(open_questions(user)[:10])

    items: list[Suggestion] = []
    latest = completed[0] if completed else None
    if latest and now - latest.starts_at < INSIGHT_WINDOW:
        hours = int((now - latest.starts_at).total_seconds() // 3600)
        items.append(
            Suggestion(
                "Capture insights while they are close",
                f"{hours} hour{'s' if hours != 1 else ''} since your session. Even a few words help.",
                reverse("journal:session", args=[latest.pk]),
                "Write an insight",
            )
        )
    for s in completed if worksheet else []:
        if (worksheet, s.pk) not in flags:
            items.append(
                Suggestion(
                    "Integration worksheet",
                    f"For your session on {timezone.localtime(s.starts_at):%-d %B}. One field at a time is fine.",
                    _url("journal:instrument", worksheet, session=s),
                    "Open the worksheet",
                )
            )
            break
    if intention and next_session and (intention, next_session.pk) not in flags:
        items.append(
            Suggestion(
                "Set an intention for your next session",
                "Two questions to carry into it: what you want to understand, and what you are open to.",
                _url("journal:instrument", intention, session=next_session),
                "Set an intention",
            )
        )
    if preparation and not completed and preparation not in last_submitted:
        items.append(
            Suggestion(
                "Prepare for your first session",
                "Your goals, the patterns you want to shift, how ready you feel, and any questions.",
                reverse("journal:instrument", args=[preparation]),
                "Start preparing",
            )
        )
    if open_steps:
        items.append(
            Suggestion(
                "Check in on your action steps",
                f"You have {open_steps} step{'s' if open_steps != 1 else ''} you are working on. "
                "Done, still working on it, or let it go — all are fine.",
                reverse("journal:steps"),
                "Check in",
            )
        )
    items += _measure_suggestions(roles, last_submitted, now)
    # "Any session at all" is only asked when it matters (a new person), and then cheaply.
    if (
        screening
        and screening not in last_submitted
        and not (
            next_session or completed or mine.exclude(status=KapSession.Status.CANCELLED).exists()
        )
    ):
        items.append(
            Suggestion(
                "Signs you might benefit",
                "A short checklist from the guide to start a conversation with a clinician.",
                reverse("journal:instrument", args=[screening]),
                "Look at the signs",
            )
        )
    todays_intention = None
    if next_session and timezone.localdate(next_session.starts_at) == timezone.localdate(now):
        todays_intention = intention_for(user, next_session, roles=roles)
    return {
        "todays_intention": todays_intention,
        "suggestions": items,
        "next_session": next_session,
        "questions": questions,
        "drafts": drafts,
        "latest_completed": latest,
    }


def _measure_suggestions(roles: Roles, last_submitted: dict, now) -> list[Suggestion]:
    """Each measure never filled in, or filled in longer ago than its pack's again_after_days (a
    measure without one is suggested once only)."""
    out = []
    for m in roles.measures:
        last, wait = last_submitted.get(m.instrument), again_after(m)
        if last is None:
            why = "A few minutes, whenever suits you."
        elif wait is not None and now - last >= wait:
            why = (
                f"{period(m.again_after_days).capitalize()} "
                f"{'has' if m.again_after_days in (1, 7) else 'have'} passed since the last one; "
                "repeating it shows change over time."
            )
        else:
            continue
        out.append(
            Suggestion(
                f"{m.label} check-in",
                why,
                reverse("journal:instrument", args=[m.instrument]),
                f"Take the {m.label}",
            )
        )
    return out
