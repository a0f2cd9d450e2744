"""The clinic's invitations by e-mail (mounted under /care/clinic/): invite therapists and
clients one at a time or as a list, see who has joined, send one again, withdraw one, and the
clinic's own opening words. The clinic page shows this section (care/_clinic_invites.html);
so does /care/clinic/invitations/, which also shows a list that could not be used.

An admin reaches only the invitations of their own clinic made by its admins
(kap.care.invitations.managed_invites); another is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from kap.accounts.decorators import clinic_admin_required
from kap.accounts.models import Invite
from kap.care import invitations, services
from kap.care.forms_invites import InvitationTextForm, InviteListForm
from kap.care.models import InviteEmail
from kap.lib.mail import is_set_up as mail_is_set_up

PER_PAGE = 50
EmailStatus = InviteEmail.Status


def _state(invite: Invite, now) -> tuple[str, str]:
    """(state, words) of one invitation, for the list."""
    if invite.used_at is not None:
        if invite.kind == Invite.Kind.THERAPIST and invite.used_by:
            return "joined", _("Joined as %(name)s") % {"name": invite.used_by}
        return "joined", _("Joined")
    if invite.withdrawn_at is not None:
        return "withdrawn", _("Withdrawn")
    if invite.expires_at <= now:
        return "expired", _("Expired")
    return "waiting", _("Waiting")


EMAIL_WORDS = {
    EmailStatus.PENDING: gettext_lazy("Queued"),
    EmailStatus.SENDING: gettext_lazy("Being sent"),
    EmailStatus.SENT: gettext_lazy("Sent"),
    EmailStatus.FAILED: gettext_lazy("Not delivered"),
    EmailStatus.UNSENT: gettext_lazy("Waiting: e-mail is not set up"),
    EmailStatus.CANCELLED: gettext_lazy("Not sent"),
}


def _rows(page_invites, now) -> list[dict]:
    rows = []
    for invite in page_invites:
        state, words = _state(invite, now)
        rows.append(
            {
                "invite": invite,
                "for": (
                    _("Therapist")
                    if invite.kind == Invite.Kind.THERAPIST
                    else _("Client of %(therapist)s") % {"therapist": invite.for_therapist}
                ),
                "state": state,
                "state_words": words,
                "email_words": EMAIL_WORDS.get(invite.email_status, _("Not e-mailed (a link)")),
                "email_problem": invite.email_status == EmailStatus.FAILED and state == "waiting",
                "can_resend": state != "joined" and bool(invite.email),
                "can_withdraw": state == "waiting",
            }
        )
    return rows


def invitations_section(
    request: HttpRequest, *, list_form=None, text_form=None
) -> dict[str, object]:
    """The clinic page's invitations section (care/_clinic_invites.html): its forms, the
    clinic's invitations a page at a time (`?invites=N`), and their counts."""
    admin = request.user
    if admin.clinic_id is None:
        return {}
    managed = invitations.managed_invites(admin)
    listed = invitations.with_last_email(managed).select_related(
        "used_by", "therapist", "created_by"
    )
    page = Paginator(listed.order_by("-created_at", "-pk"), PER_PAGE).get_page(
        request.GET.get("invites")
    )
    return {
        "invite_list_form": list_form or InviteListForm(admin=admin),
        "invitation_text_form": text_form
        or InvitationTextForm(initial={"text": admin.clinic.invitation_text}),
        "invitations_page": page,
        "invitation_rows": _rows(page.object_list, timezone.now()),
        "invitations_summary": invitations.summary(managed),
        "mail_is_set_up": mail_is_set_up(),
    }


def _page(request: HttpRequest, *, status: int = 200, **forms) -> HttpResponse:
    context = {"clinic": request.user.clinic, **invitations_section(request, **forms)}
    return render(request, "care/clinic_invites.html", context, status=status)


def _managed(request: HttpRequest, invite_id: int) -> Invite:
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    managed = invitations.managed_invites(request.user).select_related("created_by", "therapist")
    return get_object_or_404(managed, pk=invite_id)


def _back() -> HttpResponse:
    return redirect(reverse("care:clinic") + "#invitations")


@clinic_admin_required
@never_cache
def clinic_invitations(request: HttpRequest) -> HttpResponse:
    """GET: the invitations on a page of their own. POST: invite a list of addresses."""
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    if request.method != "POST":
        return _page(request)
    form = InviteListForm(request.POST, request.FILES, admin=request.user)
    if not form.is_valid():
        return _page(request, list_form=form, status=400)
    data = form.cleaned_data
    kind = data["kind"]
    made = services.send_invites(
        sender=request.user,
        kind=kind,
        emails=form.addresses,
        days=data["days"],
        therapist=data["therapist"] if kind == Invite.Kind.CLIENT else None,
    )
    n = len(made)
    if kind == Invite.Kind.THERAPIST and mail_is_set_up():
        done = ngettext(
            "%(n)s therapist invitation made, being e-mailed.",
            "%(n)s therapist invitations made, being e-mailed.",
            n,
        )
    elif kind == Invite.Kind.THERAPIST:
        done = ngettext(
            "%(n)s therapist invitation made, waiting for e-mail to be set up.",
            "%(n)s therapist invitations made, waiting for e-mail to be set up.",
            n,
        )
    elif mail_is_set_up():
        done = ngettext(
            "%(n)s client invitation made, being e-mailed.",
            "%(n)s client invitations made, being e-mailed.",
            n,
        )
    else:
        done = ngettext(
            "%(n)s client invitation made, waiting for e-mail to be set up.",
            "%(n)s client invitations made, waiting for e-mail to be set up.",
            n,
        )
    messages.success(request, done % {"n": n})
    return _back()


@clinic_admin_required
@require_POST
def clinic_invite_resend(request: HttpRequest, invite_id: int) -> HttpResponse:
    invite = _managed(request, invite_id)
    try:
        services.resend_invite(invite)
    except services.InviteUnusable:
        messages.error(
            request,
            _("This invitation was used already, or has no e-mail address, so it was not sent."),
        )
        return _back()
    messages.success(
        request,
        _("The invitation to %(email)s is being sent again; its old link no longer works.")
        % {"email": invite.email},
    )
    return _back()


@clinic_admin_required
@require_POST
def clinic_invite_revoke(request: HttpRequest, invite_id: int) -> HttpResponse:
    invite = _managed(request, invite_id)
    if not invite.is_usable:
        raise Http404("This invitation cannot be withdrawn: it is used, withdrawn or expired.")
    services.withdraw_invite(invite)
    messages.success(request, _("The invitation was withdrawn; its link no longer works."))
    return _back()


@clinic_admin_required
@require_POST
def clinic_invitation_text(request: HttpRequest) -> HttpResponse:
    clinic = request.user.clinic
    if clinic is None:
        raise Http404("Your account is not part of a clinic.")
    form = InvitationTextForm(request.POST)
    if not form.is_valid():
        return _page(request, text_form=form, status=400)
    clinic.invitation_text = form.cleaned_data["text"].strip() or None
    clinic.save(update_fields=["invitation_text"])
    if clinic.invitation_text:
        messages.success(request, _("Saved: your invitation e-mails open with your own words."))
    else:
        messages.success(request, _("Saved: your invitation e-mails use the standard words."))
    return _back()
