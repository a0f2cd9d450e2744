"""Accepting an invitation and changing what is shared, in a real Chromium, by keyboard."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login
from tests.sharing.conftest import CODE, code_hash

pytestmark = pytest.mark.browser


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


@pytest.mark.django_db(transaction=True)
def test_a_client_accepts_an_invitation_choosing_two_kinds_by_keyboard(page, live_server):
    from datetime import timedelta

    from django.utils import timezone

    from kap.accounts.models import CareLink, Clinic, Invite, User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    clinic = Clinic.objects.create(name="Harbour Clinic")
    therapist = User.objects.create_user(
        "rivera@harbour.example",
        PASSWORD,
        role="therapist",
        display_name="Dr Rivera",
        clinic=clinic,
    )
    User.objects.create_user("robin@example.com", PASSWORD, role="client", display_name="Robin")
    Invite.objects.create(
        kind="client",
        created_by=therapist,
        clinic=clinic,
        code_hash=code_hash(CODE),
        expires_at=timezone.now() + timedelta(days=7),
    )
    browser_login(page, "robin@example.com")

    page.goto(f"/invite/{CODE}/")
    expect(
        page.get_by_role("heading", name="An invitation from Dr Rivera", level=1)
    ).to_be_visible()
    assert_accessible(page)
    page.get_by_role("checkbox", name="Safety alerts").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # Intentions
    page.keyboard.press("Tab")  # Insights
    page.keyboard.press("Space")
    page.get_by_role("button", name="Accept and link").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.get_by_text("You are now linked with Dr Rivera.")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Safety alerts")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Insights")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Intentions")).not_to_be_checked()
    assert CareLink.objects.get().scopes == ["safety", "insights"]

    page.goto("/account/sharing/")
    expect(page.get_by_role("heading", name="Sharing with a therapist", level=1)).to_be_visible()
    assert_accessible(page)
    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
