"""The practices in a real Chromium, with Playwright's clock standing in for time."""

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login, watched

pytestmark = pytest.mark.browser
EMAIL = "robin@example.com"


@pytest.fixture
def person(transactional_db):
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    return User.objects.create_user(EMAIL, PASSWORD, role="client")


@pytest.fixture
def new_tab(browser, live_server, person):
    """A logged-in tab in a context of its own (reduced motion, offline...), clock installed."""
    contexts = []

    def make(clock=True, **options):
        context = browser.new_context(base_url=live_server.url, **options)
        contexts.append(context)
        tab = watched(context.new_page())
        if clock:
            tab.clock.install(time=datetime.now())
        browser_login(tab, EMAIL)
        return tab

    yield make
    for context in contexts:
        context.close()


def logs():
    from kap.practices.models import PracticeLog

    return list(PracticeLog.objects.select_related("instrument").order_by("pk"))


def start(tab, path="/practices/grounding/", pace=None, minutes=None, before=None):
    tab.goto(path)
    if pace:
        tab.get_by_label(pace, exact=True).check()
    if minutes:
        tab.locator("#practice-minutes").fill(str(minutes))
    if before is not None:
        tab.locator(f"#id_before-settled_{before + 1}").check()
    # From here time moves only when the test moves it.
    tab.clock.pause_at(datetime.now() + timedelta(minutes=1))
    tab.get_by_role("button", name="Start").click()


def read(tab, selector):
    return tab.locator(selector).text_content()


