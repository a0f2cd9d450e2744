"""Questionnaires on a phone (390 × 844) in a real Chromium: one question per screen with a
progress indicator, 0-10 scales as large segments, GOV.UK's error summary, the whole form without
JavaScript, and the steps page as compact cards; axe-core clean in light and dark.

`KAP_SCREENSHOTS=DIR pytest tests/browser/test_questionnaire_in_chromium.py -k screenshots` saves
the screens kept in docs/screens/questionnaire-*.png."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser

EMAIL = "quinn@example.com"
PHONE = {"width": 390, "height": 844}
STEPS = [
    "Walk at lunch",
    "Call my sister on Sunday",
    "Ten minutes of breathing before bed",
    "Write one line in the journal each evening",
    "Say no to one extra meeting",
]


def setup_person():
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    return User.objects.create_user(EMAIL, PASSWORD, role="client", display_name="Quinn")


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized tab, logged in, with the motion a person who asked for less would see;
    `phone(scheme=..., js=..., motion=...)` opens another."""
    contexts = []
    setup_person()

    def open_tab(scheme="light", js=True, motion="reduce"):
        context = browser.new_context(
            base_url=live_server.url,
            viewport=PHONE,
            color_scheme=scheme,
            java_script_enabled=js,
            reduced_motion=motion,
        )
        contexts.append(context)
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda e: tab.errors.append(str(e)))
        browser_login(tab, EMAIL)
        return tab

    yield open_tab
    for context in contexts:
        context.close()


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def assert_accessible(tab) -> None:
    violations = axe_violations(tab)
    assert not violations, f"{tab.url}\n{describe(violations)}"


def shown_questions(tab):
    return tab.locator("fieldset.question:visible")


def progress(tab):
    return tab.locator(".q-progress p")


def focused(tab, script: str):
    return tab.evaluate(f"() => {{ const e = document.activeElement; return {script}; }}")


def item_text(key: str, item: str) -> str:
    from kap.content.models import Instrument

    return Instrument.objects.current().get(key=key).parsed.items_by_key[item].text


@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_phq9_is_one_question_per_screen_with_its_progress(phone):
    from kap.journal.models import Response

    tab = phone()
    tab.goto("/i/phq9/")
    expect(shown_questions(tab)).to_have_count(1)
    expect(progress(tab)).to_have_text("Question 1 of 10")
    expect(progress(tab)).to_have_attribute("aria-live", "polite")
    expect(tab.get_by_role("button", name="Back")).to_be_hidden()
    expect(tab.get_by_role("button", name="Submit")).to_be_hidden()
    first_width = tab.locator(".q-bar span").bounding_box()["width"]
    assert_accessible(tab)

    tab.locator("#q-q1").get_by_text("Several days").click()  # the whole row is the target
    expect(tab.locator("#q-q1").get_by_label("Several days")).to_be_checked()
    tab.get_by_role("button", name="Next").click()
    expect(progress(tab)).to_have_text("Question 2 of 10")
    expect(shown_questions(tab)).to_have_count(1)
    expect(tab.locator("#q-q2")).to_be_visible()
    assert focused(tab, "e.tagName + ' ' + e.closest('fieldset').id") == "LEGEND q-q2"
    assert tab.locator(".q-bar span").bounding_box()["width"] > first_width

    # Back keeps what was answered.
    tab.get_by_role("button", name="Back").click()
    expect(progress(tab)).to_have_text("Question 1 of 10")
    expect(tab.locator("#q-q1").get_by_label("Several days")).to_be_checked()
    tab.get_by_role("button", name="Next").click()

    # By keyboard: arrows choose within a question (native radios), Enter goes on, no submit.
    for n in range(2, 10):
        tab.keyboard.press("Tab")
        assert focused(tab, "e.name") == f"q{n}"
        tab.keyboard.press("Space")
        tab.keyboard.press("Enter")
        expect(progress(tab)).to_have_text(f"Question {n + 1} of 10")
    assert Response.objects.count() == 0
    assert "/i/phq9/" in tab.url

    # The last question: Submit instead of Next, and every answer goes with it.
    expect(tab.get_by_role("button", name="Next")).to_be_hidden()
    tab.locator("#q-q10").get_by_text("Somewhat difficult").click()
    assert_accessible(tab)
    with tab.expect_navigation():
        tab.get_by_role("button", name="Submit").click()
    expect(tab.locator("section.result").get_by_text("1 of 27")).to_be_visible()
    stored = Response.objects.get()
    assert stored.answers["q1"] == "several-days" and stored.answers["q9"] == "not-at-all"
    assert stored.answers["q10"] == "somewhat-difficult"
    assert tab.errors == []


