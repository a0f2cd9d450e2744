from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from kap.accounts.models import User
from kap.content.views import guides_for


@login_not_required
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        first_run = not User.objects.exists()
        return render(
            request,
            "home/welcome.html",
            {"first_run": first_run, "open_signup": settings.OPEN_SIGNUP},
        )
    if request.user.is_client:
        from kap.journal.views import today

        return today(request)
    default, others = guides_for(request.user)
    return render(
        request, "home/today.html", {"pages": default.pages if default else [], "others": others}
    )


log = logging.getLogger(__name__)

# Shown only if 500.html itself cannot be rendered (a broken template or template engine).
BARE_500 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Something went wrong</title></head>
<body><main><h1>Something went wrong</h1>
<p>This page could not be shown because of a problem on our side. What you saved earlier is safe.
Please go back and try again in a moment.</p>
<p>If you are in danger or thinking of harming yourself, <a href="/crisis/">see crisis support
now</a>.</p></main></body></html>
"""


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page (handler500). Like Django's own, it renders without the request: no context
    processors, nothing of the request (address, query, what was typed) and no traceback; just
    the site's name. If even that fails, a fixed page that still links to crisis support."""
    try:
        body = loader.get_template("500.html").render({"site_name": settings.SITE_NAME})
    except Exception:
        log.exception("The 500 page could not be rendered; the bare one was sent")
        body = BARE_500
    return HttpResponseServerError(body)
