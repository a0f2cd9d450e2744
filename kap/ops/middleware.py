"""Middleware of ops: the probes, the request id, and the page shown when this server lacks a key.

ProbeMiddleware comes first in settings.MIDDLEWARE: it answers exactly `/healthz` and `/readyz`
before anything reads the Host header (no DisallowedHost for a balancer probing 10.0.0.5), before
the https redirect and the login check. Every other path goes on untouched.

RequestIdMiddleware gives each request an id: the proxy's X-Request-ID when it is well-formed, else
a new one. It is sent back as X-Request-ID and is in every log record written while the request
is served (kap.lib.logs), with the client's address.

KeyMissingMiddleware turns a value this server cannot decrypt (a key it has not received yet, in a
staged rotation) into a calm 503 page instead of a 500: nothing of the request, the key or the
value is shown.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpResponse
from django.template import loader
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kap.lib import crypto, logs
from kap.ops import views

log = logging.getLogger(__name__)

PROBES = {"/healthz": views.healthz, "/readyz": views.readyz}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = logs.request_id_from(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        with logs.request_context(request_id, logs.client_address(request.META)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


KEY_MISSING_BARE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Please try again in a moment</title></head>
<body><main><h1>Please try again in a moment</h1>
<p>This server has not received the newest encryption key yet, so it cannot show this page.
What you saved is safe. Please try again in a minute.</p>
<p>If you are in danger or thinking of harming yourself, <a href="/crisis/">see crisis support
now</a>.</p></main></body></html>
"""
KEY_MISSING_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>
<p>{text}</p>
<p>{crisis}</p></main></body></html>
"""


def key_missing_bare() -> str:
    """KEY_MISSING_BARE in the language of the request; the English one if even that fails."""
    try:
        return KEY_MISSING_PAGE.format(
            lang=get_language() or "en",
            title=_("Please try again in a moment"),
            text=_(
                "This server has not received the newest encryption key yet, so it cannot show "
                "this page. What you saved is safe. Please try again in a minute."
            ),
            crisis=_(
                'If you are in danger or thinking of harming yourself, <a href="%(url)s">see '
                "crisis support now</a>."
            )
            % {"url": "/crisis/"},
        )
    except Exception:
        return KEY_MISSING_BARE


class KeyMissingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, crypto.KeyError_ | crypto.DecryptionError):
            return None
        # The class only: the message names the key id and where the keys come from.
        log.error(
            "A stored value cannot be decrypted on this server (%s): it lacks the key it was"
            " written with. Copy the current key file (or KAP_ENCRYPTION_KEYS) to this server.",
            type(exception).__name__,
        )
        try:
            body = loader.get_template("ops/key_missing.html").render(
                {"site_name": settings.SITE_NAME}
            )
        except Exception:
            body = key_missing_bare()
        response = HttpResponse(body, status=503)
        response["Retry-After"] = "60"
        response["Cache-Control"] = "no-store"
        return response