@pytest.mark.django_db(transaction=True)
def test_a_wider_screen_shows_every_question_and_a_phone_turned_sideways_follows(phone):
    tab = phone()
    tab.goto("/i/phq9/")
    expect(shown_questions(tab)).to_have_count(1)
    tab.set_viewport_size({"width": 1024, "height": 768})
    expect(shown_questions(tab)).to_have_count(10)
    expect(tab.locator(".q-progress")).to_be_hidden()
    expect(tab.get_by_role("button", name="Submit")).to_be_visible()
    tab.set_viewport_size(PHONE)
    expect(shown_questions(tab)).to_have_count(1)


@pytest.mark.django_db(transaction=True)
def test_a_scale_is_large_segments_in_two_even_rows_chosen_with_the_arrow_keys(phone):
    tab = phone()
    tab.goto("/i/closing-outcomes/")
    question = shown_questions(tab).first
    segments = question.locator(".segment label")
    expect(segments).to_have_count(11)
    boxes = [segments.nth(i).bounding_box() for i in range(11)]
    assert min(b["height"] for b in boxes) >= 44
    assert min(b["width"] for b in boxes) >= 44
    rows = sorted({round(b["y"]) for b in boxes})
    assert len(rows) == 2
    assert [sum(1 for b in boxes if round(b["y"]) == y) for y in rows] == [6, 5]
    assert max(b["x"] + b["width"] for b in boxes) <= PHONE["width"]
    expect(question.get_by_text("0 = Not at all")).to_be_visible()
    expect(question.get_by_text("10 = Very much")).to_be_visible()

    # A tap anywhere on a segment chooses it.
    seven = boxes[7]
    tab.mouse.click(seven["x"] + seven["width"] - 4, seven["y"] + seven["height"] - 4)
    expect(question.get_by_label("7", exact=True)).to_be_checked()

    question.get_by_label("4", exact=True).focus()
    tab.keyboard.press("Space")
    tab.keyboard.press("ArrowRight")
    expect(question.get_by_label("5", exact=True)).to_be_checked()
    expect(question.get_by_label("4", exact=True)).not_to_be_checked()
    outline = segments.nth(5).evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"  # the focus is seen on the segment itself
    # The ends are said in words to a screen reader too.
    expect(question.get_by_role("radio", name="0 (Not at all)")).to_have_count(1)
    assert_accessible(tab)

    # On a desktop the eleven sit in one row.
    tab.set_viewport_size({"width": 1280, "height": 800})
    question = tab.locator("fieldset.question").first
    ys = {round(question.locator(".segment label").nth(i).bounding_box()["y"]) for i in range(11)}
    assert len(ys) == 1


@pytest.mark.django_db(transaction=True)
def test_a_new_question_slides_in_only_for_those_who_did_not_ask_for_less_motion(phone):
    calm, moving = phone(motion="reduce"), phone(motion="no-preference")
    for tab in (calm, moving):
        tab.goto("/i/phq9/")
        tab.get_by_role("button", name="Next").click()
    name = "e => getComputedStyle(e).animationName"
    assert calm.locator("#q-q2").evaluate(name) == "none"
    assert moving.locator("#q-q2").evaluate(name) != "none"


@pytest.mark.django_db(transaction=True)
def test_an_empty_submit_shows_one_summary_whose_links_lead_to_each_question(phone):
    tab = phone()
    tab.goto("/i/phq9/")
    for _ in range(9):
        tab.get_by_role("button", name="Next").click()
    with tab.expect_navigation():
        tab.get_by_role("button", name="Submit").click()

    summary = tab.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_visible()
    assert focused(tab, "e.hasAttribute('data-error-summary')")
    links = summary.get_by_role("link")
    expect(links).to_have_text([f"Answer question {n}" for n in range(1, 10)])
    # The phone shows the first question that needs an answer, its message next to it.
    expect(progress(tab)).to_have_text("Question 1 of 10")
    expect(tab.locator("#q-q1 .field-error")).to_have_text("Please choose one answer.")
    expect(tab.locator(".field-error:visible")).to_have_count(1)
    assert_accessible(tab)

    summary.get_by_role("link", name="Answer question 9").click()
    expect(progress(tab)).to_have_text("Question 9 of 10")
    assert focused(tab, "e.id") == "id_q9_0"
    legend = tab.locator("#q-q9 legend")
    expect(legend).to_have_text(item_text("phq9", "q9"))  # in full, never cut short
    expect(legend).to_be_in_viewport()


