"""The first-run set-up in a real Chromium: only with the code from the server's console, the
person creates the clinic and its admin, with their browser's time zone, then their second
factor, and lands on the clinic's page. Same-origin requests only, no axe-core violations."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations
from tests.security.support import totp_code

pytestmark = pytest.mark.browser


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


@pytest.mark.django_db(transaction=True)
def test_the_first_run_set_up_with_the_console_code(browser, live_server):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kap.accounts import setup_code
    from kap.accounts.models import Clinic, User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    code = setup_code.issue_if_needed()  # as `kap serve` prints it
    context = browser.new_context(base_url=live_server.url, timezone_id="Pacific/Auckland")
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto("/")
        page.get_by_role("link", name="Set up the clinic").click()
        page.wait_for_url("**/setup/")
        violations = axe_violations(page)
        assert not violations, describe(violations)

        def fill(code_typed: str) -> None:
            page.get_by_label("Set-up code").fill(code_typed)
            page.get_by_label("The clinic's name").fill("Lakeside Clinic")
            page.get_by_label("Your name").fill("Pat")
            page.get_by_label("Email address").fill("pat@lakeside.example")
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Password again").fill(PASSWORD)
            page.get_by_role("button", name="Create the clinic").click()
            page.wait_for_load_state("load")

        # A wrong code: a clear message next to the field, nothing created.
        fill("WRONG-CODE-2345")
        expect(page.get_by_text("That set-up code is not right")).to_be_visible()
        assert not User.objects.exists() and not Clinic.objects.exists()

        # The code as printed, typed in lower case with spaces.
        fill(code.lower().replace("-", " "))
        page.wait_for_url("**/account/two-factor/**")
        admin = User.objects.get()
        assert (admin.role, admin.clinic.name) == ("admin", "Lakeside Clinic")
        assert admin.time_zone == "Pacific/Auckland"  # from the browser

        # The second factor, as an authenticator app would show it; then the clinic's page.
        device = TOTPDevice.objects.get(user=admin, confirmed=False)
        page.get_by_label("Code").fill(totp_code(device))
        page.get_by_role("button", name="Turn on two-step login").click()
        page.wait_for_load_state("load")
        page.get_by_role("link", name="Continue").click()  # after the recovery codes
        page.wait_for_url("**/care/clinic/")
        expect(page.get_by_role("heading", name="Lakeside Clinic", level=1)).to_be_visible()
        expect(page.get_by_role("heading", name="Admins and second factors")).to_be_visible()
        violations = axe_violations(page)
        assert not violations, describe(violations)

        # The set-up is gone now, for everyone.
        context.clear_cookies()
        page.goto("/setup/")
        assert page.url.endswith("/login/")
        expect(page.get_by_text("This installation is set up already.")).to_be_visible()
        assert [u for u in requests if not u.startswith(live_server.url)] == []
    finally:
        context.close()
