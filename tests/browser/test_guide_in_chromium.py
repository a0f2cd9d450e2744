"""The guide in a real Chromium: same-origin requests only, and no axe-core violations."""

import pytest
from playwright.sync_api import expect

from tests.conftest import axe_violations, browser_login

pytestmark = pytest.mark.browser


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


@pytest.mark.django_db(transaction=True)
def test_a_visitor_reads_the_whole_guide_with_no_foreign_request_and_no_axe_violation(
    page, live_server
):
    from kap.content.models import Page
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    slugs = list(Page.objects.values_list("slug", flat=True))
    page.goto("/guide/")
    expect(page.get_by_role("navigation", name="Table of contents")).to_be_visible()
    urls = ["/", "/guide/", "/crisis/", "/login/", "/signup/"] + [f"/guide/{s}/" for s in slugs]
    for url in urls:
        page.goto(url)
        expect(page.locator("a.crisis-link"), url).to_be_visible()
        violations = axe_violations(page)
        assert not violations, f"{url}\n{describe(violations)}"
    assert page.requests, "no requests were recorded"
    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
    assert any(u.endswith("/static/kap/app.css") for u in page.requests)
    # the stylesheet really applies: the crisis link is drawn as a bordered button
    assert page.locator("a.crisis-link").evaluate("e => getComputedStyle(e).borderStyle") == "solid"


@pytest.mark.django_db(transaction=True)
def test_a_new_person_creates_the_first_account_by_keyboard_and_reads_on(page, live_server):
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    page.goto("/")
    # A fresh installation: the set-up (for a clinic, with the console's code) or an account.
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Your name").fill("Robin")
    page.get_by_label("Email address").fill("robin@example.com")
    page.get_by_label("Password", exact=True).fill("a quiet morning by the lake")
    page.get_by_label("Password again").fill("a quiet morning by the lake")
    page.get_by_label("Password again").press("Enter")
    # The first steps come first (onboarding); they can be skipped, by keyboard too.
    page.wait_for_url(live_server.url + "/welcome/**")
    violations = axe_violations(page)
    assert not violations, describe(violations)
    page.get_by_role("link", name="Skip the rest and go to Today").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + "/")
    expect(page.get_by_role("heading", name="Hello, Robin")).to_be_visible()
    violations = axe_violations(page)
    assert not violations, describe(violations)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Guide").click()
    page.get_by_role("link", name="Signs You Might Benefit from KAP Support").first.click()
    expect(page.get_by_text("Emotional numbness or shutdown")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    browser_login(page, "robin@example.com")
    expect(page.get_by_role("heading", name="Hello, Robin")).to_be_visible()
    assert page.requests.foreign(live_server.url) == []


@pytest.mark.django_db(transaction=True)
def test_the_skip_link_is_the_first_stop_for_the_keyboard(page, live_server):
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    page.goto("/guide/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Skip to content"
