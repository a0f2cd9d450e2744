"""A therapist's day in a real Chromium: two-step login, roster, client view and brief."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser


def setup_people():
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import CareLink, Clinic, Scope, User
    from kap.content.models import Instrument
    from kap.content.sync import ensure_default_pack
    from kap.journal.models import Insight
    from kap.journal.services import submit_response

    ensure_default_pack()
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    therapist = User.objects.create_user(
        "dr.lee@example.com", PASSWORD, role="therapist", display_name="Dr Lee", clinic=clinic
    )
    device = TOTPDevice.objects.create(user=therapist, name="Authenticator app", confirmed=True)
    alex = User.objects.create_user("alex@example.com", PASSWORD, display_name="Alex Rivera")
    CareLink.objects.create(client=alex, therapist=therapist, scopes=list(Scope.values))
    Insight.objects.create(client=alex, text="I can pause before replying")
    phq9 = Instrument.objects.current().get(key="phq9")
    answers = {f"q{i}": "several-days" for i in range(1, 10)}
    submit_response(client=alex, instrument=phq9, session=None, answers=answers)
    return device, alex


def current_code(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


@pytest.mark.django_db(transaction=True)
def test_a_therapist_logs_in_with_two_steps_and_reads_a_brief(page, live_server):
    device, alex = setup_people()
    browser_login(page, "dr.lee@example.com")

    page.goto("/care/")
    expect(page).to_have_url(f"{live_server.url}/account/two-factor/?next=/care/")
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(f"{live_server.url}/care/")
    expect(page.get_by_role("heading", name="Your clients", level=1)).to_be_visible()
    expect(page.get_by_role("row", name="Alex Rivera")).to_contain_text("Alert: 1 open")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Alex Rivera").click()
    expect(page.get_by_role("heading", name="Alex Rivera", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Open safety alerts")).to_be_visible()
    expect(page.get_by_text("I can pause before replying")).to_be_visible()
    assert axe_violations(page) == []

    page.get_by_label("Note for the clinic (optional)").fill("Called Alex; plan reviewed.")
    page.get_by_role("button", name="Acknowledge this alert").click()
    expect(page.get_by_text("Alert acknowledged.")).to_be_visible()
    expect(page.get_by_role("heading", name="Open safety alerts")).to_have_count(0)

    page.get_by_role("link", name="Pre-session brief").click()
    expect(page.get_by_role("heading", name="Pre-session brief", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="first score")).to_have_count(1)
    assert axe_violations(page) == []

    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
