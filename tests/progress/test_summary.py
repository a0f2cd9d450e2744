"""The summary to bring to therapy: the choice, the sections, the period, one person's data."""

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from tests.progress.conftest import CANARY, html, outcome_answers, text_of

FORM = "/progress/summary/"
VIEW = "/progress/summary/view/"
ALL = ["intentions", "questions", "insights", "worksheet", "steps", "scores", "practices"]
HEADINGS = {
    "intentions": "Intentions",
    "questions": "Questions to bring",
    "insights": "Insights",
    "worksheet": "Latest integration worksheet",
    "steps": "Action steps and check-ins",
    "scores": "Scores and change",
    "practices": "Practices",
}


def url(base=VIEW, *, since="", sections=ALL) -> str:
    return base + "?" + urlencode({"since": since, "sections": sections}, doseq=True)


def day(days_back: int) -> str:
    return (timezone.localdate() - timedelta(days=days_back)).isoformat()


def headings(response) -> list[str]:
    return re.findall(r'<h2 id="section-[a-z]+-title">(.*?)</h2>', html(response))


def field_error(response, field_id: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field_id}_error">(.*?)</p>', html(response))
    return match.group(1) if match else ""


def test_the_form_starts_with_every_section_ticked_and_the_last_session_named(
    logged_in, client_user, make_session
):
    make_session(client_user, days=4)

    response = logged_in.get(FORM)

    assert response.status_code == 200
    page = html(response)
    assert page.count("<h1") == 1
    for key in ALL:
        assert re.search(
            rf'<input type="checkbox" name="sections" value="{key}"[^>]* checked>', page
        )
    assert 'type="date" name="since"' in page
    session_day = timezone.localdate() - timedelta(days=4)
    assert f"start from your last session, on {session_day:%A} {session_day.day}" in text_of(
        response
    )
    assert 'formaction="/progress/summary.pdf"' in page


def test_it_puts_in_only_the_chosen_sections(logged_in, client_user, insight, phq9):
    insight(client_user, "The lake was calm", days=1)
    phq9(client_user, 10, days=1)

    response = logged_in.get(url(sections=["insights", "practices"]))

    assert response.status_code == 200
    assert headings(response) == ["Insights", "Practices"]
    text = text_of(response)
    assert "The lake was calm" in text
    assert "PHQ-9" not in text.split("Made on")[0]  # attributions in the footer only


def test_it_leaves_out_what_came_before_the_date(
    logged_in, client_user, insight, step, submit, practice
):
    insight(client_user, "An old insight from long ago", days=20)
    insight(client_user, "A fresh insight", days=2)
    step(client_user, "An old step", days=20)
    step(client_user, "A new step", days=1)
    submit(
        client_user, "integration-worksheet", {"insight-emerged": "Old worksheet words"}, days=20
    )
    submit(client_user, "integration-worksheet", {"insight-emerged": "New worksheet words"}, days=2)
    submit(client_user, "intention-setting", {"want-to-understand": "Old intention"}, days=20)
    submit(client_user, "intention-setting", {"want-to-understand": "New intention"}, days=2)
    practice(client_user, days=20, before=1, after=2, seconds=600)
    practice(client_user, days=2, before=4, after=6, seconds=300)

    response = logged_in.get(url(since=day(7)))

    assert response.status_code == 200
    text = text_of(response)
    assert "A fresh insight" in text and "An old insight from long ago" not in text
    assert "A new step" in text and "An old step" not in text
    assert "New worksheet words" in text and "Old worksheet words" not in text
    assert "New intention" in text and "Old intention" not in text
    assert "1 practice, 5 minutes in all." in text
    assert f"covering since {timezone.localdate() - timedelta(days=7):%A}" in text


def test_by_default_it_starts_from_the_day_of_the_last_session(
    logged_in, client_user, make_session, insight, submit
):
    make_session(client_user, days=30)
    last = make_session(client_user, days=6)
    make_session(client_user, days=-2, status="planned")
    submit(
        client_user,
        "intention-setting",
        {"want-to-understand": "Why the fear comes at night"},
        session=last,
        days=8,  # written before the session, for it
    )
    insight(client_user, "Before the last session", days=10)
    insight(client_user, "After the last session", days=5)

    response = logged_in.get(url(since=""))

    assert response.status_code == 200
    text = text_of(response)
    assert "covering since your last session, on" in text
    assert "After the last session" in text
    assert "Before the last session" not in text
    assert "Why the fear comes at night" in text
    assert "For the session on" in text


