"""The whole journey of a new person, in a real Chromium, by clicks and typing.

"Done when": a new user can go through the whole journey in a browser, and every instrument of
the pack works. One person signs up through /signup/ (an admin already exists, so they are an
ordinary client), takes the "signs you might benefit" checklist, prepares for a first session,
plans a session and sets an intention, records a completed session, captures insights, fills the
integration worksheet (its next steps become action steps), checks in on a step, takes the PHQ-9
(twice: the second time with a safety answer), the GAD-7 and the closing outcomes scale, finds
their words in the timeline, and then fills in every other instrument of the pack from the list.

On every page: axe-core finds no violation, and nothing is requested from another origin.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations

pytestmark = pytest.mark.browser

EMAIL = "robin@example.com"
SAVED = "Saved. Thank you for taking the time."
INSIGHTS = ("The fear was smaller than I thought", "Warmth when I thought of my sister")
QUESTIONS = ("Will I feel sick afterwards?", "Can I bring my own music?")
NEXT_STEPS = ("Walk by the lake on Sundays", "Call my sister once a week")
INTENTION = "To understand why I go quiet when I am criticised"


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


class Journey:
    """The tab, plus what was seen on the way: axe violations per page, script errors."""

    def __init__(self, page):
        self.page = page
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.checked: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and self.errors.append(m.text),
        )

    def check(self) -> None:
        """axe-core on the page as it is now (every page the person lands on)."""
        found = axe_violations(self.page)
        self.checked.append(self.page.url)
        if found:
            self.violations.append(f"{self.page.url}\n{describe(found)}")

    def main_text(self) -> str:
        return self.page.locator("main").inner_text()

    def wait_saved(self) -> None:
        # The person sees "Saved at hh:mm." under the form before moving on.
        expect(self.page.locator("#draft-status")).to_contain_text("Saved at", timeout=10_000)

    def submit_instrument(self, title: str) -> None:
        """Submit, and land on the answers page with no error and no safety panel."""
        page = self.page
        with page.expect_navigation():
            page.get_by_role("button", name="Submit").click()
        heading = page.locator("h1").first.inner_text()
        assert re.search(r"/r/\d+/(\?saved)?$", page.url), (
            f"{title}: submitting led to {page.url}: {heading}"
        )
        expect(page.get_by_text(SAVED)).to_be_visible()
        expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
        # (A checklist's page says what was ticked.)
        answers = re.compile("^(Your answers|What you ticked)$")
        expect(page.get_by_role("heading", name=answers).first).to_be_visible()
        assert page.locator("#safety").count() == 0, page.url
        self.check()


def fill_generically(page) -> None:
    """Every question of an instrument, as a person who answers everything would."""
    questions = page.locator("form fieldset.question")
    assert questions.count() > 0, page.url
    for i in range(questions.count()):
        q = questions.nth(i)
        legend = q.locator("legend").inner_text()
        radios = q.get_by_role("radio")
        boxes = q.get_by_role("checkbox")
        texts = q.get_by_role("textbox")
        if radios.count():
            radios.first.check()
        elif boxes.count():
            if i % 2 == 0:
                boxes.first.check()
        else:
            assert texts.count() == 1, legend
            texts.first.fill(f"A few words about: {legend}")


def submitted_keys(email: str) -> set[str]:
    from kap.journal.models import Response

    return set(
        Response.objects.submitted()
        .filter(client__email=email)
        .values_list("instrument__key", flat=True)
    )


@pytest.mark.django_db(transaction=True)
def test_a_new_person_goes_through_the_whole_journey_and_every_instrument_works(page, live_server):
    from kap.accounts.models import Role, User
    from kap.content.models import Instrument
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    # The installation is set up already: the first account (a clinic admin) exists, so the
    # person signing up is an ordinary client.
    User.objects.create_user("admin@example.com", PASSWORD, role=Role.ADMIN)
    j = Journey(page)
    origin = live_server.url

    # --- 1. Sign up, by keyboard --------------------------------------------------------------
    page.goto("/")
    j.check()
    page.get_by_role("link", name="create an account").click()
    expect(page.get_by_role("heading", name="Create an account", level=1)).to_be_visible()
    assert page.get_by_label("Who is this for?").count() == 0  # not the first account
    j.check()
    page.get_by_label("Your name").fill("Robin")
    page.keyboard.press("Tab")  # past the name's help text, to the email address
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_label("Password again").press("Enter")
    # The first steps are offered (tests/browser/test_onboarding_in_chromium.py); skipped here.
    page.wait_for_url(origin + "/welcome/")
    expect(page.get_by_text("Welcome. Your account is ready.")).to_be_visible()
    expect(page.get_by_role("heading", name="When is your next session?")).to_be_visible()
    j.check()
    page.get_by_role("link", name="Skip the rest and go to Today").click()
    page.wait_for_url(origin + "/")
    expect(page.get_by_role("heading", name="Hello, Robin", level=1)).to_be_visible()
    assert User.objects.get(email=EMAIL).role == Role.CLIENT
    j.check()

    # --- 2. Today suggests the signs checklist; the result counts and never diagnoses --------
    signs = page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="Signs you might benefit")
    )
    expect(signs).to_be_visible()
    signs.get_by_role("link", name="Look at the signs").click()
    expect(
        page.get_by_role("heading", name="Signs You Might Benefit from KAP Support", level=1)
    ).to_be_visible()
    j.check()
    for sign in (
        "Feeling stuck despite insight or prior therapy",
        "Emotional numbness or shutdown",
        "Loss of meaning or direction",
    ):
        box = page.get_by_role("group", name=sign).get_by_label("Yes, this fits me")
        box.focus()
        page.keyboard.press("Space")
        expect(box).to_be_checked()
    j.submit_instrument("Signs You Might Benefit from KAP Support")
    result = page.locator("section.result")
    expect(result.get_by_role("heading", name="Signs you noticed")).to_be_visible()
    expect(result.get_by_text("3 of 7")).to_be_visible()
    expect(
        result.get_by_text("If you would like to explore this, a conversation with a qualified")
    ).to_be_visible()
    words = j.main_text().lower()
    # "not a diagnosis" is the app's own disclaimer; no other diagnostic wording may appear.
    assert "diagnos" not in words.replace("not a diagnosis", ""), words
    assert "you qualify" not in words

    # --- 3. Self-assessment, then preparing for the first session ----------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Check-ins").click()
    expect(page.get_by_role("heading", name="Check-ins and reflections", level=1)).to_be_visible()
    j.check()
    page.get_by_role("link", name="Self-Assessment Reflection").click()
    j.check()
    for prompt, words in (
        ("What patterns feel most stuck right now?", "I go quiet when I am criticised"),
        ("What have you already tried to change them?", "A gratitude journal, then running"),
        ("Where do you feel blocked or limited?", "In my chest, mostly"),
        ("What would feel different if change became possible?", "I could speak up"),
        ("What are you hoping to experience through this process?", "Some lightness"),
    ):
        page.get_by_role("textbox", name=prompt).fill(words)
    j.wait_saved()
    j.submit_instrument("Self-Assessment Reflection")
    expect(page.get_by_text("I go quiet when I am criticised")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    page.get_by_role("link", name="Start preparing").click()
    expect(
        page.get_by_role("heading", name="Preparing for Your First KAP Session", level=1)
    ).to_be_visible()
    j.check()
    page.get_by_role("textbox", name="Your goals for this work").fill("Feel less flat")
    page.get_by_role("textbox", name="Patterns you want to shift").fill("Shutting down")
    page.get_by_role("textbox", name="Emotional readiness for deeper exploration").fill(
        "Nervous but willing"
    )
    page.get_by_role("textbox", name="Any concerns or questions").fill("\n".join(QUESTIONS))
    j.wait_saved()
    j.submit_instrument("Preparing for Your First KAP Session")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    to_bring = page.locator("section", has=page.get_by_role("heading", name="Questions to bring"))
    for q in QUESTIONS:
        expect(to_bring.locator(".questions-to-bring").get_by_text(q, exact=True)).to_be_visible()
    j.check()

    # --- 4. Plan a session, set an intention; then record a completed session ---------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    j.check()
    page.get_by_role("link", name="Add a session").click()
    j.check()
    planned_at = timezone.localtime(timezone.now() + timedelta(days=7)).replace(hour=10, minute=0)
    page.get_by_label("Date and time").fill(f"{planned_at:%Y-%m-%dT%H:%M}")
    page.get_by_label("Planned", exact=True).check()
    page.get_by_label("Clinician's name").fill("Dr Rivera")
    page.get_by_label("In a clinic or office").check()
    page.get_by_role("button", name="Add the session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))
    planned_url = page.url
    expect(page.get_by_text("Session added.")).to_be_visible()
    j.check()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    next_session = page.locator(
        "section", has=page.get_by_role("heading", name="Your next session")
    )
    expect(next_session.get_by_text("with Dr Rivera")).to_be_visible()
    j.check()
    page.get_by_role("link", name="Set an intention").click()
    expect(page.get_by_role("heading", name="Intention Setting", level=1)).to_be_visible()
    j.check()
    page.get_by_role("textbox", name="What do I want to understand?").fill(INTENTION)
    page.get_by_role("textbox", name="What am I open to experiencing?").fill("Sadness, if it comes")
    j.wait_saved()
    j.submit_instrument("Intention Setting")
    page.goto(planned_url)
    intention = page.locator("section", has=page.get_by_role("heading", name="Your intention"))
    expect(intention.get_by_text(INTENTION)).to_be_visible()
    j.check()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name="Add a session").click()
    when = timezone.localtime(timezone.now() - timedelta(hours=3))
    page.get_by_label("Date and time").fill(f"{when:%Y-%m-%dT%H:%M}")
    page.get_by_label("Completed", exact=True).check()
    page.get_by_label("Clinician's name").fill("Dr Rivera")
    page.get_by_label("In a clinic or office").check()
    page.get_by_role("button", name="Add the session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))
    session_url = page.url
    session_pk = int(re.search(r"/sessions/(\d+)/", session_url).group(1))
    expect(page.get_by_text("3 hours since your session")).to_be_visible()
    j.check()

    # --- 5. Insights, the worksheet (with the intention shown), steps and a check-in ---------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    capture = page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="Capture insights while they are close")
    )
    expect(capture.get_by_text("3 hours since your session.")).to_be_visible()
    j.check()
    capture.get_by_role("link", name="Write an insight").click()
    page.wait_for_url(re.compile(rf"/sessions/{session_pk}/$"))
    for words in INSIGHTS:
        page.get_by_label("What stood out?").focus()
        page.keyboard.type(words)
        page.keyboard.press("Tab")  # to "Save insight"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.get_by_text("Insight saved.")).to_be_visible()
        expect(page.get_by_text(words)).to_be_visible()
    j.check()

    # No intention was written for this (unplanned) session: the page offers to write down
    # what they carried into it, and the worksheet then shows it.
    page.get_by_role("link", name="Set an intention").click()
    page.wait_for_url(re.compile(rf"/i/intention-setting/\?session={session_pk}$"))
    page.get_by_role("textbox", name="What do I want to understand?").fill(INTENTION)
    j.wait_saved()
    j.submit_instrument("Intention Setting")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    worksheet = page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name="Integration worksheet")
    )
    worksheet.get_by_role("link", name="Open the worksheet").click()
    page.wait_for_url(re.compile(rf"/i/integration-worksheet/\?session={session_pk}$"))
    title = "Mini Worksheet: Integration and Change Awareness"
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    shown = page.locator("section.intention")
    expect(shown.get_by_role("heading", name="Your intention was…")).to_be_visible()
    expect(shown.get_by_text(INTENTION)).to_be_visible()
    j.check()
    for prompt, words in (
        ("What I Experienced or Noticed:", "Colours, then a long quiet"),
        ("What Felt Different:", "Less bracing"),
        ("What Insight Emerged:", "I am allowed to pause"),
        ("What This Means for My Life:", "Rest is not failure"),
        ("What I Might Do Next:", "\n".join(NEXT_STEPS)),
    ):
        page.get_by_role("textbox", name=prompt).fill(words)
    j.wait_saved()
    j.submit_instrument(title)

    page.goto(session_url)
    steps = page.locator("section", has=page.get_by_role("heading", name="Action steps from"))
    for step in NEXT_STEPS:
        expect(steps.get_by_text(step)).to_be_visible()
    j.check()

    # A check-in is due three days after a step is set (kap.journal.due): three days later…
    from kap.journal.models import ActionStep

    ActionStep.objects.filter(client__email=EMAIL).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    expect(page.get_by_text("You have 2 steps you are working on.")).to_be_visible()
    page.get_by_role("link", name="Check in", exact=True).click()
    expect(page.get_by_role("heading", name="Action steps", level=1)).to_be_visible()
    j.check()
    row = page.locator("li[id^=step-]").filter(has=page.get_by_role("heading", name=NEXT_STEPS[0]))
    row.get_by_role("link", name=f"Check in on “{NEXT_STEPS[0]}”").click()  # its own page
    expect(page.get_by_role("heading", name=NEXT_STEPS[0], level=1)).to_be_visible()
    j.check()
    page.get_by_label("Still working on it").focus()
    page.keyboard.press("Space")
    expect(page.get_by_label("Still working on it")).to_be_checked()
    page.get_by_label("A short note (optional)").fill("Went once, in the rain")
    page.get_by_role("button", name=f"Check in on “{NEXT_STEPS[0]}”").click()
    expect(page.get_by_text("Checked in: still working on it.")).to_be_visible()
    row = page.locator("li[id^=step-]").filter(has=page.get_by_role("heading", name=NEXT_STEPS[0]))
    expect(row.get_by_text("Still working on it — Went once, in the rain")).to_be_visible()
    j.check()

    # --- 6. PHQ-9 (no safety answer, then one), GAD-7, closing outcomes ----------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    page.get_by_role("link", name="Take the PHQ-9").click()
    phq9 = "Patient Health Questionnaire (PHQ-9)"
    expect(page.get_by_role("heading", name=phq9, level=1)).to_be_visible()
    j.check()
    for n in range(1, 10):
        page.locator(f"#q-q{n}").get_by_label("Not at all").check()
    page.locator("#q-q1").get_by_label("Several days").check()
    page.locator("#q-q10").get_by_label("Somewhat difficult").check()
    j.submit_instrument(phq9)
    expect(page.get_by_role("alert")).to_have_count(0)
    assert "988" not in j.main_text()
    expect(page.locator("section.result").get_by_text("1 of 27")).to_be_visible()

    page.get_by_role("link", name="Fill it in again").click()
    for n in range(1, 10):
        page.locator(f"#q-q{n}").get_by_label("Not at all").check()
    page.locator("#q-q9").get_by_label("Several days").check()
    page.get_by_role("button", name="Submit").click()
    # Post/redirect/get: the result page, crisis resources first; a reload files nothing again.
    page.wait_for_url(re.compile(r"/r/\d+/\?saved$"))
    alert = page.get_by_role("alert")
    expect(alert.get_by_role("heading", name="Please reach out for support now")).to_be_visible()
    expect(alert.get_by_text("Call or text 988").first).to_be_visible()
    # Before anything else on the page: the first thing in the main content.
    first = page.evaluate(
        "() => { const m = document.querySelector('main');"
        " let e = m.firstElementChild; while (e && !e.id && e.firstElementChild)"
        " e = e.firstElementChild; return e && e.id; }"
    )
    assert first == "safety"
    j.check()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    page.get_by_role("link", name="Take the GAD-7").click()
    gad7 = "Generalized Anxiety Disorder scale (GAD-7)"
    expect(page.get_by_role("heading", name=gad7, level=1)).to_be_visible()
    j.check()
    for n in range(1, 8):
        page.locator(f"#q-q{n}").get_by_label("Several days").check()
    j.submit_instrument(gad7)
    expect(page.locator("section.result").get_by_text("7 of 21")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Check-ins").click()
    page.get_by_role("link", name="Changes You Hope For").click()
    j.check()
    for n, item in enumerate(
        (
            "Increased emotional openness and flexibility",
            "Reduced depression and emotional heaviness",
            "Greater clarity and perspective",
            "Increased self-compassion",
            "A renewed sense of possibility",
        )
    ):
        page.get_by_role("group", name=item).get_by_label(str(4 + n), exact=True).check()
    j.submit_instrument("Changes You Hope For")
    expect(page.locator("section.result").get_by_text("6 of 10")).to_be_visible()

    # --- 7. The timeline shows it all; the search finds an insight ---------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name="Your timeline", level=1)).to_be_visible()
    for words in INSIGHTS:
        expect(page.get_by_text(words)).to_be_visible()
    for title in (
        "Self-Assessment Reflection",
        "Mini Worksheet: Integration and Change Awareness",
        "Generalized Anxiety Disorder scale (GAD-7)",
    ):
        expect(page.get_by_role("link", name=title).first).to_be_visible()
    j.check()
    search = page.get_by_label("Search your words")
    search.fill("smaller than I")
    search.press("Enter")
    page.wait_for_url("**/timeline/?q=smaller+than+I**")
    expect(page.get_by_text(INSIGHTS[0])).to_be_visible()
    expect(page.get_by_text(INSIGHTS[1])).to_have_count(0)
    j.check()

    # --- Every other instrument of the pack, from the list of check-ins ----------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Check-ins").click()
    listed = page.locator("ul.cards h2 a")
    titles = listed.all_inner_texts()
    hrefs = [listed.nth(i).get_attribute("href") for i in range(listed.count())]
    keys = [re.fullmatch(r"/i/([\w-]+)/", h).group(1) for h in hrefs]
    every = {i.key for i in Instrument.objects.current() if i.parsed.items}
    assert set(keys) == every, sorted(every ^ set(keys))
    done = submitted_keys(EMAIL)
    left = [(t, k) for t, k in zip(titles, keys, strict=True) if k not in done]
    assert left, "the journey should leave some instruments for the generic pass"
    for title, key in left:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Check-ins").click()
        page.get_by_role("link", name=title, exact=True).click()
        page.wait_for_url(f"**/i/{key}/")
        j.check()
        fill_generically(page)
        if page.locator("#draft-status").count():
            j.wait_saved()
        j.submit_instrument(title)

    assert every <= submitted_keys(EMAIL), sorted(every - submitted_keys(EMAIL))
    from kap.journal.models import Response

    assert not Response.objects.drafts().filter(client__email=EMAIL).exists()

    # --- On the way: no axe violation, no foreign request, no error --------------------------
    assert len(j.checked) > 30
    assert j.violations == [], "\n\n".join(j.violations)
    assert page.requests, "no requests were recorded"
    assert page.requests.foreign(origin) == []
    assert page.failures == []
    assert j.errors == []
