from __future__ import annotations

import re

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kap.content.answers import answer_words, in_words
from kap.content.crisis import pack_for_crisis, regions_for, safety_rules_for
from kap.content.models import Instrument
from kap.content.roles import roles_for
from kap.content.scoring import interpretation, score
from kap.journal import today as today_module
from kap.journal.forms import InstrumentForm, answers_from_post
from kap.journal.models import KapSession, Response
from kap.journal.services import (
    ANY_VERSION,
    BaseVersion,
    StaleEdit,
    edit_response,
    filed_with,
    new_submission_token,
    save_draft,
    submit_response,
)
from kap.journal.today import intention_for
from kap.lib.prepared import Prepared

# Kinds a person fills in as a form here; practices have their own pages (kap.practices).
FORM_KINDS = {"checklist", "reflection", "scale", "questionnaire", "worksheet", "practice"}

# The hidden field holding the form's submission token (an underscore: never an item's key).
TOKEN_FIELD = "submission_token"
_VERSION = re.compile(r"[0-9]{1,9}")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class _Malformed(ValueError):
    """A hidden field that no page of ours sends like this: refused, nothing is written."""


def _posted_version(data) -> BaseVersion:
    """The version the page showed: a number; None if it showed no draft yet (the field is
    there but empty); ANY_VERSION from a sender that has no such field at all."""
    if "version" not in data:
        return ANY_VERSION
    raw = data.get("version") or ""
    if not raw:
        return None
    if not _VERSION.fullmatch(raw):
        raise _Malformed(_("The version sent is not a number."))
    return int(raw)


def _posted_token(data) -> str | None:
    raw = data.get(TOKEN_FIELD) or ""
    if raw and not _TOKEN.fullmatch(raw):
        raise _Malformed(_("The form's submission token is not one of ours."))
    return raw or None


def _get_instrument(request: HttpRequest, key: str) -> Instrument:
    """The instrument `key` means for the person signed in (their own import, their clinic's or
    the server's: Instrument.objects.resolve), read from the key's index; 404 for a key they
    cannot see, whoever else has one."""
    instrument = Instrument.objects.resolve(request.user, key)
    if instrument is None or instrument.kind not in FORM_KINDS or not instrument.parsed.items:
        raise Http404("No such check-in.")
    return instrument


# One of the person's sessions by its id, with or without its (encrypted) notes: every autosave of
# a form about a session asks, so each is compiled once per process (kap.lib.prepared).
_SESSION = Prepared(
    lambda client_id, pk: KapSession.objects.for_client(client_id).filter(pk=pk), (int, int)
)
_SESSION_WITHOUT_NOTES = Prepared(
    lambda client_id, pk: KapSession.objects.for_client(client_id).filter(pk=pk).defer("notes"),
    (int, int),
)


def _get_session_for_user(
    request: HttpRequest, pk: str | None, *, notes: bool = True
) -> KapSession | None:
    if not pk:
        return None
    try:
        number = int(pk)
    except ValueError:
        raise Http404("No such session.") from None
    if not 0 < number < 2**63:  # no row has it (and the database takes 64-bit integers only)
        raise Http404("No such session.")
    found = (_SESSION if notes else _SESSION_WITHOUT_NOTES)(request.user.pk, number)
    session = next(iter(found), None)
    if session is None:
        raise Http404("No such session.")
    return session


def _get_response_for_user(request: HttpRequest, pk: int) -> Response:
    return get_object_or_404(
        Response.objects.for_client(request.user).select_related("instrument__pack", "session"),
        pk=pk,
    )


def _safety_watched(instrument: Instrument) -> bool:
    """Whether a safety rule watches one of this instrument's questions (kap.content.crisis): its
    form then says where crisis support is, before anything is answered."""
    return any(rule.instrument == instrument.key for rule in safety_rules_for(instrument))


def _crisis(request: HttpRequest, instrument: Instrument):
    pack = pack_for_crisis(instrument)
    return regions_for(pack.parsed, request.user.region) if pack else []


