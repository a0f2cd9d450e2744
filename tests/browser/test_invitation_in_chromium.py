"""An invited client joins with sign-up closed, in a real Chromium: a clinic admin invites them
by e-mail for a therapist, the worker sends the e-mail to a real SMTP server, and the client
opens its link, creates their account there and chooses what to share."""

from __future__ import annotations

import re
import signal

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def totp_now(device) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def run_worker_once() -> None:
    """`kap worker --once`'s queue run, here; db_worker's signal handlers are put back after."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.fixture
def inbox(settings, live_server):
    from aiosmtpd.controller import Controller

    from tests.reminders.conftest import Inbox, free_port, smtp_mailers

    handler, port = Inbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.SMTP_HOST = "127.0.0.1"
    settings.MAILERS = smtp_mailers(port)
    settings.BASE_URL = live_server.url
    try:
        yield handler
    finally:
        controller.stop()


@pytest.mark.django_db(transaction=True)
def test_an_invited_client_joins_with_sign_up_closed(page, live_server, settings, inbox):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import CareLink, Clinic, User
    from kap.content.sync import ensure_default_pack

    settings.OPEN_SIGNUP = False
    ensure_default_pack()
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    admin = User.objects.create_user(
        "admin@lakeside.example", PASSWORD, role="admin", display_name="Pat", clinic=clinic
    )
    device = TOTPDevice.objects.create(user=admin, name="Authenticator app", confirmed=True)
    therapist = User.objects.create_user(
        "dr.lee@lakeside.example", None, role="therapist", display_name="Dr Lee", clinic=clinic
    )

    # The admin invites Robin, for Dr Lee.
    browser_login(page, "admin@lakeside.example")
    page.goto("/care/clinic/")
    page.get_by_label("Code").fill(totp_now(device))
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Invitations", level=2)).to_be_visible()
    page.get_by_label("Clients, to link with one of the clinic's therapists").check()
    page.get_by_label("For clients: the therapist they link with").select_option(label="Dr Lee")
    page.get_by_label("E-mail addresses").fill("Robin@Example.org")
    page.get_by_role("button", name="Send the invitations").click()
    expect(page.get_by_text("1 client invitation made, being e-mailed.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("robin@example.org"))).to_contain_text(
        "Client of Dr Lee"
    )
    assert_accessible(page)
    page.get_by_role("button", name="Log out").click()

    # The worker e-mails it.
    assert inbox.messages == []
    run_worker_once()
    (message,) = inbox.messages
    assert message["To"] == "robin@example.org"
    assert message["From"] == "Lakeside Clinic <companion@localhost>"
    link = re.search(rf"{re.escape(live_server.url)}/invite/[A-Za-z0-9_-]+/", message.get_content())
    assert link, message.get_content()

    # Robin cannot sign up without it...
    assert page.goto("/signup/").status == 404
    # ...and with it, creates an account right there, then chooses what to share.
    page.goto(link[0])
    expect(page.get_by_role("heading", name="An invitation from Dr Lee", level=1)).to_be_visible()
    expect(page.get_by_label("Email address")).to_have_value("robin@example.org")
    assert_accessible(page)
    page.get_by_label("Your name").fill("Robin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect(
        page.get_by_text(
            "Your account is ready. Now choose what, if anything, to share with Dr Lee."
        )
    ).to_be_visible()
    assert_accessible(page)
    page.get_by_role("checkbox", name="Insights").check()
    page.get_by_role("button", name="Accept and link").click()
    expect(page.get_by_text("You are now linked with Dr Lee.")).to_be_visible()

    robin = User.objects.get(email="robin@example.org")
    assert robin.role == "client"
    link_made = CareLink.objects.get()
    assert (link_made.client, link_made.therapist, link_made.scopes) == (
        robin,
        therapist,
        ["insights"],
    )
    # The same link does not work twice.
    page.goto(link[0])
    expect(
        page.get_by_role("heading", name="This invitation has already been used")
    ).to_be_visible()
    assert page.requests.foreign(live_server.url) == []


@pytest.fixture
def therapist_tab(browser, live_server, transactional_db):
    """A phone-sized tab (390 × 844) of a therapist past their second factor, on /care/invite/."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts.models import Clinic, User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    clinic = Clinic.objects.create(name="Lakeside Clinic")
    lee = User.objects.create_user(
        "dr.lee@lakeside.example", PASSWORD, role="therapist", display_name="Dr Lee", clinic=clinic
    )
    device = TOTPDevice.objects.create(user=lee, name="Authenticator app", confirmed=True)
    contexts = []

    def make(**options):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 390, "height": 844}, **options
        )
        contexts.append(context)
        tab = context.new_page()
        browser_login(tab, "dr.lee@lakeside.example")
        tab.goto("/care/invite/")
        tab.get_by_label("Code").fill(totp_now(device))
        tab.get_by_role("button", name="Continue").click()
        expect(tab.get_by_role("heading", name="Invite a client", level=1)).to_be_visible()
        return tab

    yield make
    for context in contexts:
        context.close()


def test_the_invitation_is_on_this_servers_address_and_copies_with_one_press(
    therapist_tab, live_server, settings
):
    settings.BASE_URL = "http://127.0.0.1:8000"  # the default: this server is elsewhere
    tab = therapist_tab()
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    tab.get_by_role("button", name="Make an invitation").click()
    link = tab.get_by_label("Invitation link")
    expect(link).to_have_attribute("readonly", "")
    url = link.input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/invite/[A-Za-z0-9_-]+/", url), url
    code = tab.get_by_label("Invitation code").input_value()
    assert url.endswith(f"/invite/{code}/")

    copy = tab.get_by_role("button", name="Copy the invitation link")
    expect(copy).to_be_visible()
    copy.click()
    expect(tab.locator("#invite-link-status")).to_have_text("Copied")
    assert tab.evaluate("navigator.clipboard.readText()") == url
    tab.get_by_role("button", name="Copy the invitation code").click()
    expect(tab.locator("#invite-code-status")).to_have_text("Copied")
    assert tab.evaluate("navigator.clipboard.readText()") == code
    box = copy.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44
    assert_accessible(tab)

    # The link it holds opens the invitation on this server (for someone not logged in).
    tab.context.clear_cookies()
    tab.goto(url)
    expect(tab.get_by_role("heading", name="An invitation from Dr Lee", level=1)).to_be_visible()


def test_without_javascript_the_invitation_is_selectable_text_with_its_label(therapist_tab):
    tab = therapist_tab(java_script_enabled=False)
    tab.get_by_role("button", name="Make an invitation").click()
    link = tab.get_by_label("Invitation link")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("readonly", "")
    assert "/invite/" in link.input_value()
    expect(tab.get_by_role("button", name="Copy the invitation link")).to_be_hidden()
