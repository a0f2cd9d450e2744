"""The client's side of consented sharing: accepting an invitation, choosing what a therapist
sees, ending a link, and seeing who looked at what.

Consent lives on CareLink.scopes and is read by the therapist's side on every request
(kap.care.access), so whatever is saved here takes effect on the therapist's next request.
A client reaches a link only through `_get_link_for_client`, so another person's link is a 404.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from kap.accounts.forms_sharing import (
    InviteCodeForm,
    ScopesForm,
    TherapistSignupForm,
)
from kap.accounts.models import CareLink, Invite, Role, Scope, User
from kap.accounts.sharing import shared_lines
from kap.care.alerts import acknowledgements_for_client
from kap.care.audit import record_request
from kap.care.models import AuditEntry
from kap.journal.models import SafetyEvent

VIEWS_PER_PAGE = 50
SAFETY_EVENTS_SHOWN = 20
SCOPE_LABELS = dict(Scope.choices)
ACTION_LABELS = {"view": "Viewed", "export": "Exported"}


# --- Workflows ----------------------------------------------------------------------------------


class InviteUnusable(Exception):
    """Used, expired, or its sender can no longer send it."""


class AlreadyLinked(Exception):
    pass


def hash_code(code: str) -> str:
    # Invite.code_hash is the sha256 hex digest of the code exactly as it was handed out.
    return hashlib.sha256(code.encode()).hexdigest()


def _sender_can_invite(invite: Invite) -> bool:
    sender = invite.created_by
    wanted = Role.THERAPIST if invite.kind == Invite.Kind.CLIENT else Role.ADMIN
    return sender.is_active and sender.role == wanted


def _lock_usable(invite: Invite) -> Invite:
    # Re-read under a row lock (PostgreSQL) or the write lock IMMEDIATE took (SQLite), so two
    # people racing with one code get one success and one refusal.
    locked = Invite.objects.select_for_update().select_related("created_by").get(pk=invite.pk)
    if not locked.is_usable or not _sender_can_invite(locked):
        raise InviteUnusable
    return locked


def _mark_used(invite: Invite, user: User) -> None:
    invite.used_at = timezone.now()
    invite.used_by = user
    invite.save(update_fields=["used_at", "used_by"])


@transaction.atomic
def accept_client_invite(*, invite: Invite, client: User, scopes: list[str]) -> CareLink:
    locked = _lock_usable(invite)
    therapist_id = locked.created_by_id
    if CareLink.objects.active().filter(client=client, therapist_id=therapist_id).exists():
        raise AlreadyLinked
    try:
        with transaction.atomic():
            link = CareLink.objects.create(client=client, therapist_id=therapist_id, scopes=scopes)
    except IntegrityError as e:  # another invitation from the same therapist, at the same time
        raise AlreadyLinked from e
    _mark_used(locked, client)
    return link


@transaction.atomic
def accept_therapist_invite(
    *, invite: Invite, email: str, password: str, display_name: str
) -> User:
    locked = _lock_usable(invite)
    therapist = User.objects.create_user(
        email,
        password,
        display_name=display_name,
        role=Role.THERAPIST,
        clinic_id=locked.clinic_id or locked.created_by.clinic_id,
    )
    _mark_used(locked, therapist)
    return therapist


def _record_consent(request: HttpRequest, link: CareLink, event: str, scopes: list[str]) -> None:
    # Consent changes go into the same tamper-evident chain as the reads they allow, so a
    # clinic can show what a client had agreed to at any moment.
    shared = ", ".join(scopes) or "nothing"
    what = f"{event} with {link.therapist.email}: {shared}"[:200]
    record_request(request, subject=request.user, action="consent", what=what)


# --- Accepting an invitation --------------------------------------------------------------------


def _find_invite(code: str) -> Invite | None:
    if not code or len(code) > 200:
        return None
    return (
        Invite.objects.select_related("created_by__clinic", "clinic")
        .filter(code_hash=hash_code(code))
        .first()
    )


def _unusable(request: HttpRequest, invite: Invite | None) -> HttpResponse:
    if invite is None:
        reason, status = "unknown", 404
    elif invite.used_at is not None:
        reason, status = "used", 410
    elif invite.expires_at <= timezone.now():
        reason, status = "expired", 410
    else:
        reason, status = "withdrawn", 410
    return render(request, "sharing/invite_unusable.html", {"reason": reason}, status=status)


def _clinic_name(invite: Invite) -> str:
    clinic = invite.clinic or invite.created_by.clinic
    return clinic.name if clinic else ""


@login_not_required
def invite(request: HttpRequest, code: str) -> HttpResponse:
    found = _find_invite(code)
    if found is None or not found.is_usable or not _sender_can_invite(found):
        return _unusable(request, found)
    if found.kind == Invite.Kind.THERAPIST:
        return _therapist_invite(request, found)
    return _client_invite(request, found)


def _client_invite(request: HttpRequest, invite: Invite) -> HttpResponse:
    therapist = invite.created_by
    context = {
        "invite": invite,
        "therapist": therapist,
        "clinic": _clinic_name(invite),
        "invite_path": request.path,
        "open_signup": settings.OPEN_SIGNUP,
    }
    user = request.user
    if not user.is_authenticated:
        return render(request, "sharing/invite_client.html", {**context, "state": "anonymous"})
    if not user.is_client:
        return render(
            request, "sharing/invite_client.html", {**context, "state": "wrong-account"}, status=403
        )
    if CareLink.objects.active().filter(client=user, therapist=therapist).exists():
        messages.info(
            request,
            f"You are already linked with {therapist}. You can change what you share with them "
            "here.",
        )
        return redirect("sharing")

    # Not `request.POST or None`: a POST with every box unticked is a real answer ("nothing").
    # What each kind shares is what this client's packs say (and their own imports of a measure).
    form = ScopesForm(request.POST if request.method == "POST" else None, lines=shared_lines(user))
    if form.is_bound and form.is_valid():
        scopes = form.cleaned_data["scopes"]
        try:
            with transaction.atomic():
                link = accept_client_invite(invite=invite, client=user, scopes=scopes)
                _record_consent(request, link, "link accepted", scopes)
        except InviteUnusable:
            invite.refresh_from_db()
            return _unusable(request, invite)
        except AlreadyLinked:
            messages.info(request, f"You are already linked with {therapist}.")
            return redirect("sharing")
        messages.success(request, f"You are now linked with {therapist}. {_sharing_sentence(link)}")
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    status = 400 if form.is_bound else 200
    return render(
        request,
        "sharing/invite_client.html",
        {**context, "state": "choose", "form": form},
        status=status,
    )


def _therapist_invite(request: HttpRequest, invite: Invite) -> HttpResponse:
    context = {"invite": invite, "clinic": _clinic_name(invite), "inviter": invite.created_by}
    if request.user.is_authenticated:
        return render(
            request, "sharing/invite_therapist.html", {**context, "state": "logged-in"}, status=403
        )
    form = TherapistSignupForm(request.POST or None, invited_email=invite.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            therapist = accept_therapist_invite(
                invite=invite,
                email=data["email"],
                password=data["password1"],
                display_name=data["display_name"],
            )
        except InviteUnusable:
            invite.refresh_from_db()
            return _unusable(request, invite)
        except IntegrityError:  # the same e-mail address signed up a moment ago
            form.add_error("email", "An account with this email address already exists.")
        else:
            login(request, therapist, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                "Your therapist account is ready. One more step: set up two-step login.",
            )
            return redirect("two-factor")
    return render(
        request, "sharing/invite_therapist.html", {**context, "state": "signup", "form": form}
    )


def invite_code(request: HttpRequest) -> HttpResponse:
    form = InviteCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if _find_invite(code) is not None:
            # The invitation page says whether it can still be used, and what to do if not.
            return redirect("invite", code=code)
        form.add_error(
            "code",
            "We could not find an invitation with that code. Check it letter by letter and try "
            "again, or ask for a new one.",
        )
    return render(request, "sharing/invite_code.html", {"form": form})


# --- Sharing settings ---------------------------------------------------------------------------


def _client_only(view):
    """These pages are about a client's own consent: for any other role they do not exist."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_client:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _get_link_for_client(request: HttpRequest, pk: int) -> CareLink:
    links = CareLink.objects.for_client(request.user).select_related("therapist__clinic")
    return get_object_or_404(links, pk=pk)


