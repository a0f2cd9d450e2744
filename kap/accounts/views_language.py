"""Choosing the language: one click in the footer of every page.

A visitor's choice is kept in Django's language cookie (LocaleMiddleware reads it); a logged-in
person's is saved on their account (User.language, read by kap.accounts.middleware), so that
e-mails and documents follow it too. A visitor changes only a cookie, so a plain GET link is
enough; a logged-in person's account changes, so theirs is a POST with the CSRF token (and, for
staff, only once they have passed their second factor, as for any change: SecondFactorMiddleware)."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from kap.lib import languages


@login_not_required
@require_http_methods(["GET", "POST"])
def choose_language(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    code = data.get("language", "")
    if not languages.known(code):
        return HttpResponseBadRequest(_("Unknown language."))
    signed_in = request.user.is_authenticated
    if signed_in and request.method != "POST":
        return HttpResponseBadRequest(_("Choose the language with the button on the page."))
    if signed_in and request.user.language != code:
        request.user.language = code
        request.user.save(update_fields=["language"])
    translation.activate(code)
    response = redirect(_back(request, data.get("next", "")))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path="/",
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def _back(request: HttpRequest, target: str) -> str:
    """The page the choice was made on, if it is a path on this site; else the home page."""
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    return target if ok and target.startswith("/") and not target.startswith("//") else "/"
