from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
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
        ("--bg", gettext_lazy("the page")),
        ("--surface", gettext_lazy("cards, the header, menus")),
        ("--soft", gettext_lazy("quiet panels: callouts, notes")),
        ("--fg", gettext_lazy("text")),
        ("--muted", gettext_lazy("secondary text, borders of fields")),
        ("--accent", gettext_lazy("links, primary buttons")),
        ("--accent-fg", gettext_lazy("text on the accent")),
        ("--accent-strong", gettext_lazy("hover and pressed")),
        ("--accent-soft", gettext_lazy("the current place, a chosen answer")),
        ("--line", gettext_lazy("hairlines")),
        ("--focus", gettext_lazy("the focus ring")),
        ("--ok", gettext_lazy("done, saved")),
        ("--ok-soft", gettext_lazy("behind a saved message")),
        ("--warn", gettext_lazy("take care")),
        ("--warn-soft", gettext_lazy("behind a warning")),
        ("--error", gettext_lazy("a mistake to put right")),
        ("--error-soft", gettext_lazy("behind an error")),
        ("--crisis", gettext_lazy("crisis support, safety alerts")),
        ("--crisis-soft", gettext_lazy("behind crisis support")),
    ],
    "type": [
        ("--step--1", gettext_lazy("small print, the tab bar")),
        ("--step-0", gettext_lazy("body text")),
        ("--step-1", gettext_lazy("lead text, card titles")),
        ("--step-2", gettext_lazy("second-level headings")),
        ("--step-3", gettext_lazy("page headings on a phone")),
        ("--step-4", gettext_lazy("page headings on a desktop")),
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
        ("--radius", gettext_lazy("fields, small things")),
        ("--radius-lg", gettext_lazy("cards, panels")),
        ("--radius-pill", gettext_lazy("buttons, the places")),
        ("--target", gettext_lazy("the smallest target: 44 px")),
        ("--measure", gettext_lazy("a comfortable line of text")),
        ("--page", gettext_lazy("the widest the page gets")),
        ("--gutter", gettext_lazy("space at the sides")),
        ("--header-h", gettext_lazy("the header on a phone")),
        ("--tabbar-h", gettext_lazy("the bar at the bottom of a phone")),
        ("--shadow-1", gettext_lazy("a card")),
        ("--shadow-2", gettext_lazy("a menu")),
        ("--font-sans", gettext_lazy("text")),
        ("--font-heading", gettext_lazy("headings")),
        ("--font-mono", gettext_lazy("codes and keys")),
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


BARE_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>
<p>{text}</p>
<p>{crisis}</p></main></body></html>
"""


def _bare_500() -> str:
    """BARE_500 in the language of the request; the English one if even that fails."""
    try:
        return BARE_PAGE.format(
            lang=get_language() or "en",
            title=_("Something went wrong"),
            text=_(
                "This page could not be shown because of a problem on our side. What you saved "
                "earlier is safe. Please go back and try again in a moment."
            ),
            crisis=_(
                'If you are in danger or thinking of harming yourself, <a href="%(url)s">see '
                "crisis support now</a>."
            )
            % {"url": "/crisis/"},
        )
    except Exception:
        return BARE_500


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page (handler500). Like Django's own, it renders without the request: no context
    processors, nothing of the request (address, query, what was typed) and no traceback; just
    the site's name. If even that fails, a fixed page that still links to crisis support."""
    try:
        body = loader.get_template("500.html").render({"site_name": settings.SITE_NAME})
    except Exception:
        log.exception("The 500 page could not be rendered; the bare one was sent")
        body = _bare_500()
    return HttpResponseServerError(body)
