"""One date typed wrong (1999 for 2026) must neither stretch the charts' time axis over decades
nor renumber the sessions; what is left off a chart is said under it, and stays in the tables.

Decided (kap.lib.chart_focus.focus, kap.progress.trends.session_counts): the axis comes from the
entries themselves. An entry alone at either end, further from the next than ISOLATED (180
days) and than the rest span, is not drawn; a session marker further than ISOLATED from the
entries is not drawn. A completed session dated that far before all the others is not numbered
("Session on 4 Mar 1999"): the numbers count from the first session that is not set apart, and
the page offers to correct or delete it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kap.journal.models import KapSession, Response
from kap.practices.models import PracticeLog
from kap.progress.trends import session_counts
from tests.progress.conftest import html, text_of
from tests.progress.test_trends import chart, table_rows

URL = "/progress/"
TYPO = datetime(1999, 3, 4, 10, 0, tzinfo=UTC)


def years_on_the_time_axis(svg: str) -> set[int]:
    axis = re.search(r'<g class="axis axis-x".*?</g>', svg, re.S).group(0)
    return {int(y) for y in re.findall(r"\b(19\d\d|20\d\d)\b", axis)}


def test_a_session_typed_in_1999_neither_stretches_the_charts_nor_renumbers_the_sessions(
    logged_in, client_user, make_session, phq9
):
    first = make_session(client_user, days=30)
    make_session(client_user, days=10)
    typo = KapSession.objects.create(client=client_user, starts_at=TYPO, status="completed")
    for days, total in ((40, 15), (20, 11), (2, 7)):
        phq9(client_user, total, days=days)

    response = logged_in.get(URL)

    page = html(response)
    for chart_id in ("chart-phq9", "chart-phq9-phone"):
        svg = chart(page, chart_id)
        assert years_on_the_time_axis(svg) <= {datetime.now(UTC).year - 1, datetime.now(UTC).year}
        assert ">Session 1</text>" in svg and ">Session 2</text>" in svg
        assert "1999" not in svg and "Session 3" not in svg
    words = text_of(response)
    assert "After the session on 4 March 1999" in words
    assert "is dated a long way before your other sessions" in words
    assert f'href="/sessions/{typo.pk}/edit/"' in page
    assert f'href="/sessions/{typo.pk}/delete/"' in page
    counts = session_counts(client_user)
    assert [(s.pk, s.number) for s in counts] == [
        (typo.pk, None),
        (first.pk, 1),
        (counts[-1].pk, 2),
    ]
    assert counts[0].label == "Session on 4 Mar 1999"


def test_without_the_typo_the_same_sessions_are_numbered_alike(client_user, make_session):
    make_session(client_user, days=30)
    make_session(client_user, days=10)
    assert [s.number for s in session_counts(client_user)] == [1, 2]
    KapSession.objects.create(client=client_user, starts_at=TYPO, status="completed")
    assert [s.number for s in session_counts(client_user)] == [None, 1, 2]


def test_the_only_other_session_is_still_numbered_one(client_user, make_session):
    KapSession.objects.create(client=client_user, starts_at=TYPO, status="completed")
    make_session(client_user, days=3)
    assert [s.number for s in session_counts(client_user)] == [None, 1]


def test_sessions_months_apart_are_all_numbered(client_user, make_session):
    """A real pause between sessions (four months) is not a typo."""
    for days in (150, 30, 20, 10):
        make_session(client_user, days=days)
    assert [s.number for s in session_counts(client_user)] == [1, 2, 3, 4]


def test_the_numbering_still_counts_from_the_first_when_only_the_latest_are_shown(
    client_user, make_session
):
    KapSession.objects.create(client=client_user, starts_at=TYPO, status="completed")
    for days in range(40, 0, -2):  # twenty sessions
        make_session(client_user, days=days)
    shown = session_counts(client_user, latest=12)
    assert [s.number for s in shown] == list(range(9, 21))


def test_the_latest_few_are_counted_and_numbered_as_the_whole_list_counts_and_numbers_them(
    client_user, make_session, insight, step
):
    KapSession.objects.create(client=client_user, starts_at=TYPO, status="completed")
    sessions = [make_session(client_user, days=days) for days in range(40, 0, -2)]
    make_session(client_user, days=-5, status="planned")  # neither counted nor numbered
    for n, session in enumerate(sessions):
        for _ in range(n % 3):
            insight(client_user, f"Insight {n}", session=session)
        if n % 4 == 0:
            step(client_user, "Walk", session=session, status="done" if n % 8 else "open")

    whole = session_counts(client_user)
    assert len(whole) == 21 and whole[0].number is None and whole[-1].number == 20
    for latest in (1, 5, 12, 21, 30):
        assert session_counts(client_user, latest=latest) == whole[-latest:], latest
    assert [s.insights for s in whole[-3:]] == [2, 0, 1]  # sessions 18, 19 and 20


def test_an_entry_far_from_all_the_others_is_left_off_the_chart_and_kept_in_the_table(
    logged_in, client_user, practice
):
    for days, before, after in ((20, 3, 6), (12, 4, 6), (3, 4, 7)):
        practice(client_user, days=days, before=before, after=after)
    odd = practice(client_user, before=2, after=5)
    PracticeLog.objects.filter(pk=odd.pk).update(started_at=TYPO)

    response = logged_in.get(URL)

    page = html(response)
    svg = chart(page, "chart-settled")
    assert "1999" not in svg and 2000 not in years_on_the_time_axis(svg)
    assert svg.count("<title>Before the practice, ") == 3  # three practices drawn
    assert svg.count("<title>After the practice, ") == 3
    assert "1 entry, from 1999, is not drawn" in text_of(response)
    rows = table_rows(page, "settled-table")
    assert any("1999" in row for row in rows)
    # The table is open when it holds what the chart leaves out.
    assert re.search(r'<details class="trend-table" open>\s*<summary>Every practice', page)


def test_an_imported_score_far_from_the_others_is_left_off_too(logged_in, client_user, phq9):
    for days, total in ((30, 14), (16, 10), (2, 6)):
        phq9(client_user, total, days=days)
    old = phq9(client_user, 20, days=0)
    Response.objects.filter(pk=old.pk).update(submitted_at=TYPO)

    response = logged_in.get(URL)

    svg = chart(html(response), "chart-phq9")
    assert "1999" not in svg
    assert "1 entry, from 1999, is not drawn" in text_of(response)


def test_a_session_long_before_every_entry_is_named_under_the_charts(
    logged_in, client_user, make_session, phq9
):
    """Real sessions long before the first score are not marked (they would stretch the
    charts), and the page says which."""
    make_session(client_user, days=400)
    make_session(client_user, days=390)
    phq9(client_user, 12, days=5)
    phq9(client_user, 9, days=1)

    response = logged_in.get(URL)

    svg = chart(html(response), "chart-phq9")
    assert 'class="marker-group"' not in svg
    assert "Session 1" in text_of(response)
    assert "are not marked on the charts" in text_of(response)


def test_a_session_a_few_weeks_before_the_first_score_is_still_marked(
    logged_in, client_user, make_session, phq9
):
    make_session(client_user, days=60)
    phq9(client_user, 12, days=5)
    phq9(client_user, 9, days=1)

    svg = chart(html(logged_in.get(URL)), "chart-phq9")

    assert ">Session 1</text>" in svg
