"""Proposed kap.journal.views.autosave: the same save, with less work around it.

`_get_instrument` runs `Instrument.objects.current()` (a NOT EXISTS subquery over all versions)
with the pack joined in on every keystroke-save: about a third of the view's CPU. Instrument rows
never change once stored (a new version is a new row), so the current instrument per key can be
kept per process for a short time; a pack loaded by another process is picked up within
CURRENT_TTL seconds. Two smaller savings: the session is looked up without decrypting its notes,
and the draft about to be overwritten is locked without decrypting its answers
(`save_draft` below differs from kap.journal.services.save_draft only by `.defer("answers")`).
(Mounted only in the benchmark, at /bench/proposed/autosave/<key>/.)
"""

from __future__ import annotations

import time

from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from kap.content.models import Instrument
from kap.journal.forms import answers_from_post
from kap.journal.models import KapSession, Response
from kap.journal.services import StaleEdit, _clean
from kap.journal.views import FORM_KINDS

CURRENT_TTL = 30.0
_current: dict[str, tuple[float, Instrument]] = {}


def current_instrument(key: str) -> Instrument:
    hit = _current.get(key)
    now = time.monotonic()
    if hit is None or now - hit[0] > CURRENT_TTL:
        instrument = Instrument.objects.current().filter(key=key).select_related("pack").first()
        if instrument is None or instrument.kind not in FORM_KINDS or not instrument.parsed.items:
            raise Http404("No such check-in.")
        hit = _current[key] = (now, instrument)
    return hit[1]


def _session(request, pk):
    if not pk:
        return None
    try:
        return KapSession.objects.for_client(request.user).defer("notes").get(pk=int(pk))
    except (ValueError, KapSession.DoesNotExist):
        raise Http404("No such session.") from None


@transaction.atomic
def save_draft(*, client, instrument, session, answers, base_version) -> Response:
    spec = instrument.parsed
    rows = Response.objects.select_for_update().drafts().defer("answers")
    draft = rows.filter(client=client, instrument=instrument, session=session).first()
    if draft is None:
        try:
            with transaction.atomic():
                return Response.objects.create(
                    client=client,
                    instrument=instrument,
                    session=session,
                    answers=_clean(spec, answers),
                )
        except IntegrityError:
            draft = rows.get(client=client, instrument=instrument, session=session)
    if base_version is not None and base_version != draft.version:
        raise StaleEdit(Response.objects.get(pk=draft.pk), answers)
    draft.answers = _clean(spec, answers)
    draft.version += 1
    draft.save(update_fields=["answers", "version", "updated_at"])
    return draft


@require_POST
def autosave(request: HttpRequest, key: str) -> HttpResponse:
    instrument = current_instrument(key)
    session = _session(request, request.POST.get("session"))
    base = request.POST.get("version") or None
    try:
        draft = save_draft(
            client=request.user,
            instrument=instrument,
            session=session,
            answers=answers_from_post(instrument.parsed, request.POST),
            base_version=int(base) if base else None,
        )
    except StaleEdit as stale:
        return JsonResponse({"status": "conflict", "version": stale.response.version}, status=409)
    except ValueError:
        return JsonResponse({"status": "error"}, status=400)
    saved = timezone.localtime(draft.updated_at)
    return JsonResponse(
        {"status": "saved", "version": draft.version, "id": draft.pk, "saved_at": f"{saved:%H:%M}"}
    )
