"""On a phone with no network, in a real Chromium: the service worker keeps the guide, the practices
and the person's Today page; an insight written offline waits on the device and is sent once when
the network is back; a logout leaves nothing of the person on the device.

(The live server is http://localhost: a secure context, where service workers run.)"""

import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser
EMAIL = "river@example.com"
GUIDE_PAGE = "/guide/nervous-system-regulation/"
PRACTICE = "/practices/grounding/"
INSIGHT = "The fear was smaller than the story about it."


@pytest.fixture(autouse=True)
def offline_on(settings):
    """The service worker is off in the other browser tests (tests/pytest_env.py)."""
    settings.OFFLINE = True


def setup_person(email=EMAIL, name="River"):
    from django.utils import timezone

    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack
    from kap.journal.models import KapSession

    ensure_default_pack()
    user = User.objects.create_user(
        email, PASSWORD, role="client", display_name=name, onboarded_at=timezone.now()
    )
    session = KapSession.objects.create(
        client=user, starts_at=timezone.now() - timedelta(hours=4), status="completed"
    )
    return user, session


def until(check, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds} s for {what}")


def controlled(page):
    """Wait until the service worker controls the page (it claims pages when it starts)."""
    until(lambda: page.evaluate("!!navigator.serviceWorker.controller"), "the service worker")