def today(request: HttpRequest) -> HttpResponse:
    """Today, from this process's memory when the same page was made for the same key
    (today.page_key) within the minute; else made now (today.context) and kept. A page with a
    message to show once is neither (the message is the request's own)."""
    now = timezone.now()
    roles = roles_for(request.user)
    key = (
        None if len(messages.get_messages(request)) else today_module.page_key(request, now, roles)
    )
    kept = today_module.PAGES.get(key) if key else None
    if kept is not None:
        get_token(request)  # as the page's forms do when made: the CSRF cookie is renewed
        return HttpResponse(kept)
    context = today_module.context(request.user, now=now, roles=roles)
    response = render(request, "journal/today.html", context)
    if key:
        today_module.PAGES.set(key, response.content)
    return response


def instrument_list(request: HttpRequest) -> HttpResponse:
    instruments = [
        i
        for i in Instrument.objects.for_person(request.user).select_related("pack").order_by("pk")
        if i.parsed.items
    ]
    return render(request, "journal/instrument_list.html", {"instruments": instruments})


def instrument(request: HttpRequest, key: str) -> HttpResponse:
    instrument = _get_instrument(request, key)
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
    status = 200
    if request.method == "POST":
        try:
            base, token = _posted_version(request.POST), _posted_token(request.POST)
        except _Malformed as refused:
            form, status = _refused_form(request, spec, refused), 400
        else:
            done = filed_with(request.user, token)
            if done is not None:  # this form was filed already: its result, nothing new
                return _to_result(done)
            form = InstrumentForm(spec, request.POST)
            if form.is_valid():
                try:
                    result = submit_response(
                        client=request.user,
                        instrument=instrument,
                        session=session,
                        answers=form.answers(),
                        base_version=base,
                        token=token,
                    )
                except StaleEdit as stale:
                    return _conflict(request, instrument, stale, session)
                if not result.duplicate and not result.safety:
                    messages.success(request, _("Saved. Thank you for taking the time."))
                return _to_result(result.response)
            # Keep what was typed even though it is not complete yet.
            if spec.has_free_text:
                try:
                    draft = save_draft(
                        client=request.user,
                        instrument=instrument,
                        session=session,
                        answers=answers_from_post(spec, request.POST),
                        base_version=base,
                        token=token,
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
    intention = intention_for(request.user, session, filling=key)
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
            "safety_watched": _safety_watched(instrument),
            "autosave_url": reverse("journal:autosave", args=[key]),
            "submission_token": new_submission_token(),
        },
        status=status,
    )


def _to_result(response: Response) -> HttpResponse:
    """Post/redirect/get: the result, crisis resources first when there are any, is a page of
    its own, so a reload or a resent request shows it again and files nothing.
    ?saved: the page then tells this browser to forget its local copy of the draft."""
    return redirect(reverse("journal:response", args=[response.pk]) + "?saved")


def _refused_form(request: HttpRequest, spec, refused: _Malformed) -> InstrumentForm:
    """The form again, as it was filled in, after a request with a damaged hidden field. Nothing
    was saved; the page knows no version now, so sending it again cannot overwrite anything
    stored meanwhile (a difference is shown as a conflict, with both texts)."""
    messages.error(
        request,
        _("%(problem)s Nothing was saved; your answers are still below.") % {"problem": refused},
    )
    return InstrumentForm(spec, initial={**answers_from_post(spec, request.POST), "version": ""})


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
    stored = stale.response
    if stored.is_draft:
        saved_url = reverse("journal:instrument", args=[instrument.key])
        saved_url += f"?session={session.pk}" if session else ""
    else:
        saved_url = reverse("journal:response-edit", args=[stored.pk])
    return render(
        request,
        "journal/conflict.html",
        {
            "instrument": instrument,
            "rows": rows,
            "stored": stored,
            "session": session,
            "saved_url": saved_url,
        },
        status=409,
    )


