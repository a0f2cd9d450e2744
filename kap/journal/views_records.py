"""The client's own records: KAP sessions, insights, action steps, questions, support, timeline.

Every object is looked up through one private helper per kind that filters by the person logged
in, so another person's record is a 404, never a 403 that would confirm it exists.

The small action URLs (tick a question, remove an item) change things only on POST. A GET on them
(e.g. the `next` of a login after a session expired) looks the object up the same way and then
leads to the page it belongs to, instead of a bare 405; so there is no `@require_POST` here. A
step's check-in URL shows its form on a GET: a page of its own.
"""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Count, Exists, OuterRef, Prefetch, Value
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import linebreaksbr
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.content.models import Instrument
from kap.content.roles import roles_for
from kap.journal import records
from kap.journal import timeline as timeline_
from kap.journal.forms import (
    InsightForm,
    QuestionForm,
    SessionForm,
    StepCheckInForm,
    StepForm,
    SupportForm,
    TimelineFilter,
    error_summary,
)
from kap.journal.models import (
    ActionStep,
    CheckIn,
    Insight,
    KapSession,
    QuestionToBring,
    Response,
    SupportItem,
)
from kap.journal.services import new_submission_token
from kap.lib.chart_text import format_date

PER_PAGE = 50
SESSIONS_PER_PAGE = 20


# --- Access: one helper per kind, each limited to the person logged in --------------------------


def _get_session_for_user(request: HttpRequest, pk: int) -> KapSession:
    return get_object_or_404(KapSession.objects.for_client(request.user), pk=pk)


def _get_insight_for_user(request: HttpRequest, pk: int) -> Insight:
    return get_object_or_404(Insight.objects.for_client(request.user), pk=pk)


def _get_step_for_user(request: HttpRequest, pk: int) -> ActionStep:
    return get_object_or_404(ActionStep.objects.for_client(request.user), pk=pk)


def _get_question_for_user(request: HttpRequest, pk: int) -> QuestionToBring:
    return get_object_or_404(QuestionToBring.objects.for_client(request.user), pk=pk)


def _get_support_item_for_user(request: HttpRequest, pk: int) -> SupportItem:
    return get_object_or_404(SupportItem.objects.for_client(request.user), pk=pk)


def _next_or(request: HttpRequest, fallback: str) -> str:
    """Where to go back to after a small action, if it is a page of this site. Only a path: a
    bare word would be taken by redirect() for the name of a view (and fail)."""
    url = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if url.startswith("/") and ok else fallback


# --- KAP sessions -------------------------------------------------------------------------------


def session_list(request: HttpRequest) -> HttpResponse:
    """Sessions coming up, soonest first, then the others, newest first, SESSIONS_PER_PAGE at a
    time: years of monthly sessions are pages, not one list ten thousand pixels long. Their
    notes are not shown, so not read (nor decrypted)."""
    key = roles_for(request.user).key("intention")
    has_intention = (
        Exists(Response.objects.submitted().of(key).filter(session=OuterRef("pk")))
        if key
        else Value(False, output_field=BooleanField())
    )
    sessions = (
        KapSession.objects.for_client(request.user)
        .annotate(has_intention=has_intention)
        .defer("notes")
    )
    coming = records.upcoming()
    earlier = sessions.exclude(coming).order_by("-starts_at", "-pk")  # the same pages each time
    page = Paginator(earlier, SESSIONS_PER_PAGE).get_page(request.GET.get("page"))
    upcoming = list(sessions.filter(coming).order_by("starts_at")) if page.number == 1 else None
    return render(
        request,
        "journal/records/sessions.html",
        {"upcoming": upcoming, "earlier": page.object_list, "page_obj": page},
    )


def session_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SessionForm(request.POST)
        if form.is_valid():
            form.instance.client = request.user
            session = form.save()
            if session.is_completed:
                messages.success(
                    request, _("Session added. Capture what stood out when you feel ready.")
                )
            else:
                messages.success(request, _("Session added."))
            return redirect("journal:session", pk=session.pk)
    else:
        form = SessionForm()
    return render(request, "journal/records/session_form.html", {"form": form})


