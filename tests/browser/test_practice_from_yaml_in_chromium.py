"""A practice added only in YAML gets a working page: no code, no template, no URL of its own.

The built-in pack is copied, given a box-breathing practice (steps and a pace, nothing else),
and loaded as a new version. In a real Chromium the practice is then reached from the guide and
from /practices/, its breath pacer runs through the four phases, and the practice is logged.
"""

import shutil
from datetime import datetime, timedelta

import pytest
import yaml
from playwright.sync_api import expect

from tests.conftest import PACK_DIR, PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser
EMAIL = "kim@example.com"
GUIDE_PAGE = "nervous-system-regulation"
BOX_BREATHING = {
    "key": "box-breathing",
    "version": 1,
    "kind": "practice",
    "title": "Box Breathing",
    "page": GUIDE_PAGE,
    "intro": "Four equal sides: in, hold, out, hold.",
    "steps": [
        {"key": "breathe", "text": "Breathe around the square"},
        {"key": "settle", "text": "Let your breath find its own pace", "seconds": 30},
    ],
    "paces": [
        {
            "key": "box",
            "label": "Box (4-4-4-4)",
            "inhale": 4,
            "hold_in": 4,
            "exhale": 4,
            "hold_out": 4,
        }
    ],
    "duration": {"min_minutes": 1, "max_minutes": 5, "default_minutes": 2},
}


def pack_with_box_breathing(tmp_path):
    """A copy of the built-in pack with one more practice, written as an author would."""
    folder = tmp_path / "kap-guide"
    shutil.copytree(PACK_DIR, folder)
    (folder / "instruments" / "box-breathing.yaml").write_text(yaml.safe_dump(BOX_BREATHING))
    pack = yaml.safe_load((folder / "pack.yaml").read_text())
    pack["version"] += 1
    pack["instruments"].append("instruments/box-breathing.yaml")
    page = next(p for p in pack["pages"] if p["slug"] == GUIDE_PAGE)
    page["instruments"].append("box-breathing")
    (folder / "pack.yaml").write_text(yaml.safe_dump(pack, sort_keys=False, allow_unicode=True))
    return folder


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def read(tab, selector):
    return tab.locator(selector).text_content()


@pytest.fixture
def kim(transactional_db, tmp_path):
    """Someone logged in to a server whose guide has box breathing, added only in YAML."""
    from kap.accounts.models import User
    from kap.content.sync import load_pack

    result = load_pack(pack_with_box_breathing(tmp_path))
    assert "box-breathing v1" in result.new_instruments
    return User.objects.create_user(EMAIL, PASSWORD, role="client")


def watch_errors(page) -> list[str]:
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


@pytest.mark.django_db(transaction=True)
def test_the_practice_is_reached_from_the_guide_and_the_list_with_no_axe_violation(
    page, live_server, kim
):
    errors = watch_errors(page)
    browser_login(page, EMAIL)
    # Reached from the guide page that lists it...
    page.goto(f"/guide/{GUIDE_PAGE}/")
    section = page.get_by_role("region", name="Box Breathing")
    section.get_by_role("link", name="Start the practice").click()
    page.wait_for_url("**/practices/box-breathing/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Box Breathing")
    expect(page.get_by_text("Four equal sides: in, hold, out, hold.")).to_be_visible()
    # ...and from the list of practices.
    page.goto("/practices/")
    page.locator(".practice-starts").get_by_role("link", name="Box Breathing").click()
    page.wait_for_url("**/practices/box-breathing/")
    expect(page.get_by_role("heading", name="Practise with the breath pacer")).to_be_visible()
    assert not (v := axe_violations(page)), f"setup\n{describe(v)}"

    page.get_by_role("button", name="Start").click()
    expect(page.locator("#practice-phase")).to_have_text("Breathe in")
    expect(page.locator("#pacer-shape")).to_be_attached()
    assert not (v := axe_violations(page)), f"running\n{describe(v)}"
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="You stopped")).to_be_focused()
    assert not (v := axe_violations(page)), f"after\n{describe(v)}"
    page.get_by_role("button", name="Save this practice").click()
    expect(page.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")

    page.goto("/practices/")
    expect(page.locator("table")).to_contain_text("Box Breathing")
    assert not (v := axe_violations(page)), f"list\n{describe(v)}"
    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_its_breath_pacer_keeps_the_box_pace_and_the_practice_is_logged(page, live_server, kim):
    from kap.practices.models import PracticeLog

    errors = watch_errors(page)
    page.clock.install(time=datetime.now())
    browser_login(page, EMAIL)
    page.goto("/practices/box-breathing/")
    page.get_by_label("Box (4-4-4-4)", exact=True).check()
    page.locator("#practice-minutes").fill("1")
    page.locator("#id_before-settled_4").check()  # 3
    # From here time moves only when the test moves it (axe, which needs timers, is done above).
    page.clock.pause_at(datetime.now() + timedelta(minutes=1))
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#practice-run")).to_be_visible()
    assert read(page, "#practice-step") == "Breathe around the square"
    page.clock.run_for(50)  # read each phase 50 ms after it began
    phases = []
    for _ in range(5):
        phases.append(read(page, "#practice-phase"))
        page.clock.run_for(4000)
    assert phases == ["Breathe in", "Hold", "Breathe out", "Hold", "Breathe in"]
    # 20 s in, the hold after breathing in: shown and said.
    assert read(page, "#practice-phase") == read(page, "#practice-live") == "Hold"

    # One minute of breathing is 4 breaths of 16 s (20 s done), then the 30 s step.
    page.clock.run_for(44_000)
    assert read(page, "#practice-step") == "Let your breath find its own pace"
    page.clock.run_for(30_000)
    expect(page.get_by_role("heading", name="You finished")).to_be_focused()
    page.locator("#id_after-settled_9").check()  # 8
    page.get_by_role("button", name="Save this practice").click()
    expect(page.locator("#practice-saved")).to_have_text("Saved. Thank you for taking this time.")

    [log] = PracticeLog.objects.select_related("instrument", "client")
    assert (log.client, log.instrument.key, log.instrument.version) == (kim, "box-breathing", 1)
    assert (log.settled_before, log.settled_after, log.completed) == (3, 8, True)
    assert (log.planned_seconds, log.elapsed_seconds) == (94, 94)
    assert log.pace_used.label == "Box (4-4-4-4)"
    assert page.requests.foreign(live_server.url) == []
    assert page.failures == []
    assert errors == []
