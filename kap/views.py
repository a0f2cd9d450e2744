from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.http import require_safe

from kap.accounts.models import User


@login_not_required
def home(request: HttpRequest) -> HttpResponse:
    """A visitor's welcome, a client's Today; staff start where their work is: a therapist on
    their clients (the roster), a clinic admin on the clinic's page. (Both ask for the second
    factor first, if this login has not passed it yet.)"""
    user = request.user
    if not user.is_authenticated:
        first_run = not User.objects.exists()
        return render(
            request,
            "home/welcome.html",
            {"first_run": first_run, "open_signup": settings.OPEN_SIGNUP},
        )
    if user.is_client:
        if user.onboarded_at is None:  # just signed up: three short, skippable first steps
            return redirect("welcome:session")
        from kap.journal.views import today

        return today(request)
    if user.is_therapist:
        return redirect("care:roster")
    return redirect("care:clinic")


class LoginView(auth_views.LoginView):
    """Django's login view names the site after the request's host ("127.0.0.1:8000"), which
    would then be the brand, the title and the footer; the product's name it is, always."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["site_name"] = settings.SITE_NAME
        return context


@login_not_required
@require_safe
def style_guide(request: HttpRequest) -> HttpResponse:
    """The living style guide: every token and component of app.css, rendered by the app's own
    templates. Open to everyone, like the guide: it shows no one's data, and whoever adapts the
    look for a clinic (or checks a contrast) needs no account to see it."""
    return render(
        request,
        "style_guide.html",
        {"tokens": STYLE_TOKENS, "illustrations": ILLUSTRATIONS, "icon_names": ICONS},
    )


# kap/static/kap/illustrations/: the drawings, and the symbols of icons.svg.
ILLUSTRATIONS = [
    "welcome",
    "calm",
    "sessions",
    "journal",
    "practice",
    "progress",
    "clients",
    "guide-explore",
    "guide-prepare",
    "guide-session",
    "guide-integrate",
    "guide-change",
]
ICONS = [
    "brand",
    "today",
    "sessions",
    "check-ins",
    "practices",
    "progress",
    "more",
    "guide",
    "home",
    "login",
    "clients",
    "invite",
    "clinic",
    "invitations",
    "packs",
    "heart",
    "account",
    "arrow",
    "steps",
    "support",
    "timeline",
    "summary",
]


# The tokens of kap/static/kap/app.css the style guide shows (tests/test_style_guide.py checks that
# each is defined there).
STYLE_TOKENS = {
    "colour": [
        ("--bg", "the page"),
        ("--surface", "cards, the header, menus"),
        ("--soft", "quiet panels: callouts, notes"),
        ("--fg", "text"),
        ("--muted", "secondary text, borders of fields"),
        ("--accent", "links, primary buttons"),
        ("--accent-fg", "text on the accent"),
        ("--accent-strong", "hover and pressed"),
        ("--accent-soft", "the current place, a chosen answer"),
        ("--line", "hairlines"),
        ("--focus", "the focus ring"),
        ("--ok", "done, saved"),
        ("--ok-soft", "behind a saved message"),
        ("--warn", "take care"),
        ("--warn-soft", "behind a warning"),
        ("--error", "a mistake to put right"),
        ("--error-soft", "behind an error"),
        ("--crisis", "crisis support, safety alerts"),
        ("--crisis-soft", "behind crisis support"),
    ],
    "type": [
        ("--step--1", "small print, the tab bar"),
        ("--step-0", "body text"),
        ("--step-1", "lead text, card titles"),
        ("--step-2", "second-level headings"),
        ("--step-3", "page headings on a phone"),
        ("--step-4", "page headings on a desktop"),
    ],
    "space": [
        ("--space-1", ".25rem"),
        ("--space-2", ".5rem"),
        ("--space-3", ".75rem"),
        ("--space-4", "1rem"),
        ("--space-5", "1.5rem"),
        ("--space-6", "2rem"),
        ("--space-7", "3rem"),
        ("--space-8", "4rem"),
    ],
    "shape": [
        ("--radius", "fields, small things"),
        ("--radius-lg", "cards, panels"),
        ("--radius-pill", "buttons, the places"),
        ("--target", "the smallest target: 44 px"),
        ("--measure", "a comfortable line of text"),
        ("--page", "the widest the page gets"),
        ("--gutter", "space at the sides"),
        ("--header-h", "the header on a phone"),
        ("--tabbar-h", "the bar at the bottom of a phone"),
        ("--shadow-1", "a card"),
        ("--shadow-2", "a menu"),
        ("--font-sans", "text"),
        ("--font-heading", "headings"),
        ("--font-mono", "codes and keys"),
    ],
}


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
