import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.utils import timezone

from kap.lib import timezones


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's, except that background saves get a 401 instead of a redirect to the login page,
    so the page keeps the text and asks the person to log in again instead of losing it."""

    def handle_no_permission(self, request, view_func):
        if request.headers.get("HX-Request") or request.headers.get("X-Kap-Background"):
            return JsonResponse(
                {"status": "logged-out", "message": "You have been logged out."}, status=401
            )
        return super().handle_no_permission(request, view_func)


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
                        {"status": "logged-out", "message": "You have been logged out."},
                        status=401,
                    )
                messages.info(request, "You were logged out after a while without activity.")
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
