"""The therapist's and clinic's side (mounted at /care/).

Therapists reach a client only through `get_link_for_therapist` (an active link, read on every
request, and the scope when one is needed); clinic admins have no view of any client at all.
Every page that shows client data writes an audit row before it renders.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kap.accounts.decorators import clinic_admin_required, therapist_required
from kap.accounts.models import CareLink, Invite, Role, Scope, User
from kap.care import brief as briefs
from kap.care import roster as rosters
from kap.care import timeline as timelines
from kap.care.access import get_link_for_therapist
from kap.care.alerts import with_undelivered_alert_emails
from kap.care.audit import record_request
from kap.care.charts import far_sessions_note, score_charts, shared_scores
from kap.care.forms_invites import InviteForm
from kap.care.forms_notes import AcknowledgeForm, NoteForm
from kap.care.models import AlertAcknowledgement, QuestionDiscussed, TherapistNote
from kap.care.services import create_invite, withdraw_invite
from kap.care.sharing import Record, scope_names, scope_of, shares
from kap.care.views_invites import invitations_section
from kap.care.views_staff import end_sessions, staff_section
from kap.content.roles import roles_for
from kap.journal.models import QuestionToBring, SafetyEvent
from kap.lib import links
from kap.lib.mail import is_set_up as mail_is_set_up
from kap.lib.pdf import page_footer_css, pdf_response

TIMELINE_PER_PAGE = 50
PDF_CSS = Path(__file__).resolve().parent.parent / "templates" / "care" / "brief_pdf.css"
# At the foot of every page of the brief, in the therapist's language.
FOOTER = gettext_lazy("Confidential: shared by the client for their care")


# --- Helpers -----------------------------------------------------------------------------------


def _new_invite(request, *, kind: str, form: InviteForm) -> dict:
    """Create an invite and return what to show once: the link and the code."""
    code = create_invite(
        sender=request.user,
        kind=kind,
        email=form.cleaned_data["email"] or "",
        days=form.cleaned_data["days"],
    )
    # On the address the inviter is using (kap.lib.links), not a default that may be wrong.
    return {"code": code, "link": links.absolute(reverse("invite", args=[code]), request)}


def _pending(invites):
    return invites.filter(used_at=None, withdrawn_at=None, expires_at__gt=timezone.now()).order_by(
        "expires_at"
    )


def _next_or(request, default: str) -> str:
    target = request.POST.get("next", "")
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    # Only a path: redirect() would take a bare word for the name of a view (and fail).
    return target if target.startswith("/") and ok else default


# --- Invites (therapist → client) ----------------------------------------------------------------


@therapist_required
@never_cache
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        created = _new_invite(request, kind=Invite.Kind.CLIENT, form=form)
        form = InviteForm()
    mine = Invite.objects.filter(created_by=request.user, kind=Invite.Kind.CLIENT)
    return render(
        request,
        "care/invite.html",
        {"form": form, "created": created, "pending": _pending(mine)},
        status=400 if request.method == "POST" and created is None else 200,
    )


@therapist_required
@require_POST
def invite_revoke(request: HttpRequest, invite_id: int) -> HttpResponse:
    found = get_object_or_404(
        _pending(Invite.objects.filter(created_by=request.user, kind=Invite.Kind.CLIENT)),
        pk=invite_id,
    )
    withdraw_invite(found)
    messages.success(request, _("The invitation was withdrawn; its link no longer works."))
    return redirect("care:invite")


# --- Roster ---------------------------------------------------------------------------------------


@therapist_required
@never_cache
def roster(request: HttpRequest) -> HttpResponse:
    # The score columns are the measures of the packs this therapist sees.
    measures = roles_for(request.user).measures
    sorts = rosters.sorts_for(measures)
    sort = request.GET.get("sort", "alerts")
    if sort not in {key for key, _label in sorts}:
        sort = "alerts"
    links = rosters.roster_links(request.user, sort, measures=measures)
    page = Paginator(links, rosters.PER_PAGE).get_page(request.GET.get("page"))
    rows = rosters.rows(page.object_list, measures)
    rosters.audit_roster(request, [r.client for r in rows])
    return render(
        request,
        "care/roster.html",
        {"page": page, "rows": rows, "sort": sort, "sorts": sorts, "measures": measures},
    )


# --- One client -------------------------------------------------------------------------------


def _client_page(request, link: CareLink, *, note_form=None, status: int = 200) -> HttpResponse:
    therapist = request.user
    scopes = timelines.scopes_of(link)
    # Loads and decrypts the entries of the page shown only, whatever the length of the history.
    entries = timelines.shared_timeline(link, therapist)
    page = Paginator(entries, TIMELINE_PER_PAGE).get_page(request.GET.get("page"))
    names = scope_names(link.client)
    drawn = score_charts(link, scopes, shared_scores(link, scopes), prefix="client-chart")
    context = {
        "link": link,
        "client": link.client,
        "scopes": scopes,
        "shared": [label for value, label in names.items() if value in scopes],
        "not_shared": [label for value, label in names.items() if value not in scopes],
        # Scores over time, when the client shares them (nothing is read otherwise).
        "score_charts": drawn,
        "far_sessions": far_sessions_note(drawn),
        "page": page,
        "questions": (
            briefs.open_questions(link, therapist) if shares(scopes, Record.QUESTIONS) else None
        ),
        "open_alerts": timelines.open_alerts(link, therapist),
        "ack_form": AcknowledgeForm(),
        "notes": TherapistNote.objects.filter(therapist=therapist, client=link.client),
        "note_form": note_form or NoteForm(),
    }
    record_request(request, subject=link.client, what="client timeline")
    return render(request, "care/client.html", context, status=status)


@therapist_required
@never_cache
def client(request: HttpRequest, client_id: int) -> HttpResponse:
    return _client_page(request, get_link_for_therapist(request, client_id))


@therapist_required
@require_POST
def note_add(request: HttpRequest, client_id: int) -> HttpResponse:
    link = get_link_for_therapist(request, client_id)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _client_page(request, link, note_form=form, status=400)
    TherapistNote.objects.create(
        therapist=request.user, client=link.client, text=form.cleaned_data["text"].strip()
    )
    messages.success(request, _("Note saved. Only you can read it."))
    return redirect(reverse("care:client", args=[client_id]) + "#notes")


@therapist_required
@require_POST
def question_discussed(request: HttpRequest, client_id: int, question_id: int) -> HttpResponse:
    get_link_for_therapist(request, client_id, scope_of(Record.QUESTIONS))
    question = get_object_or_404(QuestionToBring, pk=question_id, client_id=client_id)
    back = _next_or(request, reverse("care:client", args=[client_id]) + "#questions")
    QuestionDiscussed.objects.get_or_create(question=question, therapist=request.user)
    messages.success(request, _("Marked as discussed."))
    return redirect(back)


@therapist_required
@require_POST
def alert_ack(request: HttpRequest, event_id: int) -> HttpResponse:
    event = SafetyEvent.objects.filter(pk=event_id).only("pk", "client_id").first()
    if event is None:
        raise Http404("Not shared with you.")
    link = get_link_for_therapist(request, event.client_id, Scope.SAFETY)
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        # Only a hand-made request gets here (the browser keeps the note within its maxlength).
        messages.error(request, _("The note is longer than 5,000 characters; nothing was saved."))
        return redirect(_next_or(request, reverse("care:client", args=[link.client_id])))
    note = form.cleaned_data["note"].strip()
    with transaction.atomic():
        # The event's row lock makes a double submit wait, then find the first one's row.
        SafetyEvent.objects.select_for_update().filter(pk=event.pk).exists()
        already = AlertAcknowledgement.objects.filter(event=event, therapist=request.user)
        if not already.exists():
            AlertAcknowledgement.objects.create(event=event, therapist=request.user, note=note)
    messages.success(request, _("Alert acknowledged. The client will see that you have seen it."))
    return redirect(_next_or(request, reverse("care:client", args=[link.client_id])))


# --- Pre-session brief ----------------------------------------------------------------------------


@therapist_required
@never_cache
def brief(request: HttpRequest, client_id: int) -> HttpResponse:
    link = get_link_for_therapist(request, client_id)
    made = briefs.build_brief(link, request.user)
    record_request(request, subject=link.client, what="pre-session brief")
    charts = score_charts(link, timelines.scopes_of(link), made.shared_scores, prefix="brief-chart")
    return render(
        request,
        "care/brief.html",
        {"brief": made, "link": link, "charts": charts, "far_sessions": far_sessions_note(charts)},
    )


@therapist_required
@never_cache
def brief_pdf(request: HttpRequest, client_id: int) -> HttpResponse:
    link = get_link_for_therapist(request, client_id)
    made = briefs.build_brief(link, request.user)
    record_request(request, subject=link.client, what="pre-session brief (PDF)", action="export")
    html = render_to_string(
        "care/brief_pdf.html", {"brief": made, "page_css": page_footer_css(FOOTER)}, request=request
    )
    return pdf_response(html, briefs.pdf_filename(made), PDF_CSS)


# --- Clinic admin -------------------------------------------------------------------------------


def _therapists(admin):
    if admin.clinic_id is None:
        return User.objects.none()
    return User.objects.filter(clinic_id=admin.clinic_id, role=Role.THERAPIST)


def _clinic_page(request, *, form=None, created=None, status=200) -> HttpResponse:
    admin = request.user
    return render(
        request,
        "care/clinic.html",
        {
            "clinic": admin.clinic,
            "therapists": with_undelivered_alert_emails(_therapists(admin)).order_by(
                "-is_active", "display_name", "email"
            ),
            "mail_is_set_up": mail_is_set_up(),
            "form": form or InviteForm(),
            "created": created,
            # Invitations by e-mail (care/_clinic_invites.html, kap.care.views_invites).
            **invitations_section(request),
            # Admins and second factors (care/_clinic_staff.html, kap.care.views_staff).
            **staff_section(admin),
        },
        status=status,
    )


@clinic_admin_required
@never_cache
def clinic(request: HttpRequest) -> HttpResponse:
    return _clinic_page(request)


@clinic_admin_required
@require_POST
@never_cache
def clinic_invite(request: HttpRequest) -> HttpResponse:
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _clinic_page(request, form=form, status=400)
    created = _new_invite(request, kind=Invite.Kind.THERAPIST, form=form)
    return _clinic_page(request, created=created)


@clinic_admin_required
@require_POST
def therapist_active(request: HttpRequest, user_id: int) -> HttpResponse:
    """Deactivate or reactivate a therapist of this clinic."""
    therapist = get_object_or_404(_therapists(request.user), pk=user_id)
    active = request.POST.get("active") == "1"
    therapist.is_active = active
    therapist.save(update_fields=["is_active"])
    if not active:
        end_sessions(therapist)
    if active:
        messages.success(request, _("%(name)s can log in again.") % {"name": therapist})
    else:
        messages.success(
            request, _("%(name)s is deactivated and has been logged out.") % {"name": therapist}
        )
    return redirect("care:clinic")
