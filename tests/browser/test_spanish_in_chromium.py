"""Spanish end to end, in a real Chromium whose language is Spanish (Accept-Language: es-MX), on a
phone: signing up, the PHQ-9 and its result with the crisis resources, all in Spanish; the PHQ-9's
questions stay in their published English (kap-guide: `translation: published-only`) with a note
in Spanish saying so. axe-core finds nothing on any page, in light and dark.

The Spanish expected is read from the app's own catalogue (gettext), and each is checked to differ
from its English, so the test follows the wording without being able to pass on English pages."""

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
EMAIL = "lucia@example.com"


def es(english: str) -> str:
    with translation.override("es"):
        spanish = gettext(english)
    assert spanish != english, f"no Spanish for {english!r}"
    return spanish


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_signing_up_and_a_phq9_with_a_safety_answer_in_spanish(browser, live_server, scheme):
    from kap.accounts.models import Role, User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    # An admin exists, so signing up makes an ordinary client.
    User.objects.create_user("admin@example.com", PASSWORD, role=Role.ADMIN)
    context = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        locale="es-MX",
        color_scheme=scheme,
        reduced_motion="reduce",  # axe reads colours, not a question sliding in
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    violations: list[str] = []

    def check() -> None:
        found = axe_violations(tab)
        if found:
            violations.append(f"{tab.url}\n{describe(found)}")
        assert tab.locator("html").get_attribute("lang") == "es", tab.url

    try:
        tab.goto("/signup/")
        check()
        expect(tab.locator(".crisis-link")).to_have_text(es("Crisis support"))
        tab.get_by_label(es("Your name")).fill("Lucía")
        tab.get_by_label(es("Email address")).fill(EMAIL)
        tab.get_by_label(es("Password"), exact=True).fill(PASSWORD)
        tab.get_by_label(es("Password again")).fill(PASSWORD)
        tab.get_by_role("button", name=es("Create account")).click()
        tab.wait_for_url(re.compile(r"/welcome/|/start/|/$|/today/"))
        check()
        person = User.objects.get(email=EMAIL)
        assert person.is_client

        tab.goto("/i/phq9/")
        check()
        title = "Patient Health Questionnaire (PHQ-9)"
        expect(tab.get_by_role("heading", name=title, level=1)).to_be_visible()
        # The published English wording, said to be English, with a note in Spanish.
        question = tab.locator("#q-q1")
        expect(question).to_contain_text("Little interest or pleasure in doing things")
        expect(question.locator("legend")).to_have_attribute("lang", "en")
        expect(question.get_by_text("Not at all")).to_have_attribute("lang", "en")
        main = tab.locator("main").inner_text()
        assert "inglés" in main, main[:600]

        # One question per screen on a phone, with the stepper's words in Spanish.
        expect(tab.get_by_text(re.compile(r"^Pregunta 1 de \d+$"))).to_be_visible()
        for n in range(1, 11):
            answer = {9: "Several days", 10: "Somewhat difficult"}.get(n, "Not at all")
            tab.locator(f"#q-q{n}").get_by_text(answer).click()
            if n < 10:
                tab.get_by_role("button", name=es("Next"), exact=True).click()
        tab.get_by_role("button", name=es("Submit")).click()
        tab.wait_for_url(re.compile(r"/r/\d+/\?saved$"))
        check()
        alert = tab.get_by_role("alert")
        expect(
            alert.get_by_role("heading", name=es("Please reach out for support now"))
        ).to_be_visible()
        # The Spanish lines for the person's region come first (US by default).
        first = alert.locator("li").first
        expect(first).to_contain_text("988")
        assert first.get_attribute("lang") == "es" or first.locator("[lang=es]").count(), (
            first.inner_html()
        )
        expect(alert).to_contain_text("Llame al 988 y marque 2")
    finally:
        context.close()
    assert not errors, errors
    assert not violations, "\n\n".join(violations)