def test_a_bare_link_gives_every_section_since_the_last_session(logged_in, client_user):
    response = logged_in.get(VIEW)

    assert response.status_code == 200
    assert headings(response) == list(HEADINGS.values())
    assert "everything so far (no completed session is logged yet)" in text_of(response)


def test_an_unreadable_date_gets_a_message_next_to_the_field_and_no_summary(
    logged_in, client_user, insight
):
    insight(client_user, "Not to be shown", days=1)

    response = logged_in.get(url(since="last tuesday-ish"))

    assert response.status_code == 400
    assert field_error(response, "id_since") == (
        "Please give a date as year, month and day, such as 2026-03-01."
    )
    assert 'aria-invalid="true"' in html(response)
    assert 'aria-describedby="id_since_helptext id_since_error"' in html(response)
    assert headings(response) == []
    assert "Not to be shown" not in html(response)
    assert 'value="last tuesday-ish"' in html(response)  # what was typed is kept


def test_a_date_in_the_future_gets_a_message(logged_in):
    response = logged_in.get(url(since=day(-3)))

    assert response.status_code == 400
    assert field_error(response, "id_since") == (
        "That date is in the future. Please choose today or an earlier date."
    )
    assert headings(response) == []


def test_an_unknown_section_gets_a_message(logged_in):
    response = logged_in.get(url(sections=["insights", "diagnosis"]))

    assert response.status_code == 400
    assert field_error(response, "id_sections") == (
        "“diagnosis” is not a part of the summary. Please choose from the list."
    )
    assert headings(response) == []


def test_no_section_at_all_gets_a_message(logged_in):
    response = logged_in.get(url(sections=[]))

    assert response.status_code == 400
    assert field_error(response, "id_sections") == (
        "Please choose at least one thing to put in the summary."
    )


def test_the_last_session_keyword_means_the_default(logged_in, client_user, make_session):
    make_session(client_user, days=3)

    response = logged_in.get(url(since="last-session"))

    assert response.status_code == 200
    assert "covering since your last session" in text_of(response)


def test_scores_show_the_first_ever_the_latest_and_the_change(
    logged_in, client_user, phq9, gad7, submit
):
    phq9(client_user, 14, days=60)
    phq9(client_user, 11, days=30)
    phq9(client_user, 4, days=2)
    gad7(client_user, 8, days=2)
    submit(client_user, "closing-outcomes", outcome_answers(2, 2, 2, 2, 2), days=50)
    submit(client_user, "closing-outcomes", outcome_answers(6, 6, 6, 7, 7), days=3)

    response = logged_in.get(url(since=day(7), sections=["scores"]))

    assert response.status_code == 200
    text = text_of(response)
    assert "PHQ-9 14 (Moderate)" in text
    assert "4 (Minimal)" in text
    assert "10 points lower than the first. 1 in this period." in text
    assert "GAD-7 8 (Mild)" in text
    assert "One score so far" in text
    assert "4.4 points higher than the first." in text  # outcomes average 2 → 6.4
    assert "Researchers call a drop of half or more a ‘response’." in text
    assert "which researchers call ‘remission’" in text


def test_steps_come_with_their_check_ins(logged_in, client_user, step):
    from kap.journal.records import check_in

    walk = step(client_user, "Walk at lunch", days=3)
    check_in(step=walk, status="working", note="Twice this week")
    check_in(step=walk, status="done")

    response = logged_in.get(url(sections=["steps"], since=day(7)))

    assert response.status_code == 200
    text = text_of(response)
    assert "Walk at lunch (done)" in text
    assert "still working on it — Twice this week" in text


def test_an_old_step_checked_in_on_lately_is_in(logged_in, client_user, step):
    from kap.journal.models import CheckIn

    old = step(client_user, "Stretch in the morning", days=40)
    CheckIn.objects.create(
        step=old, status="working", created_at=timezone.now() - timedelta(days=35)
    )
    CheckIn.objects.create(step=old, status="done", created_at=timezone.now() - timedelta(days=1))

    response = logged_in.get(url(sections=["steps"], since=day(7)))

    text = text_of(response)
    assert "Stretch in the morning" in text
    assert "still working on it" not in text  # that check-in was before the date


def test_questions_are_the_open_ones(logged_in, client_user):
    from kap.journal.models import QuestionToBring

    QuestionToBring.objects.create(client=client_user, text="Can I bring music?")
    QuestionToBring.objects.create(
        client=client_user, text="Already asked this", asked_at=timezone.now()
    )

    response = logged_in.get(url(sections=["questions"]))

    assert response.status_code == 200
    assert "Can I bring music?" in text_of(response)
    assert "Already asked this" not in text_of(response)