KEPT = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    out[name] = (await cache.keys()).map((r) => new URL(r.url).pathname);
  }
  return out;
}"""


def kept(page) -> dict[str, list[str]]:
    """Every cache of the site and the paths in it."""
    return page.evaluate(KEPT)


def person_caches(page) -> dict[str, list[str]]:
    return {name: paths for name, paths in kept(page).items() if "-person-" in name}


def wait_kept_for(page, user, *paths):
    def ready():
        caches = person_caches(page)
        mine = caches.get(next((n for n in caches if n.endswith(f"-person-{user.pk}")), ""), [])
        return set(paths) <= set(mine)

    until(ready, f"{paths} kept for {user.email}")


def log_out_button(page):
    button = page.get_by_role("button", name="Log out")
    if not button.is_visible():  # on a phone, under "More"
        page.locator("details:has(form[action='/logout/']) > summary").click()
    return button


def log_out(page):
    with page.expect_navigation():  # once what waits on the device is sent (register.js)
        log_out_button(page).click()


def practice_logs():
    from kap.practices.models import PracticeLog

    return PracticeLog.objects.count()


def insights():
    from kap.journal.models import Insight

    return list(Insight.objects.values_list("text", flat=True))


@pytest.mark.django_db(transaction=True)
def test_the_guide_practices_and_today_open_offline_and_an_insight_is_sent_once(page, live_server):
    user, session = setup_person()
    browser_login(page, EMAIL)
    controlled(page)
    page.goto(f"/sessions/{session.pk}/")
    # Right after login the worker keeps this person's pages, including those never opened.
    wait_kept_for(page, user, "/", GUIDE_PAGE, PRACTICE, f"/sessions/{session.pk}/")
    shared = next(name for name in kept(page) if name.endswith("-shared"))
    assert "/static/kap/app.css" in kept(page)[shared]
    assert "/" not in kept(page)[shared]  # Today is never kept for anyone but its person

    page.context.set_offline(True)

    # An insight written with no network: kept on the device, encrypted, and listed.
    page.get_by_label("What stood out?").fill(INSIGHT)
    page.get_by_role("button", name="Save insight").click()
    expect(page.locator("#insight-outbox-status")).to_contain_text("offline")
    waiting = page.locator("#insight-outbox")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text("Waiting to send")
    expect(waiting).to_contain_text(INSIGHT)
    assert page.get_by_label("What stood out?").input_value() == ""
    assert not axe_violations(page)
    assert insights() == []
    stored = page.evaluate(
        """() => new Promise((resolve) => {
          const open = indexedDB.open("kap-offline");
          open.onsuccess = () => {
            const req = open.result.transaction("outbox").objectStore("outbox").getAll();
            req.onsuccess = () => resolve(req.result.map((r) => ({
              keys: Object.keys(r).sort(),
              bytes: Array.from(new Uint8Array(r.data)),
            })));
          };
        })"""
    )
    assert len(stored) == 1
    assert stored[0]["keys"] == ["at", "data", "id", "iv", "person", "refused"]
    assert INSIGHT.encode() not in bytes(stored[0]["bytes"])  # encrypted at rest

    # The guide, a practice and Today, reloaded with no network.
    for path, heading in [
        (GUIDE_PAGE, "Nervous System Regulation"),
        (PRACTICE, "Grounding"),
        ("/", "Hello, River"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        expect(page.locator("#offline-note")).to_contain_text("You are offline")
    page.goto(PRACTICE)
    page.get_by_role("button", name="Start").click()  # its scripts come from the device too
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    # A page that is not kept says so, instead of the browser's error.
    page.goto("/timeline/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
    assert not axe_violations(page)

    # Back to the session's page (kept): the insight still waits there.
    page.goto(f"/sessions/{session.pk}/")
    expect(page.locator("#insight-outbox")).to_contain_text(INSIGHT)

    # The network is back: sent once, however many pages send it at the same time.
    page.context.set_offline(False)
    second = page.context.new_page()
    second.goto(f"/sessions/{session.pk}/")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    until(lambda: insights() == [INSIGHT], "the insight to be saved")
    expect(page.locator("#insight-outbox")).to_be_hidden()
    page.reload()
    expect(page.locator("#insights > ul.record-list")).to_contain_text(INSIGHT)
    expect(page.locator("#insight-outbox")).to_be_hidden()
    second.close()
    time.sleep(0.5)
    assert insights() == [INSIGHT]

    # The practice left offline waits on the device too: logging out says so first, and does
    # not log out until asked again; opening Practices saves it.
    log_out_button(page).click()
    expect(page.get_by_role("alert")).to_contain_text("A practice you did here has not been saved")
    assert page.url.endswith(f"/sessions/{session.pk}/")
    page.goto("/practices/")
    until(lambda: practice_logs() == 1, "the practice to be saved")

    # Logging out clears the device: no page of this person, no outbox, no key.
    log_out(page)
    assert person_caches(page) == {}
    databases = page.evaluate("indexedDB.databases().then((d) => d.map((x) => x.name))")
    assert "kap-offline" not in databases
    controlled(page)  # the worker is gone with the rest; the next page starts a new one
    assert person_caches(page) == {}
    page.context.set_offline(True)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
    assert "River" not in page.content()
    assert page.requests.foreign(live_server.url) == []


@pytest.mark.django_db(transaction=True)
def test_an_insight_written_online_is_saved_at_once(page, live_server):
    _user, session = setup_person()
    browser_login(page, EMAIL)
    page.goto(f"/sessions/{session.pk}/")
    page.get_by_label("What stood out?").fill(INSIGHT)
    page.get_by_role("button", name="Save insight").click()
    expect(page.locator(".messages")).to_contain_text("Insight saved.")
    expect(page.locator("#insights > ul.record-list")).to_contain_text(INSIGHT)
    assert insights() == [INSIGHT]
    assert page.evaluate("KapOffline.count()") == 0


@pytest.mark.django_db(transaction=True)
def test_a_login_that_expired_leaves_no_page_of_the_person_for_the_next(page, live_server):
    river, _session = setup_person()
    sky, _ = setup_person("sky@example.com", "Sky")
    browser_login(page, EMAIL)
    controlled(page)
    page.reload()
    wait_kept_for(page, river, "/")
    # River walks away; the login expires; Sky picks up the phone.
    page.context.clear_cookies(name="sessionid")
    page.goto("/login/")
    assert person_caches(page) == {}
    browser_login(page, "sky@example.com")
    page.reload()
    wait_kept_for(page, sky, "/")
    assert list(person_caches(page)) == [
        name for name in person_caches(page) if name.endswith(f"-person-{sky.pk}")
    ]
    page.context.set_offline(True)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Sky")


@pytest.mark.django_db(transaction=True)
def test_a_new_version_deletes_the_caches_of_the_one_before(page, live_server):
    from kap.content.crisis import default_pack

    river, _session = setup_person()
    browser_login(page, EMAIL)
    controlled(page)
    page.reload()
    wait_kept_for(page, river, "/")
    before = {name.split("-")[1] for name in kept(page)}
    assert len(before) == 1
    # A reloaded guide (or a new release) makes a new worker, which takes over at once.
    pack = default_pack()
    pack.checksum = "f" * 64
    pack.save(update_fields=["checksum"])
    page.evaluate("navigator.serviceWorker.getRegistration().then((r) => r.update())")
    until(lambda: before.isdisjoint(n.split("-")[1] for n in kept(page)), "the old caches to go")
    page.reload()
    wait_kept_for(page, river, "/")
    assert len({name.split("-")[1] for name in kept(page)}) == 1


@pytest.mark.django_db(transaction=True)
def test_logging_out_with_no_network_says_so_and_forgets_the_persons_pages(page, live_server):
    river, _session = setup_person()
    browser_login(page, EMAIL)
    controlled(page)
    page.reload()
    wait_kept_for(page, river, "/")
    page.context.set_offline(True)
    log_out_button(page).click()
    expect(page.get_by_role("alert")).to_contain_text("not logged out yet")
    assert person_caches(page) == {}
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("You are offline")