def _prefix(link: CareLink) -> str:
    return f"link-{link.pk}"


def _sharing_sentence(link: CareLink) -> str:
    if not link.scopes:
        return f"{link.therapist} sees nothing from your account until you turn something on."
    kinds = ", ".join(SCOPE_LABELS[s].lower() for s in link.scopes)
    return f"{link.therapist} sees only: {kinds}."


@dataclass
class AlertRow:
    when: datetime
    title: str
    seen: tuple[str, datetime] | None  # (therapist's name, when they marked it seen)


def _safety_alerts(client: User) -> list[AlertRow]:
    events = SafetyEvent.objects.for_client(client).values(
        "id", "created_at", "response__instrument__title"
    )[:SAFETY_EVENTS_SHOWN]
    # Never the acknowledgement's note: that is the therapist's own writing.
    seen = acknowledgements_for_client(client)
    return [
        AlertRow(e["created_at"], e["response__instrument__title"], seen.get(e["id"]))
        for e in events
    ]


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
            "alerts": _safety_alerts(request.user),
            "alerts_limit": SAFETY_EVENTS_SHOWN,
            "has_errors": bool(bound),
        },
        status=status,
    )


@_client_only
def sharing(request: HttpRequest) -> HttpResponse:
    return _render_sharing(request)


