"""A new draft open in two windows (two tabs of one browser, one person), in a real Chromium.

Neither tab had a draft when it opened. The first tab's autosave starts the draft; the second
tab's first save must be refused as a conflict, with both texts shown, never applied over the
first. Whatever the two tabs do next, both texts survive where the person can see them."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser

EMAIL = "two.windows@example.com"
URL = "/i/self-assessment/"
LABEL = "What have you already tried to change them?"
ONE = "Tab one: a gratitude journal"
ONE_MORE = "Tab one again: running on Sundays"
TWO = "Tab two: talking to my sister"


def setup_person():
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    return User.objects.create_user(EMAIL, PASSWORD, role="client")


def stored_draft() -> dict:
    from kap.journal.models import Response

    r = Response.objects.filter(instrument__key="self-assessment").first()
    return {"status": r.status, **r.answers} if r else {}


def box(tab):
    return tab.get_by_role("textbox", name=LABEL)


def status_says(tab, text):
    expect(tab.locator("#draft-status")).to_contain_text(text, timeout=10_000)


def two_tabs(page):
    """Both tabs open the form before either has written anything."""
    setup_person()
    browser_login(page, EMAIL)
    other = page.context.new_page()
    page.goto(URL)
    other.goto(URL)
    for tab in (page, other):
        status_says(tab, "save as you type")
        assert tab.locator("input[name=version]").input_value() == ""
    return page, other


def type_and_save(tab, text):
    box(tab).fill(text)
    box(tab).blur()
    status_says(tab, "Saved at")


def second_tab_is_refused(one, two):
    """Tab one starts the draft; tab two's first save is refused; tab one goes on writing."""
    type_and_save(one, ONE)
    assert one.locator("input[name=version]").input_value() == "1"  # learnt from its autosave
    box(two).fill(TWO)
    box(two).blur()
    status_says(two, "changed in another window")
    assert stored_draft()["already-tried"] == ONE
    # Tab one keeps writing (its copy on this device is written and forgotten meanwhile).
    type_and_save(one, f"{ONE}\n{ONE_MORE}")
    assert stored_draft()["already-tried"] == f"{ONE}\n{ONE_MORE}"


def resolve_in_tab_two_and_submit(one, two, saved):
    """The person adds tab two's words to the saved text; the result shows all of them."""
    local = two.locator("#draft-local")
    expect(local).to_be_visible()
    expect(local).to_contain_text(TWO)
    expect(box(two)).to_have_value(saved)
    box(two).fill(f"{saved}\n{TWO}")
    box(two).blur()
    status_says(two, "Saved at")
    assert stored_draft()["already-tried"] == f"{saved}\n{TWO}"
    one.reload()
    expect(box(one)).to_have_value(f"{saved}\n{TWO}")

    two.get_by_role("button", name="Submit").click()
    two.wait_for_url(re.compile(r"/r/\d+/\?saved$"))
    answers = two.locator("dl.answers")
    for text in (ONE, ONE_MORE, TWO):
        expect(answers).to_contain_text(text)
    assert stored_draft()["status"] == "submitted"


@pytest.mark.django_db(transaction=True)
def test_the_second_tab_reloads_after_its_refused_save_and_sees_both_texts(page, live_server):
    one, two = two_tabs(page)
    second_tab_is_refused(one, two)

    two.reload()  # as the message says: reload to compare both versions
    # Both texts: the saved one in the field, this tab's under "Written on this device".
    expect(box(two)).to_have_value(f"{ONE}\n{ONE_MORE}")
    expect(two.locator("#draft-local")).to_contain_text(TWO)
    assert not axe_violations(two)

    resolve_in_tab_two_and_submit(one, two, f"{ONE}\n{ONE_MORE}")
    assert page.requests.foreign(live_server.url) == []


@pytest.mark.django_db(transaction=True)
def test_the_second_tab_submits_sees_both_texts_and_loses_none(page, live_server):
    one, two = two_tabs(page)
    second_tab_is_refused(one, two)

    two.get_by_role("button", name="Submit").click()
    expect(two.get_by_role("heading", name="This was changed somewhere else")).to_be_visible()
    saved = two.locator(".conflict-pair > div").filter(has_text="Saved version")
    mine = two.locator(".conflict-pair > div").filter(has_text="What you just wrote")
    expect(saved).to_contain_text(ONE_MORE)
    expect(mine).to_contain_text(TWO)
    assert stored_draft() == {"status": "draft", "already-tried": f"{ONE}\n{ONE_MORE}"}

    latest = f"{ONE}\n{ONE_MORE}, and swimming"
    type_and_save(one, latest)  # tab one again, while tab two reads
    two.get_by_role("link", name="open the saved version").click()
    two.wait_for_url(f"**{URL}")
    resolve_in_tab_two_and_submit(one, two, latest)
