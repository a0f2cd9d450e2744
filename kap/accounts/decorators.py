"""Who may open a view: one decorator per kind of account, and what everyone else gets instead.

Every view that belongs to one role says so with one of these. A page that is not for your kind
of account does not exist for you (404), so no one learns from a refusal that it is there; the
one exception is the client's progress, which sends other accounts home with a word why.
Therapists and clinic admins must also have passed their second factor in this session: to
see their pages (staff_required), and to send any form at all (kap.accounts.middleware.
SecondFactorMiddleware), but for the few views marked second_factor_not_required.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from kap.accounts.models import Role

View = Callable[..., HttpResponse]


def second_factor_not_required(view: View) -> View:
    """One of the few views to which a therapist or admin may send a form before passing their
    second factor in this session: the two-factor page itself, and logging out. Every other form
    they send before then is refused by kap.accounts.middleware.SecondFactorMiddleware."""
    view.second_factor_required = False
    return view


def client_required(view: View) -> View:
    """Clients only: for a therapist or an admin the page is a 404 ("Page not found")."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_client:
            raise Http404("Only a client's own data is here.")
        return view(request, *args, **kwargs)

    return wrapped


def clients_only(patterns: list) -> list:
    """Every route of a URLconf's `patterns` for clients only (client_required): a person's own
    journal is no place for a therapist's or an admin's account to write to."""
    for pattern in patterns:
        pattern.callback = client_required(pattern.callback)
    return patterns


def client_required_or_home(message: str) -> Callable[[View], View]:
    """Clients only: anyone else is redirected (302) to the home page, with `message` shown
    there to say why."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_client:
                messages.info(request, message)
                return redirect("home")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def staff_required(view: View) -> View:
    """Therapists and clinic admins only: a client gets a 404. A therapist or admin who has not
    passed their second factor in this session is redirected (302) to the two-factor page, which
    brings them back here."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if user.role not in (Role.THERAPIST, Role.ADMIN):
            raise Http404
        if not user.is_verified():
            return redirect(
                f"/account/two-factor/?{urlencode({'next': request.get_full_path()}, safe='/')}"
            )
        return view(request, *args, **kwargs)

    return wrapped


def therapist_required(view: View) -> View:
    """Therapists only: a client or a clinic admin gets a 404; then as staff_required."""
    return _role_required(Role.THERAPIST, view)


def clinic_admin_required(view: View) -> View:
    """Clinic admins only: a client or a therapist gets a 404; then as staff_required."""
    return _role_required(Role.ADMIN, view)


def _role_required(role: str, view: View) -> View:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.role != role:
            raise Http404
        return staff_required(view)(request, *args, **kwargs)

    return wrapped
