"""Every page, as each persona, on a phone (390 × 844) and a desktop (1280 × 800), light and dark.

A page fails when it scrolls sideways, when a control is smaller than 44 × 44 px (WCAG 2.5.5:
buttons, fields, links styled as buttons or in a navigation; a link inside a sentence is
excepted, and a radio or checkbox counts by its label, which is what a finger presses), when the
header is taller than 64 px on the phone, or when axe-core finds anything.

One browser and one live server for the whole module: the people and their records are made
once (module-scoped), each persona logs in once per test by a session cookie made on the server.

`KAP_SCREENSHOTS=DIR pytest tests/browser/test_layout_in_chromium.py -k screenshots` also saves
the screenshots kept in docs/screens/ (the screens the issue names, 390 × 844).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, axe_violations

pytestmark = [
    pytest.mark.browser,
    # How a page is laid out does not depend on the database: like the escaping and origin tours
    # (tests/security), these run in the SQLite pass of CI and are not repeated on PostgreSQL.
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL")),
        reason="every page's layout in Chromium; runs in the SQLite pass, not again on PostgreSQL",
    ),
]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SIZES = {"phone": PHONE, "desktop": DESKTOP}
SCHEMES = ("light", "dark")
MIN_TARGET = 44
MAX_PHONE_HEADER = 64


@dataclass
class People:
    client: object = None
    therapist: object = None
    admin: object = None
    device_ids: dict = field(default_factory=dict)
    ids: dict = field(default_factory=dict)


def make_people() -> People:
    """A client with a few weeks of records, linked to a therapist at a clinic with an admin."""
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import CareLink, Clinic, Role, Scope, User
    from kap.content.models import Instrument
    from kap.content.sync import ensure_default_pack
    from kap.journal.models import ActionStep, Insight, KapSession, QuestionToBring
    from kap.journal.services import submit_response
    from kap.practices.models import PracticeLog
    from kap.practices.services import record_practice

    ensure_default_pack()
    people = People()
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    people.admin = User.objects.create_user(
        "admin@example.com", PASSWORD, role=Role.ADMIN, display_name="Pat Admin", clinic=clinic
    )
    people.therapist = User.objects.create_user(
        "dr.lee@example.com", PASSWORD, role=Role.THERAPIST, display_name="Dr Lee", clinic=clinic
    )
    for staff in (people.admin, people.therapist):
        device = TOTPDevice.objects.create(user=staff, name="Authenticator app", confirmed=True)
        people.device_ids[staff.pk] = device.persistent_id
    alex = people.client = User.objects.create_user(
        "alex@example.com", PASSWORD, role=Role.CLIENT, display_name="Alex Rivera"
    )
    CareLink.objects.create(client=alex, therapist=people.therapist, scopes=list(Scope.values))

    now = timezone.now()
    first = KapSession.objects.create(
        client=alex,
        starts_at=now - timedelta(days=20),
        status=KapSession.Status.COMPLETED,
        clinician_name="Dr Lee",
    )
    KapSession.objects.create(
        client=alex,
        starts_at=now - timedelta(days=6),
        status=KapSession.Status.COMPLETED,
        clinician_name="Dr Lee",
    )
    KapSession.objects.create(
        client=alex, starts_at=now + timedelta(days=8), clinician_name="Dr Lee"
    )
    Insight.objects.create(client=alex, session=first, text="The fear was smaller than I thought")
    people.ids["step"] = ActionStep.objects.create(
        client=alex, session=first, text="Walk by the lake on Sundays"
    ).pk
    QuestionToBring.objects.create(client=alex, text="Can I bring my own music?")

    def answer(key: str, answers: dict, days_ago: int):
        instrument = Instrument.objects.current().get(key=key)
        response = submit_response(
            client=alex, instrument=instrument, session=None, answers=answers
        ).response
        type(response).objects.filter(pk=response.pk).update(
            submitted_at=now - timedelta(days=days_ago)
        )
        return response

    options = ["not-at-all", "several-days", "more-than-half", "nearly-every-day"]
    for days_ago, level in ((21, 2), (14, 1), (7, 1), (1, 0)):
        phq9 = answer(
            "phq9", {f"q{i}": options[level if i < 9 else 0] for i in range(1, 10)}, days_ago
        )
        answer("gad7", {f"q{i}": options[level] for i in range(1, 8)}, days_ago)
    people.ids["response"] = phq9.pk
    grounding = Instrument.objects.current().get(key="grounding")
    for days_ago in (5, 2):
        record_practice(
            client=alex,
            uuid=uuid.uuid4(),
            instrument=grounding,
            started_at=now - timedelta(days=days_ago),
            planned_seconds=300,
            elapsed_seconds=300,
            completed=True,
            settled_before=4,
            settled_after=7,
        )
    people.ids["practice_log"] = PracticeLog.objects.filter(client=alex).first().pk
    people.ids["session"] = first.pk
    return people


def session_cookie(user, device_id: str | None) -> dict:
    """A logged-in session for `user` (past the second factor for staff), as a cookie."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    if device_id:
        from django_otp import DEVICE_ID_SESSION_KEY

        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device_id
        session.save()
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }


@dataclass
class World:
    server: object
    people: People
    cookies: dict


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The live server, the people and a logged-in session for each, made once for the module and
    committed; each test runs in a transaction of its own (`db`) that is rolled back. Afterwards
    the tables are emptied and the guide loaded again, as the session's set-up left them."""
    from django.core.management import call_command
    from pytest_django.live_server_helper import LiveServer

    from kap.content.sync import ensure_default_pack

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)
        server = LiveServer("localhost")
        try:
            people = make_people()
            cookies = {
                persona: session_cookie(user, people.device_ids.get(user.pk))
                for persona in ("client", "therapist", "admin")
                if (user := getattr(people, persona))
            }
            yield World(server, people, cookies)
        finally:
            server.stop()
            call_command("flush", interactive=False, verbosity=0)
            ensure_default_pack()


def open_as(browser, world: World, persona: str, size: str, scheme: str, locale: str = "en-US"):
    context = browser.new_context(
        base_url=world.server.url,
        viewport=SIZES[size],
        color_scheme=scheme,
        reduced_motion="reduce",
        locale=locale,  # the browser's Accept-Language: what a visitor, or a person who has not
        # chosen a language, reads the app in
    )
    if persona in world.cookies:
        context.add_cookies([{**world.cookies[persona], "url": world.server.url}])
    return context


def pages(people: People) -> dict[str, list[str]]:
    """Every page each persona can open (GET), with the records made above."""
    from kap.content.models import Instrument, Page

    ids = people.ids
    guide = list(Page.objects.values_list("slug", flat=True)[:1])
    instruments = Instrument.objects.current().exclude(kind="practice")
    keys = sorted(instruments.values_list("key", flat=True).distinct())
    everyone = ["/guide/", *[f"/guide/{slug}/" for slug in guide], "/crisis/", "/style/"]
    return {
        "anonymous": [
            "/",
            "/login/",
            "/signup/",
            "/password-reset/",
            "/no-such-page/",
            *everyone,
        ],
        "client": [
            "/",
            "/sessions/",
            "/sessions/new/",
            f"/sessions/{ids['session']}/",
            f"/sessions/{ids['session']}/edit/",
            "/check-ins/",
            *[f"/i/{key}/" for key in keys],
            f"/r/{ids['response']}/",
            "/practices/",
            "/practices/grounding/",
            "/practices/grounding/note/",
            f"/practices/{ids['practice_log']}/",
            "/progress/",
            "/progress/summary/",
            "/progress/blank/integration-worksheet/",
            "/reminders/",
            "/timeline/",
            "/steps/",
            "/steps/new/",
            f"/steps/{ids['step']}/check-in/",
            "/questions/",
            "/questions/new/",
            "/support/",
            "/account/",
            "/account/password/",
            "/account/sharing/",
            "/account/sharing/views/",
            "/invite/",
            "/data/",
            "/data/delete/",
            *everyone,
        ],
        "therapist": [
            "/care/",
            f"/care/clients/{people.client.pk}/",
            f"/care/clients/{people.client.pk}/brief/",
            "/care/invite/",
            "/account/",
            "/account/two-factor/",
            *everyone,
        ],
        "admin": [
            "/care/clinic/",
            "/care/clinic/invitations/",
            "/care/clinic/packs/",
            "/care/clinic/admins/add/",
            "/account/",
            *everyone,
        ],
    }