@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_whole_form_is_there_and_submits(phone):
    from kap.journal.models import Response

    tab = phone(js=False)
    tab.goto("/i/phq9/")
    expect(shown_questions(tab)).to_have_count(10)
    expect(tab.get_by_role("button", name="Next")).to_have_count(0)

    with tab.expect_navigation():
        tab.get_by_role("button", name="Submit").click()
    summary = tab.locator(".error-summary")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(summary.get_by_role("link")).to_have_count(9)
    href = summary.get_by_role("link", name="Answer question 9").get_attribute("href")
    assert href == "#id_q9_0" and tab.locator(href).count() == 1

    for n in range(1, 10):
        tab.locator(f"#q-q{n}").get_by_text("Not at all").click()
    with tab.expect_navigation():
        tab.get_by_role("button", name="Submit").click()
    assert re.search(r"/r/\d+/\?saved$", tab.url)
    assert Response.objects.get().score_total == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_questionnaire_and_steps_pages_are_clean_for_axe(phone, scheme):
    from kap.accounts.models import User
    from kap.journal.models import ActionStep, CheckIn

    tab = phone(scheme=scheme)
    person = User.objects.get(email=EMAIL)
    step = ActionStep.objects.create(client=person, text=STEPS[0])
    CheckIn.objects.create(step=step, status="working", note="Twice this week")
    for url in ("/i/phq9/", "/i/closing-outcomes/", "/i/signs-you-might-benefit/", "/steps/"):
        tab.goto(url)
        assert_accessible(tab)
    tab.goto("/i/gad7/")
    tab.get_by_role("button", name="Next").click()
    tab.locator("#q-q2").get_by_text("Several days").click()
    assert_accessible(tab)
    tab.goto(f"/steps/{step.pk}/check-in/")
    tab.get_by_role("button", name=re.compile("^Check in")).click()
    expect(tab.get_by_role("heading", name="There is a problem")).to_be_visible()
    assert_accessible(tab)


@pytest.mark.django_db(transaction=True)
def test_five_steps_fit_on_a_phone_screen_and_each_checks_in_on_a_page_of_its_own(phone):
    from kap.accounts.models import User
    from kap.journal.models import ActionStep, CheckIn

    tab = phone()
    person = User.objects.get(email=EMAIL)
    for text in STEPS:
        ActionStep.objects.create(client=person, text=text)
    tab.goto("/steps/")
    cards = tab.locator("li.step-card")
    expect(cards).to_have_count(5)
    top, bottom = cards.first.bounding_box(), cards.last.bounding_box()
    assert bottom["y"] + bottom["height"] - top["y"] <= PHONE["height"]
    assert tab.locator("main form").count() == 1  # only "Add a step"
    for i in range(5):
        action = cards.nth(i).get_by_role("link", name=f"Check in on “{STEPS[i]}”")
        assert action.bounding_box()["height"] >= 44

    cards.nth(1).get_by_role("link", name=f"Check in on “{STEPS[1]}”").click()
    expect(tab.get_by_role("heading", name=STEPS[1], level=1)).to_be_visible()
    choice = tab.get_by_label("Still working on it")
    assert choice.locator("xpath=following-sibling::label").bounding_box()["height"] >= 44
    choice.focus()
    tab.keyboard.press("Space")
    tab.get_by_label("A short note (optional)").fill("Left a message")
    tab.get_by_role("button", name=f"Check in on “{STEPS[1]}”").click()
    tab.wait_for_url(re.compile(r"/steps/#step-\d+$"))
    expect(tab.get_by_text("Checked in: still working on it.")).to_be_visible()
    card = cards.filter(has=tab.get_by_role("heading", name=STEPS[1]))
    expect(card.get_by_text("Still working on it — Left a message")).to_be_visible()
    assert CheckIn.objects.get().note == "Left a message"


@pytest.mark.django_db(transaction=True)
def test_screenshots(phone):
    """The screens kept in docs/screens/ (only with KAP_SCREENSHOTS=DIR)."""
    folder = os.environ.get("KAP_SCREENSHOTS")
    if not folder:
        pytest.skip("set KAP_SCREENSHOTS=DIR to save the screenshots")
    from kap.accounts.models import User
    from kap.journal.models import ActionStep, CheckIn

    person = User.objects.get(email=EMAIL)
    for n, text in enumerate(STEPS):
        step = ActionStep.objects.create(client=person, text=text)
        if n == 0:
            CheckIn.objects.create(step=step, status="working", note="Twice this week")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        tab = phone(scheme=scheme)
        tab.goto("/i/phq9/")
        tab.get_by_role("button", name="Next").click()
        tab.locator("#q-q2").get_by_text("Several days").click()
        tab.get_by_role("button", name="Next").click()
        tab.screenshot(path=out / f"questionnaire-phq9-{scheme}.png")
        tab.goto("/i/closing-outcomes/")
        tab.locator("fieldset.question:visible").get_by_label("7", exact=True).check()
        tab.locator(".q-progress").scroll_into_view_if_needed()
        tab.screenshot(path=out / f"questionnaire-scale-{scheme}.png")
        tab.goto("/i/phq9/")
        for _ in range(9):
            tab.get_by_role("button", name="Next").click()
        with tab.expect_navigation():
            tab.get_by_role("button", name="Submit").click()
        tab.locator(".error-summary").scroll_into_view_if_needed()
        tab.screenshot(path=out / f"questionnaire-errors-{scheme}.png")
        tab.goto("/steps/")
        tab.screenshot(path=out / f"questionnaire-steps-{scheme}.png")
