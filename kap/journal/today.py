"""What comes next for this person: a short, calm list built from what they have recorded.

No streaks, no counts of missed days, no guilt: each suggestion is an invitation with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from kap.journal.models import ActionStep, KapSession, Response
from kap.journal.records import INSIGHT_WINDOW, open_questions

REPEAT_SCORES = timedelta(days=14)
SCORED = ("phq9", "gad7")
WORKSHEET, INTENTION = "integration-worksheet", "intention-setting"
# The only instruments whose last submission a suggestion depends on.
LAST_KEYS = ["phq9", "gad7", "first-session-preparation", "signs-you-might-benefit"]


@dataclass
class Suggestion:
    title: str
    why: str
    url: str
    action: str


def _url(name: str, *args, session: KapSession | None = None) -> str:
    url = reverse(name, args=args)
    return f"{url}?session={session.pk}" if session else url


def intention_for(user, session: KapSession | None) -> list[tuple[str, str]] | None:
    """The intention set for a session, as (prompt, words) pairs: shown again when it matters."""
    if session is None:
        return None
    r = (
        Response.objects.for_client(user)
        .submitted()
        .of("intention-setting")
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
    for those four sessions only."""
    now = timezone.now()
    mine = KapSession.objects.for_client(user).defer("notes")
    next_session = (
        mine.filter(status=KapSession.Status.PLANNED, starts_at__gte=now - timedelta(hours=12))
        .order_by("starts_at")
        .first()
    )
    completed = list(mine.filter(status=KapSession.Status.COMPLETED).order_by("-starts_at")[:3])
    last_submitted = dict(
        Response.objects.for_client(user)
        .submitted()
        .filter(instrument__key__in=LAST_KEYS)
        .values_list("instrument__key")
        .annotate(last=Max("submitted_at"))
        .order_by()
    )
    ids = [s.pk for s in completed] + ([next_session.pk] if next_session else [])
    flags = (
        set(
            Response.objects.for_client(user)
            .submitted()
            .filter(session_id__in=ids, instrument__key__in=[WORKSHEET, INTENTION])
            .values_list("instrument__key", "session_id")
            .order_by()
        )
        if ids
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
    for s in completed:
        if (WORKSHEET, s.pk) not in flags:
            items.append(
                Suggestion(
                    "Integration worksheet",
                    f"For your session on {timezone.localtime(s.starts_at):%-d %B}. One field at a time is fine.",
                    _url("journal:instrument", "integration-worksheet", session=s),
                    "Open the worksheet",
                )
            )
            break
    if next_session and (INTENTION, next_session.pk) not in flags:
        items.append(
            Suggestion(
                "Set an intention for your next session",
                "Two questions to carry into it: what you want to understand, and what you are open to.",
                _url("journal:instrument", "intention-setting", session=next_session),
                "Set an intention",
            )
        )
    if not completed and "first-session-preparation" not in last_submitted:
        items.append(
            Suggestion(
                "Prepare for your first session",
                "Your goals, the patterns you want to shift, how ready you feel, and any questions.",
                reverse("journal:instrument", args=["first-session-preparation"]),
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
    for key, name in (("phq9", "PHQ-9"), ("gad7", "GAD-7")):
        last = last_submitted.get(key)
        if last is None or now - last >= REPEAT_SCORES:
            items.append(
                Suggestion(
                    f"{name} check-in",
                    "A few minutes about the last two weeks."
                    if last is None
                    else "Two weeks have passed since the last one; repeating it shows change over time.",
                    reverse("journal:instrument", args=[key]),
                    f"Take the {name}",
                )
            )
    # "Any session at all" is only asked when it matters (a new person), and then cheaply.
    if "signs-you-might-benefit" not in last_submitted and not (
        next_session or completed or mine.exclude(status=KapSession.Status.CANCELLED).exists()
    ):
        items.append(
            Suggestion(
                "Signs you might benefit",
                "A short checklist from the guide to start a conversation with a clinician.",
                reverse("journal:instrument", args=["signs-you-might-benefit"]),
                "Look at the signs",
            )
        )
    todays_intention = None
    if next_session and timezone.localdate(next_session.starts_at) == timezone.localdate(now):
        todays_intention = intention_for(user, next_session)
    return {
        "todays_intention": todays_intention,
        "suggestions": items,
        "next_session": next_session,
        "questions": questions,
        "drafts": drafts,
        "latest_completed": latest,
    }