# What is measured on each page, in the page. A control is a button, a field, a <summary>, a
# link drawn as a button (.button, role=button) or a link in a navigation or among the tiles;
# a radio or checkbox is measured by its label (what a finger presses; the box may be hidden).
# A link inside a sentence is not a control (WCAG 2.5.5's exception for inline targets).
MEASURE = """() => {
  const CONTROLS = 'button, input:not([type=hidden]), select, textarea, summary, '
    + 'a.button, a[role=button], nav a, .tiles a';
  const shown = (el) => el.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true});
  const name = (el) => {
    const text = (el.getAttribute('aria-label') || el.innerText || el.value || el.name || '')
      .trim().replace(/\\s+/g, ' ').slice(0, 40);
    return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''} "${text}"`;
  };
  const small = [];
  for (const el of document.querySelectorAll(CONTROLS)) {
    let box = el;
    if (el.matches('input[type=radio], input[type=checkbox]')) {
      const label = el.labels && el.labels[0];
      if (label && shown(label)) box = label;
      else if (!shown(el)) continue;
    } else if (!shown(el)) continue;
    const r = box.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width < 43.5 || r.height < 43.5) {
      small.push(`${name(el)} is ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  // The innermost elements that stick out on the right, to say what made the page scroll.
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => shown(el) && el.getBoundingClientRect().right > window.innerWidth + 1
      && ![...el.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 3).map(name);
  const header = document.querySelector('.site-header');
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    header: header ? header.getBoundingClientRect().height : 0,
    small,
    wide,
  };
}"""


def problems_on(tab, url: str, size: str) -> list[str]:
    from playwright.sync_api import Error

    from tests.browser.test_journey_in_chromium import describe

    found = []
    try:
        response = tab.goto(url)
    except Error as e:
        return [f"{url}: {str(e).splitlines()[0]}"]
    status = response.status if response else 0
    if status >= 400 and url != "/no-such-page/":
        return [f"{url}: answered {status}"]
    if "/login/" in tab.url and url != "/login/":
        return [f"{url}: sent to the login page"]
    tab.wait_for_load_state("load")
    m = tab.evaluate(MEASURE)
    if m["scrollWidth"] > m["innerWidth"]:
        found.append(
            f"{url}: scrolls sideways ({m['scrollWidth']} > {m['innerWidth']} px; "
            f"widest: {', '.join(m['wide'])})"
        )
    if size == "phone" and m["header"] > MAX_PHONE_HEADER:
        found.append(f"{url}: the header is {m['header']:.0f} px tall (at most {MAX_PHONE_HEADER})")
    found += [f"{url}: {s} (under {MIN_TARGET} x {MIN_TARGET} px)" for s in m["small"]]
    if violations := axe_violations(tab):
        found.append(f"{url}: axe: {describe(violations)}")
    return found


def tour(browser, world: World, persona: str, size: str, scheme: str, locale: str = "en-US"):
    """Every page the persona can open, in one tab: what is wrong on each, and script errors.
    In a browser asking for another language than English, each page must be in it."""
    context = open_as(browser, world, persona, size, scheme, locale=locale)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    problems: list[str] = []
    language = locale.split("-")[0]
    try:
        for url in pages(world.people)[persona]:
            problems += problems_on(tab, url, size)
            if language != "en" and tab.locator("html").get_attribute("lang") != language:
                problems.append(f"{url}: not in the browser's language ({language})")
    finally:
        context.close()
    return problems + [f"script error: {e}" for e in errors]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("persona", ["anonymous", "client", "therapist", "admin"])
def test_every_page_fits_has_large_targets_and_no_axe_violation(
    world, db, browser, persona, size, scheme
):
    problems = tour(browser, world, persona, size, scheme)
    assert not problems, f"{persona}, {size}, {scheme}:\n" + "\n".join(problems)


@pytest.mark.parametrize("persona", ["anonymous", "client", "therapist", "admin"])
def test_in_spanish_every_page_still_fits_a_phone_with_large_targets_and_no_axe_violation(
    world, db, browser, persona
):
    """Spanish runs longer than English: the same tour on a phone, in a Spanish browser."""
    problems = tour(browser, world, persona, "phone", "light", locale="es-MX")
    assert not problems, f"{persona}, phone, Spanish:\n" + "\n".join(problems)