@_client_only
def sharing_update(request: HttpRequest, pk: int) -> HttpResponse:
    link = _get_link_for_client(request, pk)
    if request.method != "POST":
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    if link.ended_at is not None:
        messages.info(request, f"Your link with {link.therapist} has ended; nothing is shared.")
        return redirect("sharing")
    form = ScopesForm(request.POST, prefix=_prefix(link), lines=shared_lines(request.user))
    if not form.is_valid():
        return _render_sharing(request, bound={link.pk: form}, status=400)
    scopes = form.cleaned_data["scopes"]
    if scopes == link.scopes:
        messages.info(request, f"Nothing changed. {_sharing_sentence(link)}")
        return redirect(reverse("sharing") + f"#link-{link.pk}")
    with transaction.atomic():
        # Guarded by ended_at: a link ended in another tab stays ended.
        if not CareLink.objects.filter(pk=link.pk, ended_at=None).update(scopes=scopes):
            messages.info(request, f"Your link with {link.therapist} has ended; nothing is shared.")
            return redirect("sharing")
        link.scopes = scopes
        _record_consent(request, link, "sharing changed", scopes)
    messages.success(request, f"Saved. {_sharing_sentence(link)}")
    return redirect(reverse("sharing") + f"#link-{link.pk}")


@_client_only
def sharing_end(request: HttpRequest, pk: int) -> HttpResponse:
    link = _get_link_for_client(request, pk)
    if link.ended_at is not None:
        messages.info(request, f"Your link with {link.therapist} has already ended.")
        return redirect("sharing")
    if request.method == "POST":
        with transaction.atomic():
            if CareLink.objects.filter(pk=link.pk, ended_at=None).update(ended_at=timezone.now()):
                _record_consent(request, link, "link ended", [])
        messages.success(
            request,
            f"Your link with {link.therapist} has ended. They can no longer see anything from "
            "your account.",
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
        entry.created_at, name or entry.actor_email, entry.actor_email, action, entry.what
    )


@_client_only
def who_viewed(request: HttpRequest) -> HttpResponse:
    # The client's own consent changes are in the same trail; this page is about other people.
    entries = (
        AuditEntry.objects.filter(subject=request.user)
        .exclude(actor=request.user)
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(entries, VIEWS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [_view_row(e) for e in page.object_list]
    return render(request, "sharing/views.html", {"page": page, "rows": rows})
