from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kap.content.crisis import pack_for_crisis, regions_for, safety_rules_for
from kap.content.models import Instrument
from kap.content.scoring import interpretation, score
from kap.journal import today as today_module
from kap.journal.forms import InstrumentForm, answers_from_post
from kap.journal.models import KapSession, Response
from kap.journal.services import StaleEdit, edit_response, save_draft, submit_response
from kap.journal.today import intention_for

# Kinds a person fills in as a form here; practices have their own pages (kap.practices).
FORM_KINDS = {"checklist", "reflection", "scale", "questionnaire", "worksheet", "practice"}


def _get_instrument(key: str) -> Instrument:
    instrument = Instrument.objects.current().filter(key=key).select_related("pack").first()
    if instrument is None or instrument.kind not in FORM_KINDS or not instrument.parsed.items:
        raise Http404("No such check-in.")
    return instrument


def _newest_instrument(key: str) -> Instrument:
    """As _get_instrument, read from the (key, version) unique index: the newest version of one
    key, rather than current() (a NOT EXISTS over every version) filtered by key afterwards."""
    instrument = (
        Instrument.objects.filter(key=key).order_by("-version").select_related("pack").first()
    )
    if instrument is None or instrument.kind not in FORM_KINDS or not instrument.parsed.items:
        raise Http404("No such check-in.")
    return instrument


def _get_session_for_user(
    request: HttpRequest, pk: str | None, *, notes: bool = True
) -> KapSession | None:
    if not pk:
        return None
    rows = KapSession.objects.for_client(request.user)
    try:
        return (rows if notes else rows.defer("notes")).get(pk=int(pk))
    except (ValueError, KapSession.DoesNotExist):
        raise Http404("No such session.") from None


def _get_response_for_user(request: HttpRequest, pk: int) -> Response:
    return get_object_or_404(
        Response.objects.for_client(request.user).select_related("instrument__pack", "session"),
        pk=pk,
    )


def _crisis(request: HttpRequest, instrument: Instrument):
    pack = pack_for_crisis(instrument)
    return regions_for(pack.parsed, request.user.region) if pack else []


def today(request: HttpRequest) -> HttpResponse:
    return render(request, "journal/today.html", today_module.context(request.user))


def instrument_list(request: HttpRequest) -> HttpResponse:
    instruments = [
        i
        for i in Instrument.objects.current().select_related("pack").order_by("pk")
        if i.parsed.items
    ]
    return render(request, "journal/instrument_list.html", {"instruments": instruments})


def instrument(request: HttpRequest, key: str) -> HttpResponse:
    instrument = _get_instrument(key)
    session = _get_session_for_user(
        request, request.GET.get("session") or request.POST.get("session")
    )
    spec = instrument.parsed
    draft = (
        Response.objects.for_client(request.user)
        .drafts()
        .filter(instrument__key=key, session=session)
        .first()
    )
    if request.method == "POST":
        form = InstrumentForm(spec, request.POST)
        base = form.data.get("version")
        if form.is_valid():
            try:
                result = submit_response(
                    client=request.user,
                    instrument=instrument,
                    session=session,
                    answers=form.answers(),
                    base_version=int(base) if base else None,
                )
            except StaleEdit as stale:
                return _conflict(request, instrument, stale, session)
            return _after_submit(request, result.response, bool(result.safety))
        # Keep what was typed even though it is not complete yet.
        if spec.has_free_text:
            try:
                draft = save_draft(
                    client=request.user,
                    instrument=instrument,
                    session=session,
                    answers=answers_from_post(spec, request.POST),
                    base_version=int(base) if base else None,
                )
                form.data = form.data.copy()
                form.data["version"] = draft.version
            except StaleEdit as stale:
                return _conflict(request, instrument, stale, session)
    else:
        initial = dict(draft.answers) if draft else {}
        initial["version"] = draft.version if draft else ""
        form = InstrumentForm(spec, initial=initial)
    previous = (
        Response.objects.for_client(request.user)
        .submitted()
        .filter(instrument__key=key)
        .order_by("-submitted_at")[:5]
    )
    intention = intention_for(request.user, session) if key != "intention-setting" else None
    return render(
        request,
        "journal/instrument_form.html",
        {
            "instrument": instrument,
            "spec": spec,
            "form": form,
            "session": session,
            "draft": draft,
            "previous": previous,
            "intention": intention,
            "autosave_url": reverse("journal:autosave", args=[key]),
        },
    )


def _after_submit(request: HttpRequest, response: Response, safety: bool) -> HttpResponse:
    if safety:
        # The crisis resources go on this very screen, before anything else.
        return response_detail(request, response.pk, just_submitted=True)
    messages.success(request, "Saved. Thank you for taking the time.")
    # ?saved: the page then tells this browser to forget its local copy of the draft.
    return redirect(reverse("journal:response", args=[response.pk]) + "?saved")


