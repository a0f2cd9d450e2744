"""Trends and the summary in a real Chromium: no axe violation, no request to another origin."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD, axe_violations, browser_login

pytestmark = pytest.mark.browser


def describe(violations) -> str:
    return "\n".join(
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in violations
    )


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}\n{describe(violations)}"


def _records(client) -> None:
    """A few weeks of a person's records: scores, outcomes, practices, a session, its insight."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from kap.content.models import Instrument
    from kap.journal.models import Insight, KapSession, Response
    from kap.journal.services import submit_response
    from kap.practices.models import PracticeLog
    from tests.progress.conftest import gad7_answers, outcome_answers, phq9_answers

    now = timezone.now()

    def submit(key, answers, days):
        instrument = Instrument.objects.current().get(key=key)
        r = submit_response(client=client, instrument=instrument, session=None, answers=answers)
        Response.objects.filter(pk=r.response.pk).update(submitted_at=now - timedelta(days=days))

    for days, phq, gad in ((40, 14, 12), (20, 10, 9), (2, 6, 5)):
        submit("phq9", phq9_answers(phq), days)
        submit("gad7", gad7_answers(gad), days)
    submit("closing-outcomes", outcome_answers(2, 3, 3, 2, 4), 35)
    submit("closing-outcomes", outcome_answers(5, 6, 6, 4, 7), 3)
    session = KapSession.objects.create(
        client=client, starts_at=now - timedelta(days=10), status="completed"
    )
    Insight.objects.create(client=client, session=session, text="The fear was smaller")
    grounding = Instrument.objects.current().get(key="grounding")
    for days, before, after in ((12, 3, 6), (4, 4, 7)):
        PracticeLog.objects.create(
            uuid=uuid.uuid4(),
            client=client,
            instrument=grounding,
            started_at=now - timedelta(days=days),
            planned_seconds=300,
            elapsed_seconds=300,
            completed=True,
            settled_before=before,
            settled_after=after,
        )


@pytest.mark.django_db(transaction=True)
def test_a_client_reads_their_trends_and_makes_a_summary(page, live_server):
    from kap.accounts.models import User
    from kap.content.sync import ensure_default_pack

    ensure_default_pack()
    robin = User.objects.create_user(
        "robin@example.com", PASSWORD, role="client", display_name="Robin"
    )
    _records(robin)
    browser_login(page, "robin@example.com")

    page.goto("/progress/")
    expect(page.get_by_role("heading", name="Your progress", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="PHQ-9 totals over time (0 to 27)")).to_be_visible()
    expect(
        page.get_by_text("Your latest PHQ-9 (6) is 57% lower than your first (14).")
    ).to_be_visible()
    # Each chart's figures are a table, folded away under it until asked for.
    table = page.get_by_role("table", name="Your PHQ-9 totals (0 to 27), oldest first")
    expect(table).to_be_hidden()
    page.get_by_text("Every PHQ-9 score, as a table").click()
    expect(table).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Bring to therapy: make a summary").click()
    expect(page.get_by_role("heading", name="A summary to bring to therapy")).to_be_visible()
    assert_accessible(page)

    # A mistake first: the message sits next to the date, and the page stays accessible.
    page.get_by_label("Start from").fill("2999-01-01")
    page.get_by_role("button", name="Show the summary").click()
    expect(page.get_by_text("That date is in the future.")).to_be_visible()
    assert_accessible(page)

    page.get_by_label("Start from").fill("")
    page.get_by_label("Practices").uncheck()
    page.get_by_role("button", name="Show the summary").click()
    expect(page.get_by_role("heading", name="Summary to bring to therapy", level=1)).to_be_visible()
    expect(page.get_by_text("The fear was smaller")).to_be_visible()
    expect(page.get_by_role("heading", name="Practices")).to_have_count(0)
    assert_accessible(page)

    page.goto("/progress/blank/integration-worksheet/")
    expect(page.get_by_role("heading", name="What I Might Do Next:")).to_be_visible()
    assert_accessible(page)

    assert page.requests, "no requests were recorded"
    assert page.requests.foreign(live_server.url) == []
    # The one refused choice (a date in the future) is answered with a 400, on purpose.
    assert [status for status, url in page.failures] == [400]
    assert "since=2999-01-01" in page.failures[0][1]