def session_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session = _get_session_for_user(request, pk)
    if request.method == "POST":
        form = SessionForm(request.POST, instance=session)
        if form.is_valid():
            form.save()
            messages.success(request, _("Your changes to the session are saved."))
            return redirect("journal:session", pk=session.pk)
    else:
        form = SessionForm(instance=session)
    return render(request, "journal/records/session_form.html", {"form": form, "session": session})


def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_session(request, _get_session_for_user(request, pk))


def _instrument_url(key: str | None, **query) -> str:
    """The form of a role's instrument (with `?session=`), or "" when no pack fills the role: the
    page then leaves the link out."""
    if not key:
        return ""
    url = reverse("journal:instrument", args=[key])
    return f"{url}?session={query['session']}" if query.get("session") else url


def _role_link(user, role: str) -> tuple[str, str] | None:
    """(URL, title) of the instrument that plays `role` for this person, or None when no pack
    fills the role: the page then leaves the link out. The title is the instrument's own, so a
    clinic's pack that names another instrument reads right."""
    key = roles_for(user).key(role)
    instrument = Instrument.objects.resolve(user, key) if key else None
    if instrument is None:
        return None
    return _instrument_url(key), instrument.title


def _render_session(
    request: HttpRequest, session: KapSession, insight_form: InsightForm | None = None
) -> HttpResponse:
    roles = roles_for(request.user)
    intention_key, worksheet_key = roles.key("intention"), roles.key("worksheet")
    responses = list(
        Response.objects.for_client(request.user)
        .filter(session=session, instrument__key__in=roles.keys("intention", "worksheet"))
        .select_related("instrument")
        .order_by("-submitted_at", "-updated_at")
    )
    submitted = [r for r in responses if not r.is_draft]
    intention = next((r for r in submitted if r.instrument.key == intention_key), None)
    intention_answers = records.answers_in_words(intention) if intention is not None else ()
    upcoming = records.is_upcoming(session)
    return render(
        request,
        "journal/records/session_detail.html",
        {
            "session": session,
            "intention": intention,
            "intention_answers": intention_answers,
            "intention_draft": any(
                r.is_draft and r.instrument.key == intention_key for r in responses
            ),
            "intention_url": _instrument_url(intention_key, session=session.pk),
            "worksheets": [r for r in submitted if r.instrument.key == worksheet_key],
            "worksheet_draft": next(
                (r for r in responses if r.is_draft and r.instrument.key == worksheet_key), None
            ),
            "worksheet_url": _instrument_url(worksheet_key, session=session.pk),
            "step_new_url": reverse("journal:step-new") + f"?session={session.pk}",
            "hours_since": records.hours_since_session(session),
            "insight_form": insight_form or InsightForm(),
            # One per rendering: the form sent twice stores one insight (see _add_insight).
            "insight_token": new_submission_token(),
            "insights": list(Insight.objects.for_client(request.user).filter(session=session)),
            "steps": list(ActionStep.objects.for_client(request.user).filter(session=session)),
            "upcoming": upcoming,
            "questions": records.open_questions(request.user) if upcoming else [],
        },
    )


# --- Insights -----------------------------------------------------------------------------------


INSIGHT_SAVED = gettext_lazy("Insight saved. Add another whenever something comes to you.")


