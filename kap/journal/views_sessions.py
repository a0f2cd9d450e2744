"""Deleting a KAP session (mounted with the other records in kap.journal.urls_records).

A session is the person's own record, usually deleted because it was logged twice or with a
mistyped date. Deleting it never deletes anything else they wrote: their insights, intentions,
worksheets and action steps about it are kept, no longer tied to a session (the foreign keys
are SET_NULL), and stay in their timeline. Only what is part of the session itself goes with
it: its date, status, clinician, setting and the notes written on it, which the confirmation
page shows in full first.

One case is refused rather than resolved for them: an unfinished draft of a check-in for this
session, when there is already an unfinished draft of the same check-in not tied to any
session. Both would become "the draft without a session", of which there can be one; the page
asks them to finish one of the two first, rather than choosing which words to drop.

Nothing is written to the audit trail: it records what other people (therapists, admins) read
of a person's records and the person's consent choices, not a person's changes to their own
records (deleting an insight or a support item is not audited either). The journal does not
import care.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _

from kap.journal.models import ActionStep, Insight, KapSession, Response


def _get_session_for_user(request: HttpRequest, pk: int) -> KapSession:
    return get_object_or_404(KapSession.objects.for_client(request.user), pk=pk)


def _stranded_drafts(session: KapSession) -> list[Response]:
    """Drafts for this session that could not lose it: the person already has a draft of the
    same instrument that is tied to no session (one_draft_per_instrument_without_session)."""
    loose = Response.objects.drafts().filter(
        client_id=session.client_id, session=None, instrument=OuterRef("instrument")
    )
    return list(
        Response.objects.drafts()
        .filter(session=session)
        .filter(Exists(loose))
        .select_related("instrument")
        .defer("answers")
    )


def _linked(session: KapSession) -> dict:
    """What is tied to the session and stays when it goes."""
    responses = list(
        Response.objects.for_client(session.client_id)
        .filter(session=session)
        .select_related("instrument")
        .defer("answers", "instrument__spec")
        .order_by("submitted_at", "created_at", "pk")
    )
    return {
        "insights": Insight.objects.for_client(session.client_id).filter(session=session).count(),
        "steps": ActionStep.objects.for_client(session.client_id).filter(session=session).count(),
        "submitted": [r for r in responses if not r.is_draft],
        "drafts": [r for r in responses if r.is_draft],
    }


def session_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting the session does, and a button to do it. POST: delete it."""
    session = _get_session_for_user(request, pk)
    stranded = _stranded_drafts(session)
    if request.method == "POST" and not stranded:
        try:
            with transaction.atomic():
                when = timezone.localtime(session.starts_at)
                session.delete()  # its insights, responses and steps are kept (SET_NULL)
        except IntegrityError:
            # A draft was started between the page and the click: ask again, with it listed.
            stranded = _stranded_drafts(session)
        else:
            messages.success(
                request,
                _(
                    "The session on %(date)s is deleted. Everything you wrote about it is "
                    "still in your timeline."
                )
                % {"date": dateformat.format(when, _("j F Y"))},
            )
            return redirect("journal:sessions")
    return render(
        request,
        "journal/records/session_delete.html",
        {"session": session, "stranded": stranded, **_linked(session)},
        status=409 if request.method == "POST" else 200,
    )
