"""Today: what comes next for this person, in calm words."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kap.content.models import Instrument
from kap.journal.models import ActionStep, KapSession, QuestionToBring, Response
from kap.journal.services import submit_response


def today(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_a_new_person_is_invited_to_explore_and_prepare(logged_in):
    body = today(logged_in)
    assert "Signs you might benefit" in body
    assert "Prepare for your first session" in body
    assert "PHQ-9 check-in" in body and "GAD-7 check-in" in body
    for word in ("streak", "missed", "overdue", "badge"):
        assert word not in body.lower()


@pytest.mark.django_db
def test_the_hours_since_a_session_show_for_the_first_72_hours(logged_in, client_user):
    s = KapSession.objects.create(
        client=client_user, starts_at=timezone.now() - timedelta(hours=5), status="completed"
    )
    body = today(logged_in)
    assert "5 hours since your session" in body
    assert f"/i/integration-worksheet/?session={s.pk}" in body
    s.starts_at = timezone.now() - timedelta(hours=73)
    s.save()
    assert "since your session" not in today(logged_in)


@pytest.mark.django_db
def test_a_submitted_worksheet_is_no_longer_suggested(logged_in, client_user):
    s = KapSession.objects.create(
        client=client_user, starts_at=timezone.now() - timedelta(days=2), status="completed"
    )
    assert "Integration worksheet" in today(logged_in)
    submit_response(
        client=client_user,
        instrument=Instrument.objects.current().get(key="integration-worksheet"),
        session=s,
        answers={"felt-different": "lighter"},
    )
    assert "Integration worksheet" not in today(logged_in)


@pytest.mark.django_db
def test_phq9_is_suggested_again_when_two_weeks_have_passed(logged_in, client_user):
    r = submit_response(
        client=client_user,
        instrument=Instrument.objects.current().get(key="phq9"),
        session=None,
        answers={f"q{i}": "not-at-all" for i in range(1, 10)},
    ).response
    assert "PHQ-9 check-in" not in today(logged_in)
    Response.objects.filter(pk=r.pk).update(submitted_at=timezone.now() - timedelta(days=15))
    assert "Two weeks have passed" in today(logged_in)


@pytest.mark.django_db
def test_the_next_session_shows_its_questions_to_bring_and_asks_for_an_intention(
    logged_in, client_user
):
    s = KapSession.objects.create(
        client=client_user, starts_at=timezone.now() + timedelta(days=2), clinician_name="Dr Rivera"
    )
    QuestionToBring.objects.create(client=client_user, text="Can I bring music?")
    body = today(logged_in)
    assert "Dr Rivera" in body
    assert "Can I bring music?" in body
    assert f"/i/intention-setting/?session={s.pk}" in body


@pytest.mark.django_db
def test_open_action_steps_invite_a_gentle_check_in_when_one_is_due(logged_in, client_user):
    """The same rule as the e-mail and the calendar (kap.journal.due): three days after the step
    was set or last checked in on."""
    step = ActionStep.objects.create(client=client_user, text="Walk after lunch")
    assert "Check in on your action steps" not in today(logged_in)
    ActionStep.objects.filter(pk=step.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert "You have 1 step you are working on" in today(logged_in)
    step.checkins.create(status="working")
    assert "Check in on your action steps" not in today(logged_in)


@pytest.mark.django_db
def test_today_uses_a_constant_number_of_queries(
    logged_in, client_user, django_assert_max_num_queries
):
    def add(n):
        for i in range(n):
            s = KapSession.objects.create(
                client=client_user,
                starts_at=timezone.now() - timedelta(days=i + 1),
                status="completed",
            )
            ActionStep.objects.create(client=client_user, session=s, text=f"step {i}")
            QuestionToBring.objects.create(client=client_user, text=f"q {i}")

    add(2)
    with django_assert_max_num_queries(14) as few:
        today(logged_in)
    add(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        today(logged_in)


@pytest.mark.django_db
def test_the_intention_is_shown_again_on_the_day_and_in_the_worksheet(logged_in, client_user):
    soon = timezone.now() + timedelta(minutes=30)
    if timezone.localdate(soon) != timezone.localdate():
        soon = timezone.now()
    s = KapSession.objects.create(client=client_user, starts_at=soon)
    response = logged_in.post(
        f"/i/intention-setting/?session={s.pk}",
        {"want-to-understand": "why I freeze with my father", "session": s.pk},
    )
    assert response.status_code == 302
    assert "why I freeze with my father" in today(logged_in)
    s.status = "completed"
    s.save()
    body = logged_in.get(f"/i/integration-worksheet/?session={s.pk}").content.decode()
    assert "Your intention was…" in body
    assert "why I freeze with my father" in body