def insight_add(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "POST" and request.headers.get("X-Kap-Background"):
        return _insight_from_device(request, pk)
    session = _get_session_for_user(request, pk)
    if request.method != "POST":
        return redirect(reverse("journal:session", args=[session.pk]) + "#insights")
    form = InsightForm(request.POST)
    if not form.is_valid():
        return _render_session(request, session, insight_form=form)
    _add_insight(request, session, form.cleaned_data["text"])
    messages.success(request, str(INSIGHT_SAVED))
    return redirect(reverse("journal:session", args=[session.pk]) + "#insights")


def _add_insight(request: HttpRequest, session: KapSession | None, text: str) -> bool:
    """Store the insight once per token (the form's, or the device outbox's): False when this
    token already stored one (a resend, a second tab), which is then left as it is."""
    token = request.POST.get("token", "")[:64]
    if token and Insight.objects.for_client(request.user).filter(submission_token=token).exists():
        return False
    try:
        with transaction.atomic():
            Insight.objects.create(
                client=request.user, session=session, text=text, submission_token=token
            )
    except IntegrityError:  # the same token, sent twice at once: the other request stored it
        return False
    return True


def _insight_from_device(request: HttpRequest, pk: int) -> JsonResponse:
    """An insight sent by the page's script (kap/static/kap/offline/outbox.js), often one kept
    on the device while it was offline. The same rules as a draft's: written by this person
    (never sent as whoever is logged in now), stored once however often it is sent, and never
    lost: if its session was deleted meanwhile, it is kept untied, in the timeline, as a
    deleted session's insights are."""
    if request.POST.get("person") != str(request.user.pk):
        return JsonResponse(
            {"status": "other-person", "message": _("This was written by someone else.")},
            status=409,
        )
    form = InsightForm(request.POST)
    if not form.is_valid():
        return JsonResponse(
            {"status": "refused", "message": " ".join(form.errors.get("text", []))}, status=400
        )
    session = KapSession.objects.for_client(request.user).filter(pk=pk).first()
    created = _add_insight(request, session, form.cleaned_data["text"])
    if created and request.POST.get("announce"):
        messages.success(request, str(INSIGHT_SAVED))
    home = reverse("journal:session", args=[pk]) if session else reverse("journal:timeline")
    return JsonResponse(
        {"status": "saved", "created": created, "url": home + ("#insights" if session else "")},
        status=201 if created else 200,
    )


def insight_edit(request: HttpRequest, pk: int) -> HttpResponse:
    insight = _get_insight_for_user(request, pk)
    if request.method == "POST":
        form = InsightForm(request.POST)
        if form.is_valid():
            insight.text = form.cleaned_data["text"]
            insight.save(update_fields=["text"])
            messages.success(request, _("Your changes to the insight are saved."))
            return redirect(_insight_home(insight))
    else:
        form = InsightForm(initial={"text": insight.text})
    return render(request, "journal/records/insight_form.html", {"form": form, "insight": insight})


def insight_delete(request: HttpRequest, pk: int) -> HttpResponse:
    insight = _get_insight_for_user(request, pk)
    if request.method != "POST":
        return redirect("journal:insight-edit", pk=insight.pk)
    home = _insight_home(insight)
    insight.delete()
    messages.success(request, _("The insight is deleted."))
    return redirect(home)


def _insight_home(insight: Insight) -> str:
    if insight.session_id:
        return reverse("journal:session", args=[insight.session_id]) + "#insights"
    return reverse("journal:timeline")


# --- Action steps -------------------------------------------------------------------------------


def _check_in_prefix(step: ActionStep) -> str:
    # The fields are named after the step (step-12-status), so that a form sent from an older
    # page, or to the wrong step, can never check in on another one.
    return f"step-{step.pk}"


def step_list(request: HttpRequest) -> HttpResponse:
    return _render_steps(request)


# Each step is a card with its latest check-in and one action, "Check in", which opens the
# check-in form on a page of its own: the list stays a screen or two however many steps there
# are, and holds one form (to add a step). Every open step is shown; of those done or let go,
# the latest CLOSED_SHOWN (the rest are in the timeline), so that years of steps do not make the
# page slower to open. The check-in page shows the latest CHECKINS_SHOWN check-ins of its step.
CHECKINS_SHOWN = 3
CLOSED_SHOWN = 20


def _render_steps(request: HttpRequest) -> HttpResponse:
    latest = CheckIn.objects.order_by("-created_at", "-pk")[:1]
    mine = (
        ActionStep.objects.for_client(request.user)
        .select_related("session")
        .defer("session__notes")
        .annotate(n_checkins=Count("checkins"))
        .prefetch_related(Prefetch("checkins", queryset=latest, to_attr="latest_checkins"))
    )
    closed = mine.exclude(status=ActionStep.Status.OPEN)
    closed_count = closed.count()
    closed_steps = list(closed.order_by("-created_at", "-pk")[:CLOSED_SHOWN])
    return render(
        request,
        "journal/records/steps.html",
        {
            "open_steps": list(mine.filter(status=ActionStep.Status.OPEN)),
            "closed_steps": closed_steps,
            "closed_not_shown": max(0, closed_count - CLOSED_SHOWN),
            "add_form": StepForm(client=request.user),
        },
    )


def step_check_in(request: HttpRequest, pk: int) -> HttpResponse:
    """The check-in form of one step (a page of its own, reached from the step's card); a
    check-in sent is stored and leads back to the step on the list."""
    step = _get_step_for_user(request, pk)
    if request.method == "POST":
        form = StepCheckInForm(request.POST, prefix=_check_in_prefix(step))
        if form.is_valid():
            checkin = records.check_in(
                step=step, status=form.cleaned_data["status"], note=form.cleaned_data["note"]
            )
            messages.success(
                request,
                {
                    "done": _("Checked in: done. Thank you for noticing."),
                    "working": _("Checked in: still working on it. That is part of the process."),
                    "let-go": _("Checked in: you let this one go. That is a fine choice too."),
                }[checkin.status],
            )
            return redirect(reverse("journal:steps") + f"#step-{step.pk}")
    else:
        form = StepCheckInForm(prefix=_check_in_prefix(step))
    checkins = step.checkins.order_by("-created_at", "-pk")
    history_url = reverse("journal:timeline") + "?kind=step"
    history_url += f"&session={step.session_id}" if step.session_id else ""
    return render(
        request,
        "journal/records/check_in.html",
        {
            "step": step,
            "form": form,
            "errors": error_summary(form),
            "checkins": list(checkins[:CHECKINS_SHOWN]),
            "n_checkins": checkins.count(),
            "history_url": history_url,  # the step's check-ins in the timeline
        },
    )


def step_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = StepForm(request.POST, client=request.user)
        if form.is_valid():
            form.instance.client = request.user
            step = form.save()
            messages.success(request, _("Step added."))
            return redirect(reverse("journal:steps") + f"#step-{step.pk}")
    else:
        initial = {}
        if (session_id := request.GET.get("session", "")).isdigit():
            initial["session"] = _get_session_for_user(request, int(session_id))
        form = StepForm(client=request.user, initial=initial)
    return render(request, "journal/records/step_form.html", {"form": form})


# --- Questions to bring -------------------------------------------------------------------------


def question_list(request: HttpRequest) -> HttpResponse:
    return _render_questions(request, QuestionForm())


# Every question still to ask is listed; of those asked, the latest ASKED_SHOWN (the rest are in
# the timeline), so that years of questions do not make the page long and slow to open.
ASKED_SHOWN = 20


def _render_questions(request: HttpRequest, form: QuestionForm) -> HttpResponse:
    asked = QuestionToBring.objects.for_client(request.user).exclude(asked_at=None)
    shown = list(asked.order_by("-asked_at", "-pk")[:ASKED_SHOWN])
    not_shown = max(0, asked.count() - ASKED_SHOWN)  # counted always: the same queries
    return render(
        request,
        "journal/records/questions.html",
        {
            "questions": records.open_questions(request.user),
            "asked": shown,
            "asked_not_shown": not_shown,
            "form": form,
            "preparation": _role_link(request.user, "preparation"),
        },
    )


def question_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect(reverse("journal:questions") + "#add-title")
    form = QuestionForm(request.POST)
    if not form.is_valid():
        return _render_questions(request, form)
    form.instance.client = request.user
    form.save()
    messages.success(request, _("Question added to your list."))
    return redirect("journal:questions")


def question_asked(request: HttpRequest, pk: int) -> HttpResponse:
    question = _get_question_for_user(request, pk)
    if request.method != "POST":
        return redirect("journal:questions")
    back = _next_or(request, reverse("journal:questions"))  # the form is read before any write
    question = records.toggle_asked(question=question)
    if question.asked_at:
        messages.success(request, _("Marked as asked."))
    else:
        messages.success(request, _("Moved back to your open questions."))
    return redirect(back)


# --- Support map --------------------------------------------------------------------------------


def support(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SupportForm(request.POST)
        if form.is_valid():
            form.instance.client = request.user
            item = form.save()
            group = item.get_category_display().lower()
            messages.success(request, _("Added to %(group)s.") % {"group": group})
            return redirect(reverse("journal:support") + f"#{item.category}")
    else:
        form = SupportForm(initial={"category": request.GET.get("category")})
    items = list(SupportItem.objects.for_client(request.user))
    groups = [
        (value, label, [i for i in items if i.category == value])
        for value, label in SupportItem.Category.choices
    ]
    return render(
        request,
        "journal/records/support.html",
        {"groups": groups, "form": form, "reflection": _role_link(request.user, "support")},
    )


def support_delete(request: HttpRequest, pk: int) -> HttpResponse:
    item = _get_support_item_for_user(request, pk)
    if request.method != "POST":
        return redirect(reverse("journal:support") + f"#{item.category}")
    category = item.category
    item.delete()
    messages.success(request, _("Removed from your support map."))
    return redirect(reverse("journal:support") + f"#{category}")


# --- Timeline -----------------------------------------------------------------------------------


def _entry_html(e: timeline_.Entry, query: str, sessions: dict[int, str]) -> str:
    """An entry of the timeline as its <li>: its title (a link when it has a page), the words
    around a search's match or the start of its text, then when, its score or status, and the
    session it is about. Written here rather than by the template, which took five times as
    long over a page of fifty entries; every value is escaped, every sentence translated."""
    title = escape(e.title)
    if e.url:
        title = f'<a href="{escape(e.url)}">{title}</a>'
    if e.draft:
        draft = _("(draft)")  # outside the f-string, where makemessages finds it
        title += f' <span class="tag">{escape(draft)}</span>'
    excerpt = e.excerpt(query) if query else ""
    if excerpt:
        body = f'<p class="excerpt">{escape(excerpt)}</p>'
    elif e.text:
        body = f"<p>{linebreaksbr(Truncator(e.text).chars(300), autoescape=True)}</p>"
    else:
        body = ""
    local = e.local
    said = [f'<time datetime="{local.isoformat()}">{local:%H:%M}</time>']
    if e.score:
        said.append(_("score %(score)s") % {"score": escape(e.score)})
    if e.status:
        said.append(escape(e.status))
    if e.session:
        url = sessions.get(e.session.pk)
        if url is None:
            url = sessions[e.session.pk] = reverse("journal:session", args=[e.session.pk])
        words = {"session_url": escape(url), "date": escape(e.session_day)}
        said.append(_('for your <a href="%(session_url)s">session on %(date)s</a>') % words)
    return (
        f'<li class="entry entry-{escape(e.kind)}">\n  <h3>{title}</h3>\n  {body}\n'
        f'  <p class="muted">{" · ".join(said)}</p>\n</li>'
    )


def timeline(request: HttpRequest) -> HttpResponse:
    form = TimelineFilter(request.GET, client=request.user)
    form.is_valid()  # a bad filter is shown next to its field; the valid ones still apply
    chosen = form.cleaned_data
    query = chosen.get("q") or ""
    kind, session = chosen.get("kind") or None, chosen.get("session")
    if query.strip():
        # Finds the matches in the blind index; decrypts the rows of the page shown only.
        entries = timeline_.search(request.user, query, kind=kind, session=session)
    else:
        # Loads and decrypts the rows of the page shown only, whatever the length of the history.
        entries = timeline_.LazyTimeline(request.user, kind=kind, session=session)
    page = Paginator(entries, PER_PAGE).get_page(request.GET.get("page"))
    sessions: dict[int, str] = {}  # each session's link, made once
    return render(
        request,
        "journal/records/timeline.html",
        {
            "form": form,
            "page": page,
            # [(day as YYYY-MM-DD, day in words, its entries' <li>s), ...], newest day first
            "days": [
                (
                    day.isoformat(),
                    format_date(day, weekday=True),
                    mark_safe("\n".join(_entry_html(e, query, sessions) for e in group)),
                )
                for day, group in groupby(page.object_list, key=lambda e: e.day)
            ],
            "query": query,
            "filtered": any(chosen.get(k) for k in ("q", "kind", "session")),
        },
    )
