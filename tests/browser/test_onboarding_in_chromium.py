"""The first steps after signing up, on a phone (390 × 844) in a real Chromium: the next
session, reminders, what the app is and is not; each skippable; offered once."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations

pytestmark = pytest.mark.browser
EMAIL = "robin@example.com"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def signed_up(browser, live_server, transactional_db):
    """A phone-sized tab that has just created an account on /signup/ (dark or light)."""
    from kap.accounts.models import Role, User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    User.objects.create_user("admin@example.com", PASSWORD, role=Role.ADMIN)
    contexts = []

    def make(scheme="light"):
        context = browser.new_context(
            base_url=live_server.url, viewport=PHONE, color_scheme=scheme, timezone_id="UTC"
        )
        contexts.append(context)
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        tab.goto("/signup/")
        tab.get_by_label("Your name").fill("Robin")
        tab.get_by_label("Email address").fill(EMAIL)
        tab.get_by_label("Password", exact=True).fill(PASSWORD)
        tab.get_by_label("Password again").fill(PASSWORD)
        tab.get_by_role("button", name="Create account").click()
        tab.wait_for_url("**/welcome/")
        return tab

    yield make
    for context in contexts:
        context.close()


def no_violations(tab) -> None:
    found = axe_violations(tab)
    assert not found, [f"{v['id']}: {v['help']}" for v in found]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_three_steps_plan_a_session_and_a_calendar_then_lead_to_today(signed_up, scheme):
    from kap.accounts.models import User
    from kap.journal.models import CalendarFeed, KapSession

    tab = signed_up(scheme)
    expect(tab.get_by_text("Step 1 of 3")).to_be_visible()
    expect(tab.get_by_role("heading", name="When is your next session?", level=1)).to_be_visible()
    no_violations(tab)

    # A date that has passed is explained next to the field and summed up; what was typed stays.
    field = tab.get_by_label("Date and time of your next session")
    field.fill("2020-03-04T10:00")
    tab.get_by_role("button", name="Save and continue").click()
    expect(tab.locator(".error-summary")).to_be_visible()
    expect(tab.locator(".field-error")).to_contain_text("That time has passed.")
    expect(field).to_have_value("2020-03-04T10:00")
    no_violations(tab)

    when = (timezone.now() + timedelta(days=9)).replace(hour=14, minute=30)
    field.fill(f"{when:%Y-%m-%dT%H:%M}")
    tab.get_by_role("button", name="Save and continue").click()
    tab.wait_for_url("**/welcome/reminders/")
    expect(tab.get_by_text("Step 2 of 3")).to_be_visible()
    expect(tab.get_by_text("Your next session is in your journal.")).to_be_visible()
    no_violations(tab)
    tab.get_by_label("Make me a private calendar link").check()
    tab.get_by_role("button", name="Save and continue").click()
    tab.wait_for_url("**/welcome/about/")
    expect(tab.get_by_text("Step 3 of 3")).to_be_visible()
    about = tab.locator("main")
    expect(about.get_by_text("It never diagnoses.")).to_be_visible()
    expect(about.get_by_text("It never gives medical or dosing advice.")).to_be_visible()
    no_violations(tab)
    tab.get_by_role("link", name="Go to Today").click()
    expect(tab.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()

    robin = User.objects.get(email=EMAIL)
    [session] = KapSession.objects.filter(client=robin)
    assert (session.status, session.starts_at) == ("planned", when.replace(second=0, microsecond=0))
    assert CalendarFeed.objects.filter(client=robin).exists()
    # Offered once.
    tab.goto("/")
    expect(tab.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()
    assert tab.errors == []


def test_each_step_can_be_skipped(signed_up):
    from kap.journal.models import CalendarFeed, KapSession

    tab = signed_up()
    tab.get_by_role("link", name="Skip this step").click()
    tab.wait_for_url("**/welcome/reminders/")
    tab.get_by_role("link", name="Skip this step").click()
    tab.wait_for_url("**/welcome/about/")
    assert tab.get_by_role("link", name="Skip this step").count() == 0
    tab.get_by_role("link", name="Go to Today").click()
    expect(tab.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()
    assert not KapSession.objects.exists() and not CalendarFeed.objects.exists()


def test_all_of_it_can_be_skipped_at_once(signed_up):
    tab = signed_up()
    tab.get_by_role("link", name="Skip the rest and go to Today").click()
    expect(tab.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()
    tab.goto("/")
    expect(tab.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()
