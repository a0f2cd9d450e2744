import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.lib import languages, timezones


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's, except that background saves get a 401 instead of a redirect to the login page,
    so the page keeps the text and asks the person to log in again instead of losing it."""

    def handle_no_permission(self, request, view_func):
        if request.headers.get("HX-Request") or request.headers.get("X-Kap-Background"):
            return JsonResponse(
                {"status": "logged-out", "message": _("You have been logged out.")}, status=401
            )
        return super().handle_no_permission(request, view_func)


class SecondFactorMiddleware:
    """A therapist or clinic admin changes nothing on a password alone: until they have passed
    their second factor in this session, every request but GET and HEAD is refused before its
    view runs, whatever the view (so a new one is covered without saying so). A form is sent to
    the two-factor page, which brings them back to the page they were on; a background request
    gets a 403. The exceptions are the views marked
    kap.accounts.decorators.second_factor_not_required (the two-factor page, logging out).

    Reading is left to each view: staff pages send them to the two-factor page too
    (staff_required); their own settings page shows, and saves nothing until then."""

    READING = ("GET", "HEAD")
    MESSAGE = gettext_lazy("Please finish two-step login first. Nothing was changed.")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.method in self.READING:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or user.is_client:
            return None
        if user.is_verified() or not getattr(view_func, "second_factor_required", True):
            return None
        if request.headers.get("HX-Request") or request.headers.get("X-Kap-Background"):
            return JsonResponse({"status": "second-factor", "message": self.MESSAGE}, status=403)
        messages.info(request, self.MESSAGE)
        back = urlencode({"next": _page_sent_from(request)}, safe="/")
        return redirect(f"{reverse('two-factor')}?{back}")


def _page_sent_from(request: HttpRequest) -> str:
    """The page on this site that the form was sent from (its path), else the home page."""
    referer = request.headers.get("Referer", "")
    ok = url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure())
    path = urlsplit(referer).path if ok else ""
    return path if path.startswith("/") and not path.startswith("//") else "/"


class NoStoreMiddleware:
    """Pages shown to a logged-in person are never kept in a browser or proxy cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Cache-Control"] = "no-store"
        return response


class SessionTimeoutMiddleware:
    """Ends a session after a period without activity, and after an absolute cap."""

    KEY_LAST = "kap_last_seen"
    KEY_START = "kap_started"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            session = request.session
            # Both are set at login (see stamp_login); sessions from before are stamped now.
            started = session.get(self.KEY_START) or session.setdefault(self.KEY_START, now)
            last = session.get(self.KEY_LAST, now)
            idle = (
                settings.STAFF_IDLE_MINUTES
                if user.role in ("therapist", "admin")
                else settings.CLIENT_IDLE_MINUTES
            )
            if now - last > idle * 60 or now - started > settings.SESSION_MAX_HOURS * 3600:
                logout(request)
                if request.headers.get("HX-Request") or request.headers.get("X-Kap-Background"):
                    return JsonResponse(
                        {"status": "logged-out", "message": _("You have been logged out.")},
                        status=401,
                    )
                messages.info(request, _("You were logged out after a while without activity."))
                return redirect_to_login(request.get_full_path())
            # Write at most once a minute: activity is coarse, a write per request is not free.
            if now - last >= 60 or self.KEY_LAST not in session:
                session[self.KEY_LAST] = now
        return self.get_response(request)


def stamp_login(sender, request, user, **kwargs):
    """At login, note when the session started and was last active, so that the first request
    after login does not have to write the session."""
    now = int(time.time())
    request.session[SessionTimeoutMiddleware.KEY_START] = now
    request.session[SessionTimeoutMiddleware.KEY_LAST] = now


class LanguageMiddleware:
    """Pages in the language the person chose (User.language). Blank, and for visitors,
    Django's LocaleMiddleware has already chosen from the language cookie or Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and languages.known(user.language):
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)


class TimeZoneMiddleware:
    """Times are shown in the person's own time zone (User.time_zone); blank or unknown, and for
    visitors, in the server's (TIME_ZONE)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = timezones.get(user.time_zone) if user is not None and user.is_authenticated else None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
