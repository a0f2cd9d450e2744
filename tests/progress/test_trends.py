"""The Trends page: charts with data tables, change in words, sessions marked, one person's data."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.progress.conftest import CANARY, html, outcome_answers, text_of

URL = "/progress/"


def table_rows(page: str, table_id: str) -> list[str]:
    match = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert match, f"no table #{table_id}"
    return re.findall(r"<tr>.*?</tr>", match.group(1), re.S)


def chart(page: str, chart_id: str) -> str:
    match = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', page, re.S)
    assert match, f"no chart #{chart_id}"
    return match.group(0)


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_log_in(client, guide):
    for url in (
        URL,
        "/progress/summary/",
        "/progress/summary/view/",
        "/progress/summary.pdf",
        "/progress/blank/integration-worksheet/",
        "/progress/blank/integration-worksheet.pdf",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url


def test_it_shades_the_phq9_bands_and_lists_every_score_in_a_table(logged_in, client_user, phq9):
    for days, total in ((40, 14), (26, 11), (12, 9), (2, 6)):
        phq9(client_user, total, days=days)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    svg = chart(page, "chart-phq9")
    for band in ("Minimal", "Mild", "Moderate", "Moderately severe", "Severe"):
        assert f">{band}</text>" in svg
    assert svg.count('class="band band-') == 5
    rows = table_rows(page, "phq9-table")
    assert len(rows) == 4
    assert ">14</td><td>Moderate</td>" in rows[0]
    assert ">6</td><td>Mild</td>" in rows[-1]
    assert '<th scope="row">' in rows[0]
    assert '-caption">Your PHQ-9 totals (0 to 27), oldest first</caption>' in page


def test_the_gad7_chart_has_its_own_bands_up_to_21(logged_in, client_user, gad7):
    gad7(client_user, 16, days=20)
    gad7(client_user, 7, days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    svg = chart(html(response), "chart-gad7")
    assert "GAD-7 totals over time (0 to 21)" in svg
    assert svg.count('class="band band-') == 4
    assert len(table_rows(html(response), "gad7-table")) == 2


@pytest.mark.parametrize(
    "first, latest, response_words, remission_words",
    [(14, 6, True, False), (14, 4, True, True), (14, 10, False, False)],
)
def test_response_and_remission_are_named_only_when_earned(
    logged_in, client_user, phq9, first, latest, response_words, remission_words
):
    phq9(client_user, first, days=30)
    phq9(client_user, latest, days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    text = text_of(response)
    assert f"Your latest PHQ-9 ({latest}) is" in text
    assert ("Researchers call a drop of half or more a ‘response’." in text) is response_words
    assert ("which researchers call ‘remission’" in text) is remission_words


def test_one_score_gets_no_words_about_change(logged_in, client_user, phq9):
    phq9(client_user, 14, days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    text = text_of(response)
    assert "Your latest PHQ-9" not in text
    assert "response’" not in text
    assert "remission" not in text
    assert len(table_rows(html(response), "phq9-table")) == 1


def test_completed_sessions_are_marked_on_every_chart(
    logged_in, client_user, make_session, phq9, gad7, submit, practice
):
    make_session(client_user, days=20)
    make_session(client_user, days=8)
    make_session(client_user, days=5, status="cancelled")
    phq9(client_user, 12, days=25)
    gad7(client_user, 9, days=25)
    submit(client_user, "closing-outcomes", outcome_answers(2, 3, 4, 5, 6), days=25)
    practice(client_user, days=25, before=3, after=6)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    for chart_id in ("chart-phq9", "chart-gad7", "chart-outcomes", "chart-settled"):
        svg = chart(page, chart_id)
        assert svg.count('class="marker-group"') == 2, chart_id
        assert ">Session 1</text>" in svg and ">Session 2</text>" in svg, chart_id
        assert "Session 3" not in svg, chart_id


def test_settled_ratings_before_and_after_are_two_series(logged_in, client_user, practice):
    practice(client_user, days=6, before=3, after=6)
    practice(client_user, days=3, before=4, after=None)
    practice(client_user, days=1, before=5, after=8)
    practice(client_user, days=1)  # no ratings: not charted

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    svg = chart(page, "chart-settled")
    assert 'class="series series-1"' in svg and 'class="series series-2"' in svg
    assert ">Before the practice</text>" in svg and ">After the practice</text>" in svg
    assert "Before the practice: first 3 (Grounding" in svg
    assert "After the practice: first 6 (Grounding" in svg
    assert svg.count('class="point"') == 3 + 2 + 2  # before, after, and the legend's two
    rows = table_rows(page, "settled-table")
    assert len(rows) == 3
    assert "<td>4</td><td>–</td>" in rows[1]


def test_the_five_outcomes_are_one_chart_named_by_their_item_texts(
    logged_in, client_user, submit, guide
):
    from kap.content.models import Instrument

    submit(client_user, "closing-outcomes", outcome_answers(2, 3, 4, 5, 6), days=9)
    submit(client_user, "closing-outcomes", outcome_answers(4, 5, 6, 7, 8), days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    svg = chart(page, "chart-outcomes")
    spec = Instrument.objects.current().get(key="closing-outcomes").parsed
    for number, item in enumerate(spec.items, start=1):
        assert f'class="series series-{number}"' in svg
        assert f"{item.text}: first " in svg
        assert f'<th scope="col">{item.text}</th>' in page
    rows = table_rows(page, "outcomes-table")
    assert len(rows) == 2
    assert "<td>6</td></tr>" in rows[-1]  # the average of 4, 5, 6, 7, 8


def test_it_says_what_was_written_after_each_session(
    logged_in, client_user, make_session, insight, step, submit
):
    first = make_session(client_user, days=30)
    make_session(client_user, days=20)
    third = make_session(client_user, days=10)
    make_session(client_user, days=-3, status="planned")
    insight(client_user, "Before it all", session=first)
    for n in range(4):
        insight(client_user, f"Insight {n}", session=third)
    step(client_user, "Walk", session=third, status="done")
    step(client_user, "Call my sister", session=third, status="done")
    step(client_user, "Draw", session=third)

    response = logged_in.get(URL)

    assert response.status_code == 200
    text = text_of(response)
    assert "After session 3 you wrote 4 insights and 2 of 3 action steps are done." in text
    assert "After session 1 you wrote 1 insight." in text
    assert "After session 2 nothing is written yet." in text
    assert "session 4" not in text.lower()


def test_older_entries_are_a_row_per_period_with_their_average_rounded_as_on_paper(
    logged_in, client_user, phq9, practice, make_session
):
    # Two PHQ-9s in one month half a year ago, 8 and 9: 8.5; four practices rated 3, 3, 3 and 4
    # before (3.25, which is 3.3 on paper) and 1 and 2 after (1.5); and one recent of each.
    now = timezone.now()
    mid_month = (now - timedelta(days=180)).replace(day=10, hour=12)
    ago = [(now - mid_month).total_seconds() / 86400 - n for n in range(4)]
    for days, total in ((ago[0], 8), (ago[1], 9), (2, 6)):
        phq9(client_user, total, days=days)
    for days, before, after in zip([*ago, 1], (3, 3, 3, 4, 5), (1, 2, None, None, 8), strict=True):
        practice(client_user, days=days, before=before, after=after)
    session = make_session(client_user, days=3)

    page = html(logged_in.get(URL))

    older, recent = table_rows(page, "phq9-table")
    assert re.search(
        r'<th scope="row">\w+ \d{4} <span class="muted">\(average of 2\)</span></th>'
        r"<td>8.5</td><td>–</td>",
        older,
    ), older
    assert re.search(
        r'<th scope="row"><time datetime="\d{4}-\d\d-\d\dT[^"]+">\d+ \w{3} \d{4}</time>'
        r"</th><td>6</td><td>Mild</td>",
        recent,
    ), recent
    older, recent = table_rows(page, "settled-table")
    assert "<td>Average of 4 practices</td><td>3.3</td><td>1.5</td>" in older
    assert re.search(r"<time [^>]+>\d+ \w{3} \d{4}, \d\d:\d\d</time></th><td>Grounding", recent)
    assert "<td>5</td><td>8</td>" in recent
    day = timezone.localtime(session.starts_at).strftime("%-d %B %Y")
    link = f'href="/sessions/{session.pk}/">Open session 1 (<time datetime="'
    assert link in page and f'">{day}</time>)</a>' in page


def test_it_never_shows_another_clients_records(logged_in, client_user, stranger_with_canary, phq9):
    phq9(client_user, 9, days=1)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    assert CANARY not in page
    assert len(table_rows(page, "phq9-table")) == 1  # the stranger's two scores are not here
    assert "Session 1" not in page  # nor the stranger's session
    assert "remission" not in page  # the stranger's 20 → 3 earns nothing here


def test_a_therapist_is_sent_home_politely(client, make_user, guide):
    client.force_login(make_user("dr@example.com", role="therapist"))

    response = client.get(URL, follow=True)

    # Home, which sends staff on to their own pages (the roster, after the second factor).
    assert response.redirect_chain[0] == ("/", 302)
    assert "Progress and summaries show a client's own records" in text_of(response)


def test_it_links_to_the_summary_and_to_each_blank_sheet(logged_in):
    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    assert 'href="/progress/summary/">Bring to therapy: make a summary</a>' in page
    assert "A blank copy to print" in page
    for key in (
        "integration-worksheet",
        "first-session-preparation",
        "self-assessment",
        "intention-setting",
    ):
        assert f'href="/progress/blank/{key}/"' in page


def test_a_new_person_sees_invitations_instead_of_empty_charts(logged_in):
    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    assert 'class="chart' not in page
    assert "Nothing to chart yet." in text_of(response)
    assert 'href="/i/phq9/"' in page


def test_the_page_has_one_h1_and_nothing_inline_for_the_csp(
    logged_in, client_user, phq9, practice, make_session
):
    make_session(client_user, days=3)
    phq9(client_user, 12, days=4)
    phq9(client_user, 8, days=1)
    practice(client_user, days=1, before=2, after=5)

    response = logged_in.get(URL)

    assert response.status_code == 200
    page = html(response)
    assert page.count("<h1") == 1
    assert "style=" not in page
    # (A JSON data block, such as the scripts' words in #kap-strings, is never run.)
    assert not re.search(r'<script(?![^>]*\b(src=|type="application/json"))', page), (
        "an inline script"
    )
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def _trends_queries(client) -> int:
    client.get("/progress/summary/")  # the first request after logging in may touch the session
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(URL)
    assert response.status_code == 200
    return len(ctx)


def _record_a_lot(
    client_user, n, *, phq9, gad7, submit, practice, make_session, insight, step, days_ago=0
):
    for i in range(n):
        phq9(client_user, i % 25, days=days_ago + n - i)
        gad7(client_user, i % 21, days=days_ago + n - i)
        submit(
            client_user, "closing-outcomes", outcome_answers(*[i % 11] * 5), days=days_ago + n - i
        )
        practice(client_user, days=days_ago + n - i, before=i % 11, after=(i + 3) % 11)
        session = make_session(client_user, days=days_ago + n - i + 0.5)
        insight(client_user, f"Insight {i}", session=session)
        step(client_user, f"Step {i}", session=session, status="done" if i % 2 else "open")


@pytest.fixture
def factories(phq9, gad7, submit, practice, make_session, insight, step):
    return dict(
        phq9=phq9,
        gad7=gad7,
        submit=submit,
        practice=practice,
        make_session=make_session,
        insight=insight,
        step=step,
    )


def test_three_or_thirty_of_everything_take_the_same_queries(
    logged_in, client_user, make_user, factories, django_assert_num_queries
):
    _record_a_lot(client_user, 3, **factories)
    few = _trends_queries(logged_in)

    other = make_user("many@example.com")
    _record_a_lot(other, 30, **factories)
    logged_in.force_login(other)
    logged_in.get("/progress/summary/")
    with django_assert_num_queries(few):
        response = logged_in.get(URL)

    assert response.status_code == 200
    assert len(table_rows(html(response), "phq9-table")) == 30
    assert "After session 30 you wrote 1 insight" in text_of(response)


@pytest.mark.parametrize("years", [0, 3], ids=["recent", "years"])
def test_the_data_is_assembled_in_ten_queries(
    client_user, factories, django_assert_num_queries, years
):
    from kap.content.roles import roles_for
    from kap.progress.trends import trends

    _record_a_lot(client_user, 5, **factories)
    if years:  # and one of each long ago: averaged per period, in SQL
        _record_a_lot(client_user, 1, **{**factories, "days_ago": 365 * years})
    roles_for(client_user)  # the packs are parsed once per process

    # The packs' roles, the instruments, the ends of the scores, outcomes, the ends of the
    # practices, older scores and older practices per period, recent scores, recent practices
    # and sessions.
    with django_assert_num_queries(10):
        data = trends(client_user)

    assert len(data.scores["phq9"].points) == 5
    assert len(data.sessions) == 5 + years // 3
    assert len(data.practices) == 5
    assert len(data.scores["phq9"].periods) == (1 if years else 0)
    assert len(data.practice_periods) == (1 if years else 0)


def test_years_of_averages_leave_the_recent_entries_most_of_each_chart(
    logged_in, client_user, phq9, practice
):
    # PHQ-9s and practices twice a year for three years, then weekly for the last month: the
    # charts draw the years' averages in a shaded part of their own (kap.lib.charts,
    # averaged_before), in both drawings, so that the month's entries are not crushed at the edge.
    for n in range(6):
        phq9(client_user, 10 + n % 3, days=1100 - 180 * n)
        practice(client_user, days=1100 - 180 * n, before=3, after=6)
    for n in range(4):
        phq9(client_user, 6 + n, days=1 + 7 * n)
        practice(client_user, days=1 + 7 * n, before=4, after=7)

    page = html(logged_in.get(URL))

    for chart in ("chart-phq9", "chart-settled"):
        svg = re.search(rf'<svg [^>]*id="{chart}".*?</svg>', page, re.S).group(0)
        assert '<g class="averaged">' in svg and ">Averages</text>" in svg, chart
        phone = re.search(rf'<svg [^>]*id="{chart}-phone".*?</svg>', page, re.S).group(0)
        assert '<g class="averaged">' in phone, chart


def test_a_month_of_entries_is_drawn_evenly_with_no_averages_part(logged_in, client_user, phq9):
    for n in range(4):
        phq9(client_user, 6 + n, days=1 + 7 * n)

    page = html(logged_in.get(URL))

    assert 'id="chart-phq9"' in page
    assert 'class="averaged"' not in page