@require_POST
def autosave(request: HttpRequest, key: str) -> HttpResponse:
    # Saved on every pause in typing: the same checks as the form, with less work around them.
    instrument = _get_instrument(request, key)
    session = _get_session_for_user(request, request.POST.get("session"), notes=False)
    spec = instrument.parsed
    try:
        base, token = _posted_version(request.POST), _posted_token(request.POST)
    except _Malformed as refused:
        return JsonResponse({"status": "error", "message": str(refused)}, status=400)
    try:
        draft = save_draft(
            client=request.user,
            instrument=instrument,
            session=session,
            answers=answers_from_post(spec, request.POST),
            base_version=base,
            token=token,
        )
    except StaleEdit as stale:
        return JsonResponse(
            {
                "status": "conflict",
                "message": _(
                    "This was changed in another window since you opened it. "
                    "Your text is kept on this device; reload to compare both versions."
                ),
                "version": stale.response.version,
            },
            status=409,
        )
    saved = timezone.localtime(draft.updated_at)
    return JsonResponse(
        {"status": "saved", "version": draft.version, "id": draft.pk, "saved_at": f"{saved:%H:%M}"}
    )


def response_detail(request: HttpRequest, pk: int) -> HttpResponse:
    response = _get_response_for_user(request, pk)
    if response.is_draft:
        url = reverse("journal:instrument", args=[response.instrument.key])
        return redirect(f"{url}?session={response.session_id}" if response.session_id else url)
    spec = response.instrument.parsed
    result = score(spec, response.answers) if spec.scoring else None
    # The crisis resources come from what was stored with the response, not from the request
    # that filed it: a reload, or a later visit, shows them again.
    events = list(response.safety_events.all())
    answered = [(i, answer_words(spec, i, response.answers.get(i.key))) for i in spec.items]
    # A checklist reads as what was ticked, in words (its count has no published meaning); a
    # box left unticked is an answer too, listed apart. Its other questions read as usual.
    boxes = {i.key for i in spec.items if spec.item_type(i) == "check"}
    checklist = spec.kind == "checklist" and bool(boxes)
    # Ticked or not from the stored answer, not its words (which are in the reader's language).
    ticked = [i.text for i in spec.items if i.key in boxes and response.answers.get(i.key)]
    unticked = [i.text for i in spec.items if i.key in boxes and not response.answers.get(i.key)]
    first = None
    if result and spec.scoring and spec.scoring.method == "sum":
        # The true first score of this measure; the first result itself has nothing before it.
        first = (
            Response.objects.for_client(request.user)
            .submitted()
            .filter(instrument__key=spec.key, score_total__isnull=False)
            .order_by("submitted_at", "pk")
            .only("pk", "submitted_at", "score_total")
            .first()
        )
        if first is not None and first.pk == response.pk:
            first = None
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
            # Earlier versions read as the response does: each question, and the answer in words.
            "history": [(h, in_words(spec, h.answers)) for h in response.history.all()[:10]],
            "checklist": checklist,
            "ticked": ticked,
            "unticked": unticked,
            "other_answers": [(i, w) for i, w in answered if i.key not in boxes]
            if checklist
            else answered,
            "just_submitted": "saved" in request.GET,
        },
    )


def response_edit(request: HttpRequest, pk: int) -> HttpResponse:
    response = _get_response_for_user(request, pk)
    if response.is_draft:
        return redirect("journal:response", pk=pk)
    spec = response.instrument.parsed
    status = 200
    if request.method == "POST":
        try:
            base, token = _posted_version(request.POST), _posted_token(request.POST)
        except _Malformed as refused:
            form, status = _refused_form(request, spec, refused), 400
        else:
            done = filed_with(request.user, token)
            if done is not None:  # this edit was saved already
                return redirect("journal:response", pk=done.pk)
            form = InstrumentForm(spec, request.POST)
            if form.is_valid():
                try:
                    result = edit_response(
                        response=response,
                        answers=form.answers(),
                        base_version=base if isinstance(base, int) else 0,
                        token=token,
                    )
                except StaleEdit as stale:
                    return _conflict(request, response.instrument, stale, response.session)
                # (With crisis resources on the result, they come first: no message above them.)
                if not result.duplicate and not result.response.safety_events.exists():
                    messages.success(
                        request, _("Your changes are saved. The earlier version is kept.")
                    )
                return redirect("journal:response", pk=result.response.pk)
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
            "safety_watched": _safety_watched(response.instrument),
            "session": response.session,
            "submission_token": new_submission_token(),
        },
        status=status,
    )
