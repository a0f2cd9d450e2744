"""Zero third-party requests: every page of the app, as each person who can see it, in Chromium.

The URLConf is walked (so pages added later are toured without changing this file) and each path
parameter is filled from a populated database (tests/security/support.py: a client with records
of every kind, a therapist linked with every scope and a clinic admin, both past their second
factor, invitations, a calendar feed). Every route is first asked for by each persona with
Django's test client (anonymous, client, therapist, admin); then every route that answers a page
(or, for a small action URL, a redirect to its page) is opened in Chromium as each persona it
answers. On each: no request leaves this origin (page.requests.foreign() == []), no response is a
5xx, no Content-Security-Policy violation (a blocked third-party load never shows up as a
request), no dialog, and no markup the app's templates never produce.

Nothing a person writes travels in a URL. The client's records carry a canary phrase; no request
made in the tour, and no link, form action or source on any page, may contain it, with one
exception, decided here: the timeline's search term (`/timeline/?q=...`), which the person types
into a GET search form themselves. It is kept because the search is the person's own, on their
own server, and a GET keeps "back" and reloading working; it never reaches anyone else (no third-
party requests, Referrer-Policy: same-origin, Cache-Control: no-store on logged-in pages). What
remains: the term is in the browser's history and in the server's or proxy's access log, so a
clinic should not log query strings (or the search could become a POST).

Routes that are not pages are reported, not silently passed: POST-only actions (a 405 to whoever
may use them), downloads (a non-HTML 200: JSON, ZIP, PDF, iCalendar), and anything else (a 404 because
no object in the database fits, a page under construction that fails) fails the test with the
status each persona got.
"""

import os
import re
from collections import defaultdict
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import pytest
from django.test import Client

from tests.conftest import RequestLog, browser_login
from tests.security.support import (
    browser_login_verified,
    build_world,
    concrete_urls,
    new_watched_tab,
    verified_test_client,
    walk,
)

pytestmark = [
    pytest.mark.browser,
    # What the browser is sent does not depend on the database: the tour runs in the SQLite pass
    # of CI and is not repeated in the PostgreSQL one (it is the longest part of the suite).
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="a Chromium tour of where pages load from; runs in the SQLite pass, not again on PostgreSQL",
    ),
]

CANARY = "Velvet-Lighthouse-4417"
PERSONAS = ("anonymous", "client", "therapist", "admin")
# Routes the tour leaves out on purpose, with the reason. Keep it short.
EXCEPTIONS = {
    "logout": "logging out ends the tour's session; POST only anyway",
    "language": "an action, not a page: it sets the language and goes back (tests/i18n)",
}
# Parameters whose every value is its own page (the guide's pages, the instruments).
ENUMERATED = {"slug", "key"}