def _conflict(request, instrument, stale: StaleEdit, session) -> HttpResponse:
    spec = instrument.parsed
    rows = [
        {
            "item": item,
            "theirs": stale.response.answers.get(item.key, ""),
            "mine": stale.mine.get(item.key, ""),
        }
        for item in spec.items
        if stale.response.answers.get(item.key, "") != stale.mine.get(item.key, "")
    ]
    return render(
        request,
        "journal/conflict.html",
        {"instrument": instrument, "rows": rows, "stored": stale.response, "session": session},
        status=409,
    )


@require_POST
def autosave(request: HttpRequest, key: str) -> HttpResponse:
    # Saved on every pause in typing: the same checks as the form, with less work around them.
    instrument = _newest_instrument(key)
    session = _get_session_for_user(request, request.POST.get("session"), notes=False)
    spec = instrument.parsed
    base = request.POST.get("version") or None
    try:
        draft = save_draft(
            client=request.user,
            instrument=instrument,
            session=session,
            answers=answers_from_post(spec, request.POST),
            base_version=int(base) if base else None,
        )
    except StaleEdit as stale:
        return JsonResponse(
            {
                "status": "conflict",
                "message": "This was changed in another window since you opened it. "
                "Your text is kept on this device; reload to compare both versions.",
                "version": stale.response.version,
            },
            status=409,
        )
    except ValueError:
        return JsonResponse(
            {"status": "error", "message": "The version sent is not a number."}, status=400
        )
    saved = timezone.localtime(draft.updated_at)
    return JsonResponse(
        {"status": "saved", "version": draft.version, "id": draft.pk, "saved_at": f"{saved:%H:%M}"}
    )


def response_detail(request: HttpRequest, pk: int, just_submitted: bool = False) -> HttpResponse:
    response = _get_response_for_user(request, pk)
    if response.is_draft:
        url = reverse("journal:instrument", args=[response.instrument.key])
        return redirect(f"{url}?session={response.session_id}" if response.session_id else url)
    spec = response.instrument.parsed
    result = score(spec, response.answers) if spec.scoring else None
    events = list(response.safety_events.all())
    answered = [(item, _display(spec, item, response.answers.get(item.key))) for item in spec.items]
    first = None
    if result and spec.scoring and spec.scoring.method == "sum":
        first = (
            Response.objects.for_client(request.user)
            .submitted()
            .filter(instrument__key=spec.key)
            .order_by("submitted_at")
            .exclude(pk=response.pk)
            .first()
        )
    crisis_pack = pack_for_crisis(response.instrument) if events else None
    return render(
        request,
        "journal/response_detail.html",
        {
            "response": response,
            "spec": spec,
            "result": result,
            "interpretation": interpretation(spec, result),
            "answered": answered,
            "safety": events,
            "rules": [
                r
                for r in safety_rules_for(response.instrument)
                if r.key in {e.rule_key for e in events}
            ]
            if events
            else [],
            "regions": _crisis(request, response.instrument) if events else [],
            "not_monitored": crisis_pack.parsed.not_monitored if crisis_pack else "",
            "first": first,
            "history": response.history.all()[:10],
            "just_submitted": just_submitted or "saved" in request.GET,
        },
    )


def _display(spec, item, value) -> str:
    kind = spec.item_type(item)
    if value in (None, ""):
        return ""
    if kind == "check":
        return "Yes" if value else "No"
    if kind == "choice":
        return next((o.label for o in spec.options_for(item) if o.value == value), str(value))
    return str(value)


def response_edit(request: HttpRequest, pk: int) -> HttpResponse:
    response = _get_response_for_user(request, pk)
    if response.is_draft:
        return redirect("journal:response", pk=pk)
    spec = response.instrument.parsed
    if request.method == "POST":
        form = InstrumentForm(spec, request.POST)
        if form.is_valid():
            try:
                result = edit_response(
                    response=response,
                    answers=form.answers(),
                    base_version=int(form.cleaned_data.get("version") or 0),
                )
            except StaleEdit as stale:
                return _conflict(request, response.instrument, stale, response.session)
            if result.safety:
                return response_detail(request, response.pk, just_submitted=True)
            messages.success(request, "Your changes are saved. The earlier version is kept.")
            return redirect("journal:response", pk=pk)
    else:
        form = InstrumentForm(spec, initial={**response.answers, "version": response.version})
    return render(
        request,
        "journal/instrument_form.html",
        {
            "instrument": response.instrument,
            "spec": spec,
            "form": form,
            "editing": response,
            "session": response.session,
        },
    )
