"""The client's records in a real Chromium: keyboard use, no foreign request, no axe violation."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}\n{describe(violations)}"


@pytest.mark.django_db(transaction=True)
def test_a_client_logs_a_session_captures_insights_by_keyboard_and_finds_them_again(
    page, live_server
):
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    User.objects.create_user("robin@example.com", PASSWORD, role="client", display_name="Robin")
    browser_login(page, "robin@example.com")

    page.goto("/sessions/")
    expect(page.get_by_role("heading", name="Your KAP sessions", level=1)).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Add a session").click()
    assert_accessible(page)
    # A mistake first: the message appears next to the field, and the page stays accessible.
    page.get_by_role("button", name="Add the session").click()
    expect(page.get_by_text("Please give the date and time of the session.")).to_be_visible()
    assert_accessible(page)

    when = timezone.localtime(timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Date and time").fill(when)
    page.get_by_label("Completed", exact=True).check()
    page.get_by_label("Clinician's name").fill("Dr Rivera")
    page.get_by_label("In a clinic or office").check()
    page.get_by_role("button", name="Add the session").click()
    expect(page.get_by_text("3 hours since your session")).to_be_visible()
    assert_accessible(page)

    for words in ("The fear was smaller than I thought", "Warmth when I thought of my sister"):
        page.get_by_label("What stood out?").focus()
        page.keyboard.type(words)
        page.keyboard.press("Tab")  # to "Save insight"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_text("Insight saved.")).to_be_visible()
        expect(page.get_by_text(words)).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Edit the insight written", exact=False).first.click()
    expect(page.get_by_role("heading", name="Edit an insight")).to_be_visible()
    assert_accessible(page)

    page.goto("/timeline/")
    expect(page.get_by_text("The fear was smaller than I thought")).to_be_visible()
    expect(page.get_by_text("Warmth when I thought of my sister")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Search your words").fill("SISTER")
    page.get_by_label("Search your words").press("Enter")
    page.wait_for_url("**/timeline/?q=SISTER**")
    expect(page.get_by_text("Warmth when I thought of my sister")).to_be_visible()
    expect(page.get_by_text("The fear was smaller")).to_have_count(0)
    assert_accessible(page)

    page.goto("/steps/")
    page.get_by_label("A small step").fill("Walk at lunch")
    page.get_by_role("button", name="Add the step").click()
    page.get_by_role("link", name="Check in on “Walk at lunch”").click()  # a page of its own
    assert_accessible(page)
    page.get_by_label("Still working on it").check()
    page.get_by_label("A short note (optional)").fill("Twice this week")
    page.get_by_role("button", name="Check in on “Walk at lunch”").click()
    expect(page.get_by_text("Still working on it — Twice this week")).to_be_visible()
    assert_accessible(page)

    page.goto("/steps/new/")
    assert_accessible(page)

    page.goto("/questions/")
    page.get_by_label("A question to bring").fill("Can I bring music?")
    page.get_by_role("button", name="Add the question").click()
    expect(page.get_by_text("Can I bring music?", exact=True)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="I asked this").click()
    expect(page.get_by_text("Marked as asked.")).to_be_visible()
    assert_accessible(page)

    page.goto("/support/")
    page.get_by_role("radio", name="Supportive relationships").check()
    page.get_by_label("Who or what").fill("My sister, Sundays")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("My sister, Sundays", exact=True)).to_be_visible()
    assert_accessible(page)

    assert page.requests, "no requests were recorded"
    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
