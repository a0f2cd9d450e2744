"""Every URL but the public guide, login, sign-up and crisis page asks visitors to log in."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public on purpose: the guide, crisis support, sign-up and login; a calendar feed and an
# invitation are reached by an unguessable token instead of a login.
PUBLIC = {
    "home",
    "guide-index",
    "guide-page",
    "guide-pack-page",
    "crisis",
    # The living style guide: the design system, no one's data (kap.views.style_guide says why).
    "style-guide",
    "signup",
    "login",
    "journal:calendar-feed",
    "invite",
    # Typing an invitation's code: the invitation's page lets someone without an account make one.
    "invite-code",
    # The first-run set-up (a code from the server's console) and password reset.
    "setup",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    # Probes for a load balancer: "ok" or the names of failing checks, nothing else (tests/ops).
    "ops:healthz",
    "ops:readyz",
    # The app on a phone: the service worker and the manifest (the same for everyone, naming no
    # one) and the page shown offline (tests/offline).
    "offline:service-worker",
    "offline:manifest",
    "offline:page",
    # Choosing the language: a visitor's choice is a cookie (tests/i18n/test_language_choice.py).
    "language",
}
SAMPLE_ARGS = {
    "slug": "first-session",
    "pk": "1",
    "token": "x" * 32,
    "key": "phq9",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def walk(patterns, prefix="", namespace=""):
    """Every route with its name as `reverse()` spells it (`ns:name` inside a namespace), so that
    a public name in one app never makes a same-named route of another app public."""
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield (f"{namespace}{p.name}" if p.name else None), prefix + str(p.pattern)


def concrete(route: str) -> str:
    import re

    def fill(m):
        conv, name = m.group(1), m.group(2)
        if conv == "int":
            return "1"
        return SAMPLE_ARGS.get(name, "x")

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


def all_routes():
    return [(name, concrete(route)) for name, route in walk(get_resolver().url_patterns)]


def test_the_urlconf_has_routes():
    names = {name for name, _ in all_routes()}
    assert {"home", "guide-index", "guide-page", "crisis", "signup", "login"} <= names
    assert len(names) > 30


@pytest.mark.django_db
@pytest.mark.parametrize("name, url", all_routes())
def test_anonymous_visitors_must_log_in(client, guide, name, url):
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        if name in PUBLIC:
            # /readyz says 503 "not ready: worker" here: no worker runs in this test; /language/
            # says 400 when no language is named.
            ready = {"ops:readyz": (503,), "language": (400,)}.get(name, ())
            assert response.status_code in (200, 302, 404, 405, *ready), (method, url)
            if response.status_code == 302:
                assert "/login/" not in response["Location"], url
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith("/login/?next="), url
