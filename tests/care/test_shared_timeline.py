"""The therapist's view of a client's timeline is the client's own timeline (kap.journal.records),
narrowed to what the link's scopes share, plus the safety events care owns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kap.accounts.models import Scope
from kap.care.sharing import Record, scope_of
from kap.care.timeline import shared_with
from kap.journal import timeline
from kap.journal.models import ActionStep, CheckIn, Insight, SafetyEvent
from tests.care.conftest import ALL_SCOPES, phq9_answers
from tests.care.helpers import body
from tests.practices.conftest import log_practice


def url(client_user) -> str:
    return f"/care/clients/{client_user.pk}/"


def _entries(response):
    return list(response.context["page"].object_list)


# --- Practices ------------------------------------------------------------------------------------


def test_a_practice_is_shown_when_the_client_shares_practices(as_therapist, client_user, linked):
    log_practice(client_user, elapsed_seconds=600, settled_before=2, settled_after=6)

    response = as_therapist.get(url(client_user))

    page = body(response)
    assert [e.kind for e in _entries(response)] == ["practice"]
    assert "Grounding Before Exploration" in page
    assert "10 minutes, completed; settled 2 before, 6 after (0–10)" in page
    # The client's own page of the log is theirs: the therapist is given no link to it.
    assert "/practices/" not in page


def test_a_practice_is_not_shown_without_the_practices_scope(
    as_therapist, client_user, therapist, link, guide
):
    link(client_user, therapist, scopes=[s for s in ALL_SCOPES if s != Scope.PRACTICES])
    log_practice(client_user)
    Insight.objects.create(client=client_user, text="shared insight")

    response = as_therapist.get(url(client_user))

    page = body(response)
    assert [e.kind for e in _entries(response)] == ["insight"]
    assert "Grounding Before Exploration" not in page
    assert "5 minutes" not in page


def test_turning_practices_off_takes_effect_on_the_next_request(as_therapist, client_user, linked):
    log_practice(client_user)
    assert "Grounding Before Exploration" in body(as_therapist.get(url(client_user)))

    linked.scopes = [s for s in linked.scopes if s != Scope.PRACTICES]
    linked.save()

    assert "Grounding Before Exploration" not in body(as_therapist.get(url(client_user)))


# --- One timeline, narrowed -----------------------------------------------------------------------


def test_every_kind_of_the_timeline_is_shared_under_the_scope_the_consent_screen_names():
    """The timeline's parts say their scope; the consent screen's table (kap.care.sharing) says
    what each scope shares. They must agree, or a client would be told one thing and their
    therapist shown another."""
    record_of = {
        "session": Record.SESSIONS,
        "insight": Record.INSIGHTS,
        "step": Record.ACTION_STEPS,
        "question": Record.QUESTIONS,
        "practice": Record.PRACTICES,
    }
    assert set(timeline.SOURCES) == set(record_of) | {"response"}
    for kind, record in record_of.items():
        assert {p.scope for p in timeline.SOURCES[kind].parts} == {scope_of(record)}, kind
    # Answers are shared instrument by instrument, as the client's packs say.
    assert {p.scope for p in timeline.SOURCES["response"].parts} == {timeline.BY_INSTRUMENT}


def test_safety_events_are_shared_under_safety(client_user, therapist, link, guide):
    shared = shared_with(link(client_user, therapist), therapist)

    assert [p.scope for p in shared.extra] == [scope_of(Record.SAFETY_EVENTS)]


def test_a_kind_not_shared_is_never_queried(as_therapist, client_user, therapist, link, guide):
    link(client_user, therapist, scopes=[Scope.SCORES])
    as_therapist.get("/care/invite/")  # the session and the second factor, read once

    with CaptureQueriesContext(connection) as ctx:
        assert as_therapist.get(url(client_user)).status_code == 200

    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    for table in (
        "journal_insight",
        "journal_actionstep",
        "journal_checkin",
        "journal_questiontobring",
        "journal_kapsession",
        "journal_safetyevent",
        "practices_practicelog",
    ):
        assert table not in sql, table
    assert "journal_response" in sql


def test_an_entry_names_its_session_only_when_sessions_are_shared(
    as_therapist, client_user, therapist, link, make_session, guide
):
    session = make_session(client_user, hours_from_now=-30, status="completed")
    Insight.objects.create(client=client_user, session=session, text="after the session")
    the_link = link(client_user, therapist, scopes=[Scope.INSIGHTS])

    without = body(as_therapist.get(url(client_user)))
    the_link.scopes = [Scope.INSIGHTS, Scope.SESSIONS]
    the_link.save()
    with_sessions = body(as_therapist.get(url(client_user)))

    assert "after the session" in without and "for the session on" not in without
    assert "for the session on" in with_sessions


def test_check_ins_are_entries_of_their_own(as_therapist, client_user, linked):
    step = ActionStep.objects.create(client=client_user, text="Walk after lunch")
    CheckIn.objects.create(step=step, status="done", note="every day")

    response = as_therapist.get(url(client_user))

    titles = [e.title for e in _entries(response)]
    assert titles == ["Check-in: done", "Action step"]
    assert "Walk after lunch — every day" in body(response)


def test_it_shows_fifty_entries_a_page_newest_first(as_therapist, client_user, linked):
    now = timezone.now()
    Insight.objects.bulk_create(
        Insight(client=client_user, text=f"n{i}", created_at=now - timedelta(minutes=i))
        for i in range(55)
    )
    log_practice(client_user, minutes_ago=30.5)  # between n30 and n31

    first = as_therapist.get(url(client_user))
    second = as_therapist.get(url(client_user), {"page": 2})

    texts = [e.text if e.kind == "insight" else e.kind for e in _entries(first)]
    assert texts == [f"n{i}" for i in range(31)] + ["practice"] + [f"n{i}" for i in range(31, 49)]
    assert [e.text for e in _entries(second)] == [f"n{i}" for i in range(49, 55)]
    assert first.context["page"].paginator.count == 56


# --- Safety events --------------------------------------------------------------------------------


def test_a_safety_event_is_on_the_timeline_and_open_until_acknowledged(
    as_therapist, client_user, linked, submit
):
    submit(client_user, "phq9", phq9_answers(10, item9=1))
    event = SafetyEvent.objects.get()

    before = as_therapist.get(url(client_user))
    as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/", {"note": ""})
    after = as_therapist.get(url(client_user))

    safety = [e for e in _entries(before) if e.kind == "safety"]
    assert [e.status for e in safety] == ["Not acknowledged by you yet"]
    assert before.context["open_alerts"] == [event]
    assert "Open safety alerts" in body(before)
    assert [e.status for e in _entries(after) if e.kind == "safety"] == ["Acknowledged by you"]
    assert after.context["open_alerts"] == []
    assert "Open safety alerts" not in body(after)


def test_without_the_safety_scope_no_alert_is_shown(
    as_therapist, client_user, therapist, link, submit
):
    link(client_user, therapist, scopes=[Scope.SCORES])
    submit(client_user, "phq9", phq9_answers(10, item9=1))

    response = as_therapist.get(url(client_user))

    assert [e.kind for e in _entries(response)] == ["response"]
    assert response.context["open_alerts"] == []
    assert "Safety rule matched" not in body(response)


# --- Bounded --------------------------------------------------------------------------------------


@pytest.fixture
def fill(client_user, submit, make_session):
    def add(n: int, start: int = 0):
        for i in range(start, start + n):
            s = make_session(client_user, hours_from_now=-24 * (i + 1), status="completed")
            submit(client_user, "phq9", phq9_answers(i % 20, item9=1 if i % 4 == 0 else 0))
            submit(client_user, "intention-setting", {"want-to-understand": f"u{i}"}, s)
            submit(client_user, "integration-worksheet", {"felt-different": f"w{i}"}, s)
            Insight.objects.create(client=client_user, session=s, text=f"i{i}")
            step = ActionStep.objects.create(client=client_user, text=f"s{i}")
            CheckIn.objects.create(step=step, status="working", note=f"c{i}")
            log_practice(client_user, minutes_ago=60 * 24 * i + 5)

    return add


def test_the_page_takes_the_same_queries_for_2_or_40_of_everything(
    as_therapist, client_user, linked, fill
):
    def queries(**params) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert as_therapist.get(url(client_user), params).status_code == 200
        return len(ctx)

    as_therapist.get("/care/invite/")
    fill(2)
    few, few_second_page = queries(), queries(page=2)
    fill(38, start=2)

    assert queries() == few
    assert queries(page=2) == few_second_page
