from __future__ import annotations

import uuid
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kap.accounts.decorators import client_required
from kap.content.models import Instrument
from kap.content.specs import Duration
from kap.lib.jsonbody import BadJson, read_json
from kap.practices.forms import ManualLogForm, RatingForm
from kap.practices.models import PracticeLog
from kap.practices.services import (
    CUSTOM_PACE,
    UuidTaken,
    check_payload,
    has_page,
    practice_instrument,
    record_practice,
)

PER_PAGE = 50
# The length offered when a practice's spec says none (the log endpoint then allows up to 4 h).
DEFAULT_DURATION = Duration(min_minutes=1, max_minutes=60, default_minutes=5)


def _get_log_for_user(request: HttpRequest, pk: int) -> PracticeLog:
    return get_object_or_404(
        PracticeLog.objects.for_client(request.user).select_related("instrument"), pk=pk
    )


def _practice(request: HttpRequest, key: str) -> Instrument:
    """The practice this key means for the person; 404 for anything else, including a key only
    someone else has (another person's import, a clinic they are not with)."""
    instrument = practice_instrument(request.user, key)
    if instrument is None or not has_page(instrument.parsed):
        raise Http404(f"There is no practice called {key!r} for this person.")
    return instrument


@require_GET
def practice_list(request: HttpRequest) -> HttpResponse:
    """A person's past practices, and a start for every practice they can see: the guide's, their
    clinic's and their own, whatever the pack calls them."""
    logs = PracticeLog.objects.for_client(request.user).select_related("instrument")
    page = Paginator(logs, PER_PAGE).get_page(request.GET.get("page"))
    practices = (
        Instrument.objects.for_person(request.user)
        .filter(kind="practice")
        .order_by("scope", "title", "key")
    )
    starts = [
        (reverse("practices:practice", args=[i.key]), i.title)
        for i in practices
        if has_page(i.parsed)
    ]
    return render(
        request,
        "practices/list.html",
        {
            "page_obj": page,
            "logs": page.object_list,
            "starts": starts,
            "outbox": _outbox_data(request),
        },
    )


@require_GET
def log_detail(request: HttpRequest, pk: int) -> HttpResponse:
    log = _get_log_for_user(request, pk)
    return render(request, "practices/detail.html", {"log": log})


@require_http_methods(["GET", "POST"])
def practice(request: HttpRequest, key: str) -> HttpResponse:
    """The one practice page, set up by the spec: paces give it the breath pacer, no paces the
    quiet timer with the steps to keep in mind."""
    instrument = _practice(request, key)
    if request.method == "POST":
        # The form to note a practice was on this page before it had its own: a page still open
        # from then sends here, and what it holds is kept all the same.
        return _note_page(request, instrument)
    return _practice_page(request, instrument)


@require_http_methods(["GET", "POST"])
def note(request: HttpRequest, key: str) -> HttpResponse:
    """The plain form to note a practice done away from the screen (it needs no JavaScript)."""
    return _note_page(request, _practice(request, key))


def _note_page(request: HttpRequest, instrument: Instrument) -> HttpResponse:
    spec = instrument.parsed
    if not request.user.is_client:
        # Anyone may try a practice; only a client's practices are logged (in their journal).
        raise Http404("Only a client's own practices are logged.")
    if request.method == "POST":
        form = ManualLogForm(request.POST, spec=spec)
        if form.is_valid():
            data = form.cleaned_data
            seconds = data["minutes"] * 60
            try:
                record_practice(
                    client=request.user,
                    uuid=data["uuid"],
                    instrument=instrument,
                    started_at=timezone.now() - timedelta(seconds=seconds),
                    planned_seconds=seconds,
                    elapsed_seconds=seconds,
                    completed=not data["stopped_early"],
                    settled_before=data["settled_before"],
                    settled_after=data["settled_after"],
                    pace=form.chosen_pace(),
                    source=PracticeLog.Source.MANUAL,
                )
            except UuidTaken:
                form.add_error(None, _("This form was already used. Please fill it in again."))
                form.data = form.data.copy()
                form.data["uuid"] = str(uuid.uuid4())
            else:
                messages.success(request, _("Noted: %(title)s.") % {"title": spec.title})
                return redirect("practices:list")
    else:
        form = ManualLogForm(spec=spec, initial={"uuid": uuid.uuid4()})
    return render(
        request,
        "practices/note.html",
        {"instrument": instrument, "spec": spec, "form": form},
        status=400 if form.errors else 200,
    )


def _practice_page(request: HttpRequest, instrument: Instrument) -> HttpResponse:
    spec = instrument.parsed
    duration = spec.duration or DEFAULT_DURATION
    spec_data = {
        "key": spec.key,
        "version": spec.version,
        "title": spec.title,
        "logUrl": reverse("practices:log"),
        "listUrl": reverse("practices:list"),
        "outbox": _outbox_data(request)["outbox"],
        "duration": duration.model_dump(),
        "steps": [s.model_dump() for s in spec.steps],
        "paces": [p.model_dump() for p in spec.paces],
        "customPace": CUSTOM_PACE,
        "notings": spec.notings,
    }
    context = {
        "instrument": instrument,
        "spec": spec,
        "duration": duration,
        "spec_data": spec_data,
        "breath_step": spec.steps[0] if spec.paces else None,
        "later_steps": spec.steps[1:] if spec.paces else spec.steps,
        "before": RatingForm(
            prefix="before", label=_("Before you begin: how settled do you feel?")
        ),
        "after": RatingForm(prefix="after", label=_("Now: how settled do you feel?")),
    }
    return render(request, "practices/practice.html", context)


def _outbox_data(request: HttpRequest) -> dict:
    # One outbox per person, so a log kept on a shared computer is never sent as someone else's.
    return {"outbox": f"kap-practice-outbox-{request.user.pk}", "logUrl": reverse("practices:log")}


@require_POST
@client_required
def log(request: HttpRequest) -> JsonResponse:
    """The end of a practice, sent by the page's JavaScript; a repeat of a send is a no-op."""
    try:
        data = read_json(request)
    except BadJson as e:
        return _bad(
            {"body": _("The body must be JSON, and this is %(reason)s.") % {"reason": e.reason}}
        )
    fields, errors = check_payload(data, user=request.user)
    if fields is None:
        return _bad(errors)
    try:
        entry, created = record_practice(client=request.user, **fields)
    except UuidTaken:
        return _bad({"uuid": _("uuid is already used by another log; make a new one.")})
    return JsonResponse(
        {"uuid": str(entry.uuid), "id": entry.pk, "created": created},
        status=201 if created else 200,
    )


def _bad(errors: dict[str, str]) -> JsonResponse:
    return JsonResponse(
        {"error": " ".join(errors.values()), "errors": errors},
        status=400,
    )