def test_the_phone_shows_the_main_places_in_a_bar_and_the_rest_under_more(world, db, browser):
    context = open_as(browser, world, "client", "phone", "light")
    tab = context.new_page()
    try:
        tab.goto("/")
        nav = tab.get_by_role("navigation", name="Main")
        for place in ("Today", "Sessions", "Check-ins", "Practices", "Progress"):
            box = nav.get_by_role("link", name=place, exact=True).bounding_box()
            # in the bar at the bottom of the screen, whatever the page's length
            assert box and box["y"] + box["height"] > PHONE["height"] - 70, (place, box)
        assert (
            tab.get_by_role("link", name="Today", exact=True).get_attribute("aria-current")
            == "page"
        )
        timeline = nav.get_by_role("link", name="Timeline")
        assert not timeline.is_visible()
        more = nav.locator("summary", has_text="More")
        more.click()
        assert timeline.is_visible()
        tab.keyboard.press("Escape")  # closes, as a menu does (kap/static/kap/nav.js)
        assert not timeline.is_visible()
        more.click()
        timeline.click()
        tab.wait_for_url("**/timeline/")
        assert not nav.get_by_role("link", name="Timeline").is_visible()  # closed again
        assert "here" in (nav.locator("details.more").get_attribute("class") or "")
        crisis = tab.get_by_role("banner").get_by_role("link", name="Crisis support")
        tab.mouse.wheel(0, 2000)
        assert crisis.is_visible() and crisis.bounding_box()["y"] >= 0
    finally:
        context.close()


SCREENS = {
    "today": ("client", "/"),
    "questionnaire": ("client", "/i/phq9/"),
    "pacer": ("client", "/practices/grounding/"),
    "progress": ("client", "/progress/"),
    "roster": ("therapist", "/care/"),
}


@pytest.mark.skipif(not os.environ.get("KAP_SCREENSHOTS"), reason="set KAP_SCREENSHOTS=DIR")
def test_screenshots(world, db, browser):
    out = Path(os.environ["KAP_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    prefix = os.environ.get("KAP_SCREENSHOTS_PREFIX", "after")
    sizes = os.environ.get("KAP_SCREENSHOTS_SIZES", "phone").split(",")
    schemes = os.environ.get("KAP_SCREENSHOTS_SCHEMES", "light,dark").split(",")
    only = os.environ.get("KAP_SCREENSHOTS_ONLY")
    screens = dict(SCREENS)
    for extra in filter(None, os.environ.get("KAP_SCREENSHOTS_EXTRA", "").split(",")):
        name, persona, path = extra.split(":", 2)
        screens[name] = (persona, path)
    for name, (persona, path) in screens.items():
        if only and name not in only.split(","):
            continue
        for size in sizes:
            for scheme in schemes:
                context = open_as(browser, world, persona, size, scheme)
                tab = context.new_page()
                tab.goto(path)
                more = tab.locator("details.more > summary")
                if name.endswith("-menu") and more.is_visible():  # with "More" open
                    more.click()
                suffix = f"-{scheme}" if prefix != "before" else ""
                size_part = "" if size == "phone" else f"-{size}"
                base = f"{prefix}-{name}{size_part}{suffix}"
                if parts := int(os.environ.get("KAP_SCREENSHOTS_PARTS", "0")):
                    # The whole page, in pieces one can look at (the first `parts` screens).
                    height = SIZES[size]["height"]
                    for n in range(parts):
                        tab.evaluate(f"window.scrollTo(0, {n * (height - 120)})")
                        tab.screenshot(path=str(out / f"{base}-{n}.png"))
                else:
                    tab.screenshot(path=str(out / f"{base}.png"))
                context.close()


def test_a_desktop_shows_every_place_in_one_row_with_nothing_to_open(world, db, browser):
    context = open_as(browser, world, "client", "desktop", "light")
    tab = context.new_page()
    try:
        tab.goto("/")
        nav = tab.get_by_role("navigation", name="Main")
        tops = set()
        for place in ("Today", "Progress", "Reminders", "Timeline", "Guide", "Account"):
            link = nav.get_by_role("link", name=place, exact=True)
            assert link.is_visible(), place
            tops.add(round(link.bounding_box()["y"]))
        assert nav.get_by_role("button", name="Log out").is_visible()
        assert len(tops) == 1, tops  # one row under the brand
        nav.get_by_role("link", name="Guide").click()
        tab.wait_for_url("**/guide/")
        # the page's own column sits in the middle of the screen, not at its left
        box = tab.locator("main > .narrow").bounding_box()
        left, right = box["x"], DESKTOP["width"] - box["x"] - box["width"]
        assert abs(left - right) < 24, (left, right)
    finally:
        context.close()