def canary_in(url: str) -> bool:
    """Whether the canary is in the URL, leaving out the timeline's own search term."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.path == "/timeline/":
        query = [(k, v) for k, v in query if k != "q"]
    rest = unquote_plus(parts.path + "?" + urlencode(query) + "#" + parts.fragment)
    return CANARY.lower() in rest.lower()


def outcome(response) -> str:
    status = response.status_code
    if status == 200:
        return "page" if "text/html" in response.get("Content-Type", "") else "download"
    if status in (301, 302, 303):
        return "login" if response["Location"].startswith("/login/") else "redirect"
    return str(status)


@pytest.mark.django_db(transaction=True)
def test_every_page_loads_from_this_origin_only(browser, live_server, capsys):
    lines = "\n".join(f"{CANARY} line {i}: what I might do next" for i in range(3))
    world = build_world(
        [f"{CANARY} insight {i}" for i in range(3)],
        lines,
        display_name=f"Alex {CANARY}",
        clinician_names=[f"Dr {CANARY}", "Dr Rivera"],
        therapist_notes=[f"{CANARY} a note"],
    )
    anonymous, client = Client(), Client()
    client.force_login(world.client)
    probes = {
        "anonymous": anonymous,
        "client": client,
        "therapist": verified_test_client(world.therapist, world.devices[world.therapist.email]),
        "admin": verified_test_client(world.admin, world.devices[world.admin.email]),
    }

    # 1. Ask every route of every persona (Django's test client: quick, and no browser needed).
    routes = list(walk())
    to_visit: dict[str, list[tuple[str, str]]] = defaultdict(list)
    seen: dict[str, dict[str, str]] = {}  # route name -> persona -> outcome
    for name, route in routes:
        urls = concrete_urls(route, world)
        seen[name] = {}
        if not urls:
            seen[name] = dict.fromkeys(PERSONAS, "no way to fill its parameters")
            continue
        every = bool(set(re.findall(r"<(?:\w+:)?(\w+)>", route)) & ENUMERATED)
        for persona, http in probes.items():
            results = []
            for url in urls:
                result = outcome(http.get(url))
                results.append(result)
                if result in ("page", "redirect") and name not in EXCEPTIONS:
                    to_visit[persona].append((name, url))
                if result in ("page", "redirect", "download") and not every:
                    break
            best = next((r for r in ("page", "redirect", "download") if r in results), results[-1])
            seen[name][persona] = best

    def kind(name: str) -> str:
        got = set(seen[name].values())
        for k in ("page", "redirect", "download"):
            if k in got:
                return k
        if "405" in got:  # and no one gets a page: an action that takes a POST
            return "POST only"
        return "not reached"

    kinds = {name: kind(name) for name, _ in routes}

    # 2. Open every page in Chromium as each persona it answers.
    failures, requests, visited = [], RequestLog(), defaultdict(list)
    for persona in PERSONAS:
        if not to_visit[persona]:
            continue
        w = new_watched_tab(browser, live_server)
        page = w.page
        if persona == "client":
            browser_login(page, world.client.email)
        elif persona in ("therapist", "admin"):
            user = getattr(world, persona)
            browser_login_verified(page, user.email, world.devices[user.email])
        for name, url in to_visit[persona]:
            problems = w.visit(url, status=200, strict_requests=False)
            problems += [f"canary in a link: {u}" for u in w.last_scan["urls"] if canary_in(u)]
            if problems:
                failures.append(f"{persona} {url} ({name}): " + "; ".join(problems[:8]))
            visited[persona].append(url)
        if persona == "client":  # the one place a person's words may be in a URL
            w.visit("/timeline/")
            page.get_by_label("Search your words").fill(CANARY)
            page.get_by_role("button", name="Search").click()
            page.wait_for_load_state("load")
            assert CANARY.lower() in unquote_plus(page.url).lower()
            assert page.get_by_text(f"{CANARY} insight 0").count()
        requests += [url for _, url, _, _ in w.all_requests]
        failures += [f"{persona}: {status} from {url}" for status, url in w.server_errors()]
        page.context.close()

    # 3. The summary, then the verdicts.
    summary = ["", "Same-origin tour: pages visited per persona"]
    for persona in PERSONAS:
        summary.append(f"  {persona}: {len(visited[persona])}")
    by_kind = defaultdict(list)
    for name, k in kinds.items():
        by_kind[k].append(name)
    for k in ("page", "redirect", "download", "POST only", "not reached"):
        summary.append(f"  routes ({k}): {len(by_kind[k])}")
        if k != "page":
            summary += [f"    {n}: {seen[n]}" for n in by_kind[k]]
    summary += [f"  left out on purpose: {n} ({why})" for n, why in EXCEPTIONS.items()]
    with capsys.disabled():
        print("\n".join(summary))

    assert requests.foreign(live_server.url) == []
    assert [u for u in requests if canary_in(u)] == []
    assert failures == [], "\n".join(failures)
    unreached = [n for n in by_kind["not reached"] if n not in EXCEPTIONS]
    assert unreached == [], "\n".join(f"{n}: {seen[n]}" for n in unreached) + "\n".join(summary)
    get_routes = [n for n, k in kinds.items() if k not in ("POST only", "download")]
    n_expected = len(get_routes) - len([n for n in EXCEPTIONS if n in get_routes])
    n_visited = len({name for p in PERSONAS for name, _ in to_visit[p]})
    assert n_visited >= n_expected, "\n".join(summary)
