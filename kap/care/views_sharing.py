"""The client's side of consented sharing: accepting an invitation, choosing what a therapist
sees, ending a link, and seeing who looked at what.

Consent lives on CareLink.scopes and is read by the therapist's side on every request
(kap.care.access), so whatever is saved here takes effect on the therapist's next request.
What each answer changes is done by kap.care.services; these views ask and show.
A client reaches a link only through `_get_link_for_client`, so another person's link is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts.decorators import client_required
from kap.accounts.models import CareLink, Invite, Scope
from kap.care import services
from kap.care.alerts import alerts_for_client
from kap.care.audit import views_by_others
from kap.care.forms_sharing import (
    InviteCodeForm,
    InvitedSignupForm,
    ScopesForm,
    TherapistSignupForm,
)
from kap.care.models import AuditEntry
from kap.care.sharing import shared_lines
from kap.lib.addresses import request_ip

VIEWS_PER_PAGE = 50
SAFETY_EVENTS_SHOWN = 20
SCOPE_LABELS = dict(Scope.choices)
ACTION_LABELS = {"view": gettext_lazy("Viewed"), "export": gettext_lazy("Exported")}
# What was read, as the audit trail stores it (in English, for every reader of the trail), in the
# client's words and language; anything else is shown as stored.
WHAT_LABELS = {
    "client timeline": gettext_lazy("client timeline"),
    "pre-session brief": gettext_lazy("pre-session brief"),
    "pre-session brief (PDF)": gettext_lazy("pre-session brief (PDF)"),
    "roster": gettext_lazy("roster"),
}


# --- Accepting an invitation --------------------------------------------------------------------


def _unusable(request: HttpRequest, invite: Invite | None) -> HttpResponse:
    if invite is None:
        reason, status = "unknown", 404
    elif invite.used_at is not None:
        reason, status = "used", 410
    elif invite.withdrawn_at is not None:
        reason, status = "withdrawn", 410
    elif invite.expires_at <= timezone.now():
        reason, status = "expired", 410
    else:
        reason, status = "sender-gone", 410
    return render(request, "sharing/invite_unusable.html", {"reason": reason}, status=status)


@login_not_required
def invite(request: HttpRequest, code: str) -> HttpResponse:
    found = services.find_invite(code)
    if found is None or not services.can_be_accepted(found):
        return _unusable(request, found)
    if found.kind == Invite.Kind.THERAPIST:
        return _therapist_invite(request, found)
    return _client_invite(request, found)


def _client_invite(request: HttpRequest, invite: Invite) -> HttpResponse:
    therapist = invite.for_therapist
    context = {
        "invite": invite,
        "therapist": therapist,
        "clinic": invite.clinic_name,
        "invite_path": request.path,
    }
    user = request.user
    if not user.is_authenticated:
        return _client_signup(request, invite, context)
    if not user.is_client:
        return render(
            request, "sharing/invite_client.html", {**context, "state": "wrong-account"}, status=403
        )
    if CareLink.objects.active().filter(client=user, therapist=therapist).exists():
        messages.info(
            request,
            _(
                "You are already linked with %(therapist)s. You can change what you share with them here."
            )
            % {"therapist": therapist},
        )
        return redirect("sharing")

    # Not `request.POST or None`: a POST with every box unticked is a real answer ("nothing").
    # What each kind shares is what this client's packs say (and their own imports of a measure).
    form = ScopesForm(request.POST if request.method == "POST" else None, lines=shared_lines(user))
    if form.is_bound and form.is_valid():
        scopes = form.cleaned_data["scopes"]
        try:
            link = services.accept_client_invite(
                invite=invite, client=user, scopes=scopes, ip=request_ip(request)
            )
        except services.InviteUnusable:
            invite.refresh_from_db()
            return _unusable(request, invite)
        except services.AlreadyLinked:
            messages.info(
                request, _("You are already linked with %(therapist)s.") % {"therapist": therapist}
            )
            return redirect("sharing")
        messages.success(
            request,
            _("You are now linked with %(therapist)s. %(sharing)s")
            % {"therapist": therapist, "sharing": _sharing_sentence(link)},
        )
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    status = 400 if form.is_bound else 200
    return render(
        request,
        "sharing/invite_client.html",
        {**context, "state": "choose", "form": form},
        status=status,
    )


def _signup_from_invite(
    request, invite: Invite, form, accept
) -> tuple[HttpResponse | None, object]:
    """The account made from an invitation's sign-up form by `accept` (a kap.care.services
    function), and the person logged in: (None, the account); or the page to answer with
    instead (the invitation became unusable): (response, None). (None, None) while the form is
    not sent or has errors."""
    if request.method != "POST" or not form.is_valid():
        return None, None
    data = form.cleaned_data
    try:
        person = accept(
            invite=invite,
            email=data["email"],
            password=data["password1"],
            display_name=data["display_name"],
            time_zone=data.get("time_zone", ""),
        )
    except services.InviteUnusable:
        invite.refresh_from_db()
        return _unusable(request, invite), None
    except IntegrityError:  # the same e-mail address signed up a moment ago
        form.add_error("email", _("An account with this email address already exists."))
        return None, None
    login(request, person, backend="django.contrib.auth.backends.ModelBackend")
    return None, person


def _client_signup(request: HttpRequest, invite: Invite, context: dict) -> HttpResponse:
    """Someone invited who is not logged in: they log in, or make their account right here (an
    invitation lets them, whether or not sign-up is open), then choose what to share."""
    form = InvitedSignupForm(request.POST or None, invited_email=invite.email)
    answer, client = _signup_from_invite(request, invite, form, services.create_invited_client)
    if answer is not None:
        return answer
    if client is not None:
        messages.success(
            request,
            _("Your account is ready. Now choose what, if anything, to share with %(therapist)s.")
            % {"therapist": context["therapist"]},
        )
        return redirect(request.path)
    return render(
        request, "sharing/invite_client.html", {**context, "state": "anonymous", "form": form}
    )


def _therapist_invite(request: HttpRequest, invite: Invite) -> HttpResponse:
    context = {"invite": invite, "clinic": invite.clinic_name, "inviter": invite.created_by}
    if request.user.is_authenticated:
        return render(
            request, "sharing/invite_therapist.html", {**context, "state": "logged-in"}, status=403
        )
    form = TherapistSignupForm(request.POST or None, invited_email=invite.email)
    answer, therapist = _signup_from_invite(request, invite, form, services.accept_therapist_invite)
    if answer is not None:
        return answer
    if therapist is not None:
        messages.success(
            request, _("Your therapist account is ready. One more step: set up two-step login.")
        )
        return redirect("two-factor")
    return render(
        request, "sharing/invite_therapist.html", {**context, "state": "signup", "form": form}
    )


@login_not_required
def invite_code(request: HttpRequest) -> HttpResponse:
    # Open to people without an account yet: the invitation's page lets them make one.
    form = InviteCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if services.find_invite(code) is not None:
            # The invitation page says whether it can still be used, and what to do if not.
            return redirect("invite", code=code)
        form.add_error(
            "code",
            _(
                "We could not find an invitation with that code. Check it letter by letter and "
                "try again, or ask for a new one."
            ),
        )
    return render(request, "sharing/invite_code.html", {"form": form})


# --- Sharing settings ---------------------------------------------------------------------------


def _get_link_for_client(request: HttpRequest, pk: int) -> CareLink:
    links = CareLink.objects.for_client(request.user).select_related("client", "therapist__clinic")
    return get_object_or_404(links, pk=pk)


def _prefix(link: CareLink) -> str:
    return f"link-{link.pk}"


def _sharing_sentence(link: CareLink) -> str:
    if not link.scopes:
        return _("%(therapist)s sees nothing from your account until you turn something on.") % {
            "therapist": link.therapist
        }
    kinds = ", ".join(str(SCOPE_LABELS[s]).lower() for s in link.scopes)
    return _("%(therapist)s sees only: %(kinds)s.") % {"therapist": link.therapist, "kinds": kinds}


def _render_sharing(
    request: HttpRequest, bound: dict[int, ScopesForm] | None = None, status: int = 200
) -> HttpResponse:
    bound = bound or {}
    lines = shared_lines(request.user)
    links = list(
        CareLink.objects.for_client(request.user)
        .select_related("therapist__clinic")
        .order_by("-created_at", "-pk")
    )
    active = [
        (
            link,
            bound.get(link.pk)
            or ScopesForm(prefix=_prefix(link), initial={"scopes": link.scopes}, lines=lines),
        )
        for link in links
        if link.ended_at is None
    ]
    ended = sorted(
        (link for link in links if link.ended_at is not None),
        key=lambda link: link.ended_at,
        reverse=True,
    )
    return render(
        request,
        "sharing/settings.html",
        {
            "active": active,
            "ended": ended,
            "alerts": alerts_for_client(request.user, SAFETY_EVENTS_SHOWN),
            "alerts_limit": SAFETY_EVENTS_SHOWN,
            "has_errors": bool(bound),
        },
        status=status,
    )


@client_required
def sharing(request: HttpRequest) -> HttpResponse:
    return _render_sharing(request)


@client_required
def sharing_update(request: HttpRequest, pk: int) -> HttpResponse:
    link = _get_link_for_client(request, pk)
    if request.method != "POST":
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    if link.ended_at is not None:
        messages.info(
            request,
            _("Your link with %(therapist)s has ended; nothing is shared.")
            % {"therapist": link.therapist},
        )
        return redirect("sharing")
    form = ScopesForm(request.POST, prefix=_prefix(link), lines=shared_lines(request.user))
    if not form.is_valid():
        return _render_sharing(request, bound={link.pk: form}, status=400)
    scopes = form.cleaned_data["scopes"]
    if scopes == link.scopes:
        messages.info(
            request, _("Nothing changed. %(sharing)s") % {"sharing": _sharing_sentence(link)}
        )
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    if not services.change_scopes(link, scopes, ip=request_ip(request)):
        messages.info(
            request,
            _("Your link with %(therapist)s has ended; nothing is shared.")
            % {"therapist": link.therapist},
        )
        return redirect("sharing")
    messages.success(request, _("Saved. %(sharing)s") % {"sharing": _sharing_sentence(link)})
    return redirect(reverse("sharing") + f"#link-{link.pk}")


@client_required
def sharing_end(request: HttpRequest, pk: int) -> HttpResponse:
    link = _get_link_for_client(request, pk)
    if link.ended_at is not None:
        messages.info(
            request,
            _("Your link with %(therapist)s has already ended.") % {"therapist": link.therapist},
        )
        return redirect("sharing")
    if request.method == "POST":
        services.end_link(link, ip=request_ip(request))
        messages.success(
            request,
            _(
                "Your link with %(therapist)s has ended. They can no longer see anything from "
                "your account."
            )
            % {"therapist": link.therapist},
        )
        return redirect("sharing")
    return render(request, "sharing/end_confirm.html", {"link": link})


# --- Who viewed my data -------------------------------------------------------------------------


@dataclass
class ViewRow:
    when: datetime
    who: str
    email: str
    action: str
    what: str


def _view_row(entry: AuditEntry) -> ViewRow:
    name = entry.actor.display_name if entry.actor else ""
    action = ACTION_LABELS.get(entry.action, entry.action.capitalize())
    return ViewRow(
        entry.created_at,
        name or entry.actor_email,
        entry.actor_email,
        action,
        WHAT_LABELS.get(entry.what, entry.what),
    )


@client_required
def who_viewed(request: HttpRequest) -> HttpResponse:
    page = Paginator(views_by_others(request.user), VIEWS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [_view_row(e) for e in page.object_list]
    return render(request, "sharing/views.html", {"page": page, "rows": rows})
