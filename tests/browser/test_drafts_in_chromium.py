"""Nothing typed is lost: reload, network drop and an expired login, in a real Chromium."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser


def setup_person(email="drafts@example.com"):
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    return User.objects.create_user(email, PASSWORD, role="client")


def stored_answers():
    from kap.journal.models import Response

    r = Response.objects.filter(instrument__key="self-assessment").first()
    return r.answers if r else {}


def status_says(page, text, timeout=10_000):
    # (Playwright's wait_for_function evaluates a string: our CSP rightly refuses that.)
    expect(page.locator("#draft-status")).to_contain_text(text, timeout=timeout)


def wait_saved(page):
    status_says(page, "Saved at")


@pytest.mark.django_db(transaction=True)
def test_text_typed_survives_a_reload(page, live_server):
    setup_person()
    browser_login(page, "drafts@example.com")
    page.goto("/i/self-assessment/")
    box = page.get_by_role("textbox", name="What patterns feel most stuck right now?")
    box.press_sequentially("I go quiet when I am criticised", delay=5)
    wait_saved(page)
    assert stored_answers()["most-stuck-patterns"] == "I go quiet when I am criticised"
    page.reload()
    assert box.input_value() == "I go quiet when I am criticised"
    assert not axe_violations(page)
    assert page.requests.foreign(live_server.url) == []


@pytest.mark.django_db(transaction=True)
def test_text_typed_while_offline_is_kept_and_sent_when_back(page, live_server):
    setup_person()
    browser_login(page, "drafts@example.com")
    page.goto("/i/self-assessment/")
    page.context.set_offline(True)
    box = page.get_by_role("textbox", name="Where do you feel blocked or limited?")
    box.fill("in my body, mostly my chest")
    box.blur()
    status_says(page, "offline")
    assert stored_answers() == {}
    kept = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kap-draft:')).length")
    assert kept == 1
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_saved(page)
    assert stored_answers()["blocked-or-limited"] == "in my body, mostly my chest"


@pytest.mark.django_db(transaction=True)
def test_text_typed_after_the_login_expired_is_saved_after_logging_in_again(page, live_server):
    setup_person()
    browser_login(page, "drafts@example.com")
    page.goto("/i/self-assessment/")
    page.context.clear_cookies(name="sessionid")  # the session has expired
    box = page.get_by_role("textbox", name="What have you already tried to change them?")
    box.fill("a gratitude journal, then running")
    box.blur()
    status_says(page, "logged out")
    assert stored_answers() == {}
    page.get_by_role("link", name="Log in again").click()
    page.get_by_label("Email address").fill("drafts@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/i/self-assessment/")
    wait_saved(page)
    assert stored_answers()["already-tried"] == "a gratitude journal, then running"
    assert box.input_value() == "a gratitude journal, then running"


@pytest.mark.django_db(transaction=True)
def test_submit_clicked_straight_after_typing_submits_and_leaves_nothing_behind(page, live_server):
    from kap.journal.models import Response

    setup_person()
    browser_login(page, "drafts@example.com")
    page.goto("/i/self-assessment/")
    status_says(page, "save as you type")
    labels = [
        "What patterns feel most stuck right now?",
        "Where do you feel blocked or limited?",
        "What have you already tried to change them?",
    ]
    for n, label in enumerate(labels):
        page.get_by_role("textbox", name=label).fill(f"answer {n}")
    box = page.get_by_role("textbox").last
    box.fill("typed just now")
    page.get_by_role("button", name="Submit").click()  # the box loses focus: one last autosave

    page.wait_for_url("**/r/*/**")
    assert "changed somewhere else" not in page.content()
    responses = list(Response.objects.values_list("status", flat=True))
    assert responses == ["submitted"], responses
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('kap-draft:'))") == []

    page.goto("/i/self-assessment/")
    expect(page.locator("#draft-local")).to_be_hidden()
    assert page.get_by_role("textbox").last.input_value() == ""


@pytest.mark.django_db(transaction=True)
def test_a_safety_answer_shows_crisis_resources_on_the_same_screen(page, live_server):
    setup_person()
    browser_login(page, "drafts@example.com")
    page.goto("/i/phq9/")
    for i in range(1, 10):
        page.locator(f"#q-q{i}").get_by_label("Not at all").check()
    page.locator("#q-q9").get_by_label("Several days").check()
    page.get_by_role("button", name="Submit").click()
    alert = page.get_by_role("alert")
    expect(alert.get_by_text("Call or text 988").first).to_be_visible()
    assert "not monitored in real time" in alert.inner_text()
    assert not axe_violations(page)