def test_practices_are_counted_with_minutes_and_the_average_settled(
    logged_in, client_user, practice
):
    practice(client_user, days=3, before=2, after=6, seconds=600)
    practice(client_user, days=2, before=4, after=7, seconds=300)
    practice(client_user, days=1, seconds=120)

    response = logged_in.get(url(sections=["practices"], since=day(7)))

    assert response.status_code == 200
    text = text_of(response)
    assert "3 practices, 17 minutes in all." in text
    assert "Across the 2 you rated before and after" in text
    assert "from 3.0 to 6.5 (of 10)" in text


def test_the_footer_has_the_date_the_disclaimer_and_the_attributions(logged_in):
    response = logged_in.get(url(sections=["insights"]))

    assert response.status_code == 200
    text = text_of(response)
    assert f"Made on {timezone.localdate():%-d %B %Y}." in text
    assert "Made with KAP Companion. Not a medical record; not monitored in real time." in text
    assert "PHQ-9 and GAD-7: Developed by Drs. Robert L. Spitzer" in text


def test_a_strangers_words_never_appear(logged_in, client_user, stranger_with_canary):
    response = logged_in.get(url(since=day(30)))

    assert response.status_code == 200
    assert CANARY not in html(response)
    assert "No open questions." in text_of(response)
    assert "No scores recorded yet." in text_of(response)


def test_a_therapist_is_sent_home_politely(client, make_user, guide):
    client.force_login(make_user("dr@example.com", role="therapist"))

    for address in (FORM, VIEW, "/progress/summary.pdf"):
        response = client.get(address)
        assert response.status_code == 302, address
        assert response["Location"] == "/", address


def test_the_summary_page_links_to_the_same_choice_as_a_pdf(logged_in):
    address = url(sections=["insights", "scores"], since=day(3))

    response = logged_in.get(address)

    assert response.status_code == 200
    query = address.split("?", 1)[1].replace("&", "&amp;")
    assert f'href="/progress/summary.pdf?{query}"' in html(response)
    assert "style=" not in html(response)
    assert html(response).count("<h1") == 1


def _fill(client, count, *, insight, step, phq9, submit):
    from kap.journal.records import check_in

    for n in range(count):
        insight(client, f"Insight {n}", days=1)
        check_in(step=step(client, f"Step {n}", days=1), status="working", note=f"Note {n}")
        submit(client, "intention-setting", {"want-to-understand": f"Intention {n}"}, days=1)
        phq9(client, n % 25, days=1)


@pytest.mark.parametrize("count", [3, 30])
def test_the_summary_is_gathered_in_ten_queries(
    client_user, insight, step, phq9, submit, count, django_assert_num_queries
):
    from kap.content.roles import roles_for
    from kap.progress.summary import SECTION_KEYS, Period, build_summary

    _fill(client_user, count, insight=insight, step=step, phq9=phq9, submit=submit)
    period = Period(timezone.now() - timedelta(days=7), "since a week ago")
    roles_for(client_user)  # the packs are parsed once per process

    # the packs' roles, specs, then one per section, and one more for the steps' check-ins.
    with django_assert_num_queries(10):
        made = build_summary(client_user, period=period, sections=SECTION_KEYS)

    # All are read; as many as fit in about a page a section are shown (kap.lib.pdf_text).
    assert len(made.insights) == count
    assert len(made.steps) + made.more_steps == count
    assert len(made.intentions) + made.more_intentions == count
    assert made.scores[0].count == count


def test_the_summary_page_takes_as_many_queries_for_30_entries_as_for_3(
    logged_in, client_user, make_user, insight, step, phq9, submit, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _fill(client_user, 3, insight=insight, step=step, phq9=phq9, submit=submit)
    logged_in.get(FORM)  # the first request after logging in may touch the session
    with CaptureQueriesContext(connection) as ctx:
        logged_in.get(url(since=day(7)))
    few = len(ctx)  # now: the log it reads from is a ring buffer

    other = make_user("many@example.com")
    _fill(other, 30, insight=insight, step=step, phq9=phq9, submit=submit)
    logged_in.force_login(other)
    logged_in.get(FORM)
    with django_assert_num_queries(few):
        response = logged_in.get(url(since=day(7)))

    assert response.status_code == 200
    assert "Insight 29" in text_of(response)
