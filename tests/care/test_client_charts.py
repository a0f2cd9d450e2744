"""The therapist's side in the guide's words: charts of the scores a client shares (and only
those), safety alerts with the question and the answer that matched, and what is shared named
by the packs' titles, never by keys."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from kap.accounts.models import Scope
from kap.content.roles import roles_for
from kap.journal.models import Response
from tests.care.conftest import ALL_SCOPES, gad7_answers, phq9_answers
from tests.care.helpers import body


def client_url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/"


def brief_url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/brief/"


def charts_in(page: str) -> dict[str, str]:
    """id → the <svg> of each chart on the page."""
    return {
        m.group(1): m.group(0)
        for m in re.finditer(r'<svg[^>]*class="chart[^"]*"[^>]*id="([^"]+)".*?</svg>', page, re.S)
    }


def scores_over_weeks(submit, client_user, key: str, answers_for, totals: list[int]):
    now = timezone.now()
    for weeks, total in zip(range(len(totals), 0, -1), totals, strict=True):
        response = submit(client_user, key, answers_for(total))
        when = now - timedelta(weeks=weeks)
        Response.objects.filter(pk=response.pk).update(submitted_at=when, created_at=when)


def the_outcomes_title(client_user) -> str:
    from kap.content.models import Instrument

    return Instrument.objects.resolve(client_user, roles_for(client_user).key("outcomes")).title


# --- Charts of shared scores --------------------------------------------------------------------


def test_the_client_page_charts_each_score_the_client_shares(
    as_therapist, client_user, linked, submit
):
    scores_over_weeks(submit, client_user, "phq9", phq9_answers, [18, 14, 9])
    scores_over_weeks(submit, client_user, "gad7", gad7_answers, [12, 8])

    page = body(as_therapist.get(client_url(client_user)))

    found = charts_in(page)
    assert set(found) >= {"client-chart-phq9", "client-chart-phq9-phone", "client-chart-gad7"}
    assert "PHQ-9 totals over time (0 to 27)" in found["client-chart-phq9"]
    assert found["client-chart-phq9"].count("<title>PHQ-9 total, ") == 3  # a point per score
    assert '<h2 id="scores-title">Scores over time</h2>' in page


def test_no_chart_and_no_scores_when_the_client_does_not_share_them(
    as_therapist, therapist, client_user, link, submit, guide
):
    link(client_user, therapist, [s for s in ALL_SCOPES if s != Scope.SCORES])
    scores_over_weeks(submit, client_user, "phq9", phq9_answers, [18, 14, 9])

    for url in (client_url(client_user), brief_url(client_user)):
        page = body(as_therapist.get(url))
        assert charts_in(page) == {}, url
        assert "Scores over time" not in page
        assert "PHQ-9 total" not in page


def test_sessions_are_marked_only_when_the_client_shares_them(
    as_therapist, therapist, client_user, link, submit, make_session
):
    the_link = link(client_user, therapist)
    make_session(client_user, hours_from_now=-24 * 10, status="completed")
    scores_over_weeks(submit, client_user, "phq9", phq9_answers, [18, 14, 9])

    shared = charts_in(body(as_therapist.get(client_url(client_user))))["client-chart-phq9"]
    assert ">Session 1</text>" in shared

    the_link.scopes = [s for s in ALL_SCOPES if s != Scope.SESSIONS]
    the_link.save()
    private = charts_in(body(as_therapist.get(client_url(client_user))))["client-chart-phq9"]
    assert "Session" not in private and 'class="marker' not in private


def test_the_outcomes_are_charted_under_the_guides_title(as_therapist, client_user, linked, submit):
    ratings = ["openness-and-flexibility", "less-heaviness", "clarity-and-perspective"]
    ratings += ["self-compassion", "renewed-possibility"]
    for value in (3, 6):
        submit(client_user, "closing-outcomes", dict.fromkeys(ratings, value))

    page = body(as_therapist.get(client_url(client_user)))

    title = the_outcomes_title(client_user)
    assert f"<h3>{title}</h3>" in page
    assert f"{title}: the average rating over time (0 to 10)" in page
    assert "closing-outcomes" not in re.sub(r'id="[^"]*"|aria-labelledby="[^"]*"', "", page)


def test_the_brief_charts_the_shared_scores_beside_its_table(
    as_therapist, client_user, linked, submit
):
    scores_over_weeks(submit, client_user, "phq9", phq9_answers, [16, 11])

    page = body(as_therapist.get(brief_url(client_user)))

    assert "brief-chart-phq9" in charts_in(page)
    assert "First, previous and latest scores" in page


def test_a_score_typed_decades_ago_does_not_stretch_the_therapists_chart(
    as_therapist, client_user, linked, submit
):
    from datetime import UTC, datetime

    scores_over_weeks(submit, client_user, "phq9", phq9_answers, [20, 16, 14, 9])
    Response.objects.filter(pk=Response.objects.order_by("submitted_at").first().pk).update(
        submitted_at=datetime(1999, 5, 1, tzinfo=UTC)
    )

    page = body(as_therapist.get(client_url(client_user)))

    assert "1999" not in charts_in(page)["client-chart-phq9"]
    assert "1 entry, from 1999, is not drawn" in page


# --- Safety alerts in words ---------------------------------------------------------------------


def _the_rule(guide):
    """The pack's safety rule, its question and the wording of the answer that matches it."""
    from kap.content.models import Instrument

    rule = guide.parsed.safety_rules[0]
    spec = Instrument.objects.current().get(key=rule.instrument).parsed
    item = next(i for i in spec.items if i.key == rule.item)
    option = next(o for o in spec.options_for(item) if (o.weight or 0) > rule.above)
    return rule, item, option


def test_an_alert_shows_the_question_and_the_answer_never_the_rules_key(
    as_therapist, client_user, linked, submit, guide
):
    rule, item, option = _the_rule(guide)
    answers = {**phq9_answers(6), item.key: option.value}
    submit(client_user, rule.instrument, answers)

    for url in (client_url(client_user), brief_url(client_user)):
        page = body(as_therapist.get(url))
        assert f"“{item.text}”" in page, url
        assert f"Answered: <strong>{option.label}</strong>" in page, url
        assert rule.key not in page, url

    # The shared timeline says it in words too.
    page = body(as_therapist.get(client_url(client_user)))
    assert f"“{item.text}” was answered “{option.label}”" in page


def test_only_the_watched_answer_is_shown_not_the_others(
    as_therapist, client_user, linked, submit, guide
):
    rule, item, option = _the_rule(guide)
    submit(client_user, rule.instrument, {**phq9_answers(6), item.key: option.value})

    page = body(as_therapist.get(client_url(client_user)))

    assert "Little interest or pleasure" not in page  # another item's wording


# --- What is shared, in the guide's names --------------------------------------------------------


def test_what_is_shared_is_named_with_the_packs_titles(as_therapist, client_user, linked):
    page = body(as_therapist.get(client_url(client_user)))

    labels = [m.label for m in roles_for(client_user).measures]
    expected = f"Scores: {', '.join(labels)} and {the_outcomes_title(client_user)}"
    assert f'<li class="tag">{expected}</li>' in page
    assert "outcomes)" not in page
