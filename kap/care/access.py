"""Who may see what. Every therapist or admin view reaches client data through these helpers."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import redirect

from kap.accounts.models import CareLink, Role, Scope


def staff_required(view):
    """Therapists and clinic admins only, and only after their second factor in this session."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        user = request.user
        if user.role not in (Role.THERAPIST, Role.ADMIN):
            raise Http404
        if not user.is_verified():
            return redirect(
                f"/account/two-factor/?{urlencode({'next': request.get_full_path()}, safe='/')}"
            )
        return view(request, *args, **kwargs)

    return wrapped


def therapist_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.user.role != Role.THERAPIST:
            raise Http404
        return staff_required(view)(request, *args, **kwargs)

    return wrapped


def get_link_for_therapist(request, client_id: int, scope: str | None = None) -> CareLink:
    """The active link between this therapist and that client, or 404 — also when the client
    has not shared `scope`. Consent is read on every request, so turning it off works at once."""
    link = (
        CareLink.objects.active()
        .select_related("client")
        .filter(therapist=request.user, client_id=client_id)
        .first()
    )
    if link is None or (scope is not None and not link.shares(scope)):
        raise Http404("Not shared with you.")
    return link


SCOPE_LABELS = dict(Scope.choices)