def test_the_pacer_keeps_to_the_box_pace_for_five_minutes_then_orients(new_tab, live_server):
    tab = new_tab()
    start(tab, pace="Box (4-4-4-4)", minutes=5, before=3)
    expect(tab.locator("#practice-run")).to_be_visible()
    assert read(tab, "#practice-phase") == "Breathe in"
    assert read(tab, "#practice-live") == "Take slow, steady breaths. Breathe in"

    cues = ["Breathe in", "Hold", "Breathe out", "Hold"]
    breathing = 19 * 16_000  # 5 minutes, rounded up to whole breaths of 16 s
    now = 0
    for boundary in range(4000, breathing, 4000):
        before_cue = cues[(boundary // 4000 - 1) % 4]
        after_cue = cues[(boundary // 4000) % 4]
        tab.clock.run_for(boundary - 60 - now)
        assert read(tab, "#practice-phase") == before_cue, boundary - 60
        assert read(tab, "#practice-count") == "1"
        tab.clock.run_for(120)  # 60 ms after the boundary: well within 100 ms of schedule
        now = boundary + 60
        assert read(tab, "#practice-phase") == after_cue, boundary + 60
        assert read(tab, "#practice-count") == "4"
        assert read(tab, "#practice-live") == after_cue
        left = (breathing + 120_000 - boundary) // 1000
        assert read(tab, "#practice-left") == f"{left // 60}:{left % 60:02d} left"

    # The shape grows while breathing in: its scale is computed from the same clock.
    scale = "e => new DOMMatrix(getComputedStyle(e).transform).a"
    small = tab.locator("#pacer-shape").evaluate(scale)
    assert read(tab, "#practice-phase") == "Hold"  # the hold after breathing out: smallest
    tab.clock.run_for(breathing + 60 - now)
    assert read(tab, "#practice-step") == "Notice your body and surroundings"
    assert read(tab, "#practice-live") == "Notice your body and surroundings"
    assert read(tab, "#practice-count") == "60"
    assert not tab.locator(".pacer-stage").is_visible()
    tab.clock.run_for(60_000)
    assert read(tab, "#practice-step") == "Orient to safety"
    tab.clock.run_for(59_800)
    assert read(tab, "#practice-step") == "Orient to safety"
    tab.clock.run_for(200)
    expect(tab.get_by_role("heading", name="You finished")).to_be_focused()
    assert small == pytest.approx(0.45, abs=0.01)

    tab.locator("#id_after-settled_8").check()  # 7
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    [log] = logs()
    assert (log.instrument.key, log.instrument.version) == ("grounding", 1)
    assert (log.settled_before, log.settled_after) == (3, 7)
    assert (log.planned_seconds, log.elapsed_seconds, log.completed) == (424, 424, True)
    assert log.pace_used.key == "box"
    assert tab.evaluate("localStorage.length") == 0
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_the_shape_breathes_with_the_calm_pace(new_tab):
    tab = new_tab()
    start(tab, minutes=1)
    scale = "e => new DOMMatrix(getComputedStyle(e).transform).a"
    sizes = []
    for _ in range(10):
        sizes.append(tab.locator("#pacer-shape").evaluate(scale))
        tab.clock.run_for(1000)
    # 4 s in: growing to full; 6 s out: shrinking back.
    assert sizes[0] == pytest.approx(0.45, abs=0.01)
    assert sizes[0] < sizes[1] < sizes[2] < sizes[3] < sizes[4]
    assert sizes[4] == pytest.approx(1, abs=0.01)
    assert sizes[4] > sizes[5] > sizes[6] > sizes[7] > sizes[8] > sizes[9]
    assert tab.errors == []


def test_with_reduced_motion_nothing_moves_and_a_text_and_progress_cue_show(new_tab, live_server):
    tab = new_tab(reduced_motion="reduce")
    start(tab, pace="Calm (4 in, 6 out)", minutes=1)
    shape = tab.locator("#pacer-shape")
    cue = tab.locator(".pacer-progress")
    transforms = set()
    now = 0
    for at, phase, second, of in [
        (50, "Breathe in", 1, 4),
        (1500, "Breathe in", 2, 4),
        (3950, "Breathe in", 4, 4),
        (4050, "Breathe out", 1, 6),
        (7200, "Breathe out", 4, 6),
        (10_050, "Breathe in", 1, 4),
    ]:
        tab.clock.run_for(at - now)
        now = at
        transforms.add(shape.evaluate("e => getComputedStyle(e).transform"))
        assert shape.evaluate("e => getComputedStyle(e).animationName") == "none"
        assert shape.evaluate("e => e.getAnimations().length") == 0
        assert read(tab, "#practice-phase") == phase
        expect(cue).to_be_visible()
        assert read(tab, "#practice-progress-text") == f"Second {second} of {of}"
        assert tab.locator("#practice-progress").evaluate("e => [e.value, e.max]") == [second, of]
    assert transforms == {"matrix(0.72, 0, 0, 0.72, 0, 0)"}
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_without_reduced_motion_the_progress_cue_is_not_needed(new_tab):
    tab = new_tab()
    start(tab, minutes=1)
    assert not tab.locator(".pacer-progress").is_visible()


def test_space_pauses_and_resumes_and_escape_stops(new_tab, live_server):
    tab = new_tab()
    start(tab, pace="Calm (4 in, 6 out)", minutes=2, before=5)
    expect(tab.get_by_role("button", name="Pause")).to_be_focused()
    tab.clock.run_for(2500)
    assert (read(tab, "#practice-phase"), read(tab, "#practice-count")) == ("Breathe in", "2")

    tab.keyboard.press("Space")
    expect(tab.get_by_role("button", name="Resume")).to_be_visible()
    assert read(tab, "#practice-live") == "Paused. Press Space to go on."
    frozen = [read(tab, s) for s in ("#practice-phase", "#practice-count", "#practice-left")]
    shape = tab.locator("#pacer-shape").evaluate("e => e.style.transform")
    tab.clock.run_for(15_000)
    assert [
        read(tab, s) for s in ("#practice-phase", "#practice-count", "#practice-left")
    ] == frozen
    assert tab.locator("#pacer-shape").evaluate("e => e.style.transform") == shape

    tab.keyboard.press("Space")
    expect(tab.get_by_role("button", name="Pause")).to_be_visible()
    assert read(tab, "#practice-live") == "Take slow, steady breaths. Breathe in"
    tab.clock.run_for(1600)  # 4.1 s practised: breathing out
    assert (read(tab, "#practice-phase"), read(tab, "#practice-count")) == ("Breathe out", "6")

    # Space with nothing focused pauses too; Space on a form field or button is left to it.
    tab.evaluate("document.activeElement.blur()")
    tab.keyboard.press("Space")
    expect(tab.get_by_role("button", name="Resume")).to_be_visible()
    tab.clock.run_for(5000)
    tab.keyboard.press("Space")
    expect(tab.get_by_role("button", name="Pause")).to_be_visible()
    tab.clock.run_for(900)  # 5 s practised

    tab.keyboard.press("Escape")
    expect(tab.get_by_role("heading", name="You stopped")).to_be_focused()
    assert "You practised for 0:05." in read(tab, "#practice-summary")
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    [log] = logs()
    assert (log.completed, log.elapsed_seconds, log.planned_seconds) == (False, 5, 240)
    assert (log.settled_before, log.settled_after) == (5, None)
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_next_step_moves_on_and_the_last_one_finishes(new_tab):
    tab = new_tab()
    start(tab, minutes=1)
    tab.clock.run_for(3000)
    tab.get_by_role("button", name="Next step").click()
    assert read(tab, "#practice-step") == "Notice your body and surroundings"
    tab.get_by_role("button", name="Next step").click()
    assert read(tab, "#practice-step") == "Orient to safety"
    tab.clock.run_for(2000)
    tab.get_by_role("button", name="Finish").click()
    expect(tab.get_by_role("heading", name="You finished")).to_be_visible()
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    [log] = logs()
    assert (log.completed, log.elapsed_seconds, log.planned_seconds) == (True, 5, 180)


def test_a_practice_finished_offline_is_kept_and_saved_once_back_online(new_tab, live_server):
    tab = new_tab()
    start(tab, pace="Gentle (3 in, 5 out)", minutes=1, before=2)
    tab.clock.run_for(64_000 + 120_000)  # 8 breaths of 8 s, then the two steps
    expect(tab.get_by_role("heading", name="You finished")).to_be_visible()

    tab.context.set_offline(True)
    tab.locator("#id_after-settled_7").check()  # 6
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_contain_text("You seem to be offline")
    assert logs() == []
    kept = tab.evaluate("JSON.parse(localStorage.getItem(Object.keys(localStorage)[0]))")
    assert len(kept) == 1
    assert (kept[0]["settled_before"], kept[0]["settled_after"]) == (2, 6)

    tab.context.set_offline(False)
    # Chromium fires `online` when the network comes back.
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    assert tab.evaluate("localStorage.length") == 0
    tab.reload()
    tab.goto("/practices/")
    [log] = logs()
    assert (log.settled_before, log.settled_after, log.completed) == (2, 6, True)
    assert log.pace_used.key == "gentle"
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_a_log_that_failed_to_send_is_sent_on_the_next_page_load(new_tab):
    tab = new_tab()
    start(tab, minutes=1)
    tab.clock.run_for(30_000)
    # The server is out of reach (no `online` event will come): the send fails.
    tab.route("**/practices/log/", lambda route: route.abort("connectionrefused"))
    tab.keyboard.press("Escape")
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_contain_text("You seem to be offline")
    assert logs() == []

    tab.unroute("**/practices/log/")
    tab.goto("/practices/")
    expect(tab.locator("#outbox-status")).to_contain_text(
        "A practice kept on this device is now saved"
    )
    assert tab.evaluate("localStorage.length") == 0
    [log] = logs()
    assert (log.completed, log.elapsed_seconds) == (False, 30)
    tab.reload()
    assert len(logs()) == 1
    assert "Grounding Before Exploration" in tab.locator("table").text_content()


def test_leaving_in_the_middle_keeps_what_was_done(new_tab):
    tab = new_tab()
    start(tab, minutes=3)
    tab.clock.run_for(42_000)
    tab.goto("/practices/")
    expect(tab.locator("#outbox-status")).to_contain_text("now saved")
    [log] = logs()
    assert (log.completed, log.elapsed_seconds, log.settled_after) == (False, 42, None)


def test_gentle_awareness_keeps_quiet_time_and_counts_notings(new_tab, live_server):
    tab = new_tab()
    start(tab, path="/practices/gentle-awareness/", minutes=3, before=4)
    assert read(tab, "#practice-live") == "Quiet time has begun: 3 minutes."
    assert read(tab, "#practice-left") == "3:00 left"
    for step in (
        "Notice thoughts without reacting",
        "Observe emotions with curiosity",
        "Allow experience without forcing change",
    ):
        expect(tab.locator("#practice-run").get_by_text(step)).to_be_visible()
    tab.clock.run_for(30_000)
    tab.get_by_role("button", name="Thought").click()
    tab.get_by_role("button", name="Thought").click()
    tab.get_by_role("button", name="Emotion").click()
    assert read(tab, "#practice-live") == "Emotion noted."
    assert tab.get_by_role("button", name="Thought").text_content().split() == ["Thought", "2"]
    tab.clock.run_for(90_050)  # 2:00.05 in
    assert read(tab, "#practice-phase") == "One minute left"
    assert read(tab, "#practice-live") == "One minute left"
    tab.keyboard.press("Space")  # the Emotion button has focus: Space presses it
    assert tab.get_by_role("button", name="Emotion").text_content().split() == ["Emotion", "2"]
    tab.evaluate("document.activeElement.blur()")
    tab.keyboard.press("Space")
    expect(tab.get_by_role("button", name="Resume")).to_be_visible()
    tab.clock.run_for(100_000)
    assert read(tab, "#practice-left") == "1:00 left"
    tab.keyboard.press("Space")
    tab.clock.run_for(60_000)
    expect(tab.get_by_role("heading", name="You finished")).to_be_visible()
    tab.locator("#id_after-settled_9").check()  # 8
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    [log] = logs()
    assert log.instrument.key == "gentle-awareness"
    assert log.notings == {"thought": 2, "emotion": 2, "sensation": 0}
    assert (log.settled_before, log.settled_after) == (4, 8)
    assert (log.planned_seconds, log.elapsed_seconds, log.completed) == (180, 180, True)
    assert log.pace is None
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_a_bad_length_is_explained_next_to_the_field(new_tab):
    tab = new_tab(clock=False)
    tab.goto("/practices/grounding/")
    tab.locator("#practice-minutes").fill("12")
    tab.get_by_role("button", name="Start").click()
    field = tab.locator("#practice-minutes")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(tab.locator("#practice-minutes-error")).to_have_text(
        "Choose a whole number of minutes from 1 to 10."
    )
    expect(tab.locator("#practice-run")).to_be_hidden()
    tab.get_by_label("Your own pace", exact=True).check()
    tab.locator("#practice-minutes").fill("2")
    tab.get_by_label("Breathe in", exact=True).fill("0")
    tab.get_by_role("button", name="Start").click()
    expect(tab.locator("#pace-own-error")).to_be_visible()
    tab.get_by_label("Breathe in", exact=True).fill("5")
    tab.get_by_role("button", name="Start").click()
    expect(tab.locator("#practice-phase")).to_have_text("Breathe in")
    tab.keyboard.press("Escape")
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")
    assert logs()[0].pace_used.label == "Your own pace (5 in, 6 out)"


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def test_the_practice_pages_have_no_axe_violations(new_tab, live_server):
    tab = new_tab(clock=False)
    for path in ("/practices/grounding/", "/practices/gentle-awareness/"):
        tab.goto(path)
        assert not (v := axe_violations(tab)), f"{path} setup\n{describe(v)}"
        tab.get_by_role("button", name="Start").click()
        expect(tab.locator("#practice-run")).to_be_visible()
        assert not (v := axe_violations(tab)), f"{path} running\n{describe(v)}"
        tab.keyboard.press("Space")
        tab.keyboard.press("Escape")
        expect(tab.locator("#practice-after")).to_be_visible()
        assert not (v := axe_violations(tab)), f"{path} after\n{describe(v)}"
        tab.get_by_role("button", name="Save this practice").click()
        expect(tab.locator("#practice-saved")).to_contain_text("Saved")
    tab.goto("/practices/")
    assert not (v := axe_violations(tab)), f"list\n{describe(v)}"
    tab.get_by_role("link", name="Grounding Before Exploration").last.click()
    assert not (v := axe_violations(tab)), f"detail\n{describe(v)}"
    tab.goto("/practices/grounding/note/")
    assert not (v := axe_violations(tab)), f"note\n{describe(v)}"
    tab.locator("#id_minutes").fill("-1")
    tab.get_by_role("button", name="Save this practice").click()
    expect(tab.locator("#id_minutes-error")).to_be_visible()
    assert not (v := axe_violations(tab)), f"form error\n{describe(v)}"
    assert tab.requests.foreign(live_server.url) == []
    assert tab.errors == []


def test_without_javascript_the_page_explains_and_the_form_logs(browser, live_server, person):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    tab = context.new_page()
    try:
        browser_login(tab, EMAIL)
        tab.goto("/practices/grounding/")
        assert not tab.locator("#practice-app").is_visible()
        expect(tab.get_by_text("Notice your body and surroundings")).to_be_visible()
        tab.get_by_role("link", name="Note a practice you did").click()
        tab.wait_for_url("**/practices/grounding/note/")
        tab.get_by_label("About how many minutes did you practise?").fill("4")
        tab.locator("#id_settled_before_2").check()  # 1
        tab.locator("#id_settled_after_6").check()  # 5
        tab.get_by_role("button", name="Save this practice").click()
        tab.wait_for_url("**/practices/")
        expect(tab.get_by_text("Noted: Grounding Before Exploration.")).to_be_visible()
        [log] = logs()
        assert (log.settled_before, log.settled_after, log.elapsed_seconds) == (1, 5, 240)
    finally:
        context.close()
