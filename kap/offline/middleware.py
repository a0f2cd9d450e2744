"""Tells the service worker whose page a response is, and clears the device at a logout.

Every response to a logged-in person carries `Kap-Person: <id>`; a page that may be kept on the
device for offline use also carries `Kap-Offline: keep`. The service worker keeps such a page only
in that person's cache, and drops every person's cache as soon as a page arrives for someone else
or for nobody (logged out, or the login expired). The headers go to the person's own browser only.

A view that logs the person out (the logout button, erasing the account) answers with
`Clear-Site-Data: "cache", "storage"`: the browser then deletes this site's caches, the service
worker, IndexedDB and localStorage, so nothing of theirs stays on a shared device. A login that
merely expired (kap.accounts.middleware.SessionTimeoutMiddleware, which answers before any view)
clears nothing: a draft or an insight written on the device is sent once they log in again.

Every response also says the language it was made in (Content-Language, set here where the
person's own choice is in force, as LocaleMiddleware would): the worker keeps the person's pages
in that language, and answers from the device in the language of the last page it saw.
"""

from __future__ import annotations

from django.contrib.messages.storage.base import BaseStorage
from django.utils import translation

# The pages a person may open with no network, by URL name: Today, the guide, the crisis page,
# the practices, and a session's page (where an insight is written the evening after).
KEEP = frozenset(
    {
        "home",
        "guide-index",
        "guide-page",
        "guide-pack-page",
        "crisis",
        "practices:list",
        "practices:practice",
        "journal:session",
    }
)
CLEAR_SITE_DATA = '"cache", "storage"'
# Sent by the service worker when it fetches a person's pages in the background.
PRECACHE_HEADER = "Kap-Offline-Precache"


class _NoMessages(BaseStorage):
    """The messages of a background fetch: none shown, none consumed. A page the service worker
    fetches ahead of time must neither show the person's "Saved." nor take it from the page they
    are about to see."""

    def __init__(self, request):
        super().__init__(request)

    def _get(self, *args, **kwargs):
        return [], True

    def _store(self, messages, response, *args, **kwargs):
        return []

    def add(self, level, message, extra_tags=""):
        return None

    def update(self, response):
        return None


class OfflineMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        was_logged_in = user is not None and user.is_authenticated
        if request.headers.get(PRECACHE_HEADER) and hasattr(request, "_messages"):
            request._messages = _NoMessages(request)
        response = self.get_response(request)
        language = translation.get_language()
        if language and "Content-Language" not in response:
            response["Content-Language"] = language
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Kap-Person"] = str(user.pk)
            if _keepable(request, response):
                response["Kap-Offline"] = "keep"
        elif was_logged_in and getattr(request, "resolver_match", None) is not None:
            # A view logged the person out (a timeout answers before any view is resolved).
            response["Clear-Site-Data"] = CLEAR_SITE_DATA
        return response


def _keepable(request, response) -> bool:
    match = getattr(request, "resolver_match", None)
    return (
        request.method == "GET"
        and response.status_code == 200
        and match is not None
        and match.view_name in KEEP
        and response.get("Content-Type", "").startswith("text/html")
    )
