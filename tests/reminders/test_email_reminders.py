import re
from datetime import timedelta

import pytest
from django.utils import timezone

from kap.journal import reminders
from kap.journal.models import Insight, ReminderSent
from tests.reminders.conftest import CANARY, free_port, opt_in, smtp_mailers


@pytest.fixture
def due_things(client_user, make_session, make_step, scored):
    """A session tomorrow, one earlier today, a step due a check-in, and scores taken long ago."""
    tomorrow = make_session(client_user, hours_from_now=20, clinician_name="Dr Canary Lee")
    earlier = make_session(client_user, hours_from_now=-5, status="completed")
    Insight.objects.create(client=client_user, session=earlier, text=f"insight {CANARY}")
    make_step(client_user, days_ago=3.1)
    scored(client_user, "phq9", days_ago=15)
    scored(client_user, "gad7", days_ago=15)
    return tomorrow, earlier


def test_it_sends_what_is_due_in_one_calm_email(smtp, client_user, due_things):
    opt_in(client_user)

    sent = reminders.send_due_reminders()

    assert sent == 5
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == client_user.email
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"] == "A few gentle reminders"
    assert message["From"] == "Companion <companion@localhost>"
    body = message.get_content()
    assert "Your Session is " not in body and "Your session is " in body
    assert "capture insights" in body
    assert "action steps are ready for a check-in" in body
    # Two check-ins due (PHQ-9 and GAD-7) read as one line that names neither.
    assert body.count("A short check-in is there when you are ready") == 1
    words = re.sub(r"https://\S+", "", message["Subject"] + body)  # (this test's site is kap.…)
    for word in ("KAP", "ketamine", "PHQ", "GAD", "Companion"):
        assert word.lower() not in words.lower()
    assert "https://kap.example.org/reminders/" in body
    assert "https://kap.example.org/crisis/" in body
    rows = ReminderSent.objects.for_client(client_user)
    assert sorted(rows.values_list("kind", flat=True)) == [
        "insights",
        "scores",
        "scores",
        "session",
        "steps",
    ]
    assert set(rows.values_list("status", flat=True)) == {"sent"}
    assert all(r.sent_at for r in rows)


def test_the_email_holds_nothing_the_person_wrote(smtp, client_user, due_things):
    opt_in(client_user)

    reminders.send_due_reminders()

    raw = smtp.messages[0].as_string()
    assert CANARY not in raw
    assert "Canary Lee" not in raw
    assert "streak" not in raw.lower() and "missed" not in raw.lower()


def test_the_clinician_is_named_only_when_the_person_chose_it(smtp, client_user, due_things):
    opt_in(client_user, include_clinician=True)

    reminders.send_due_reminders()

    assert "Your session with Dr Canary Lee is " in smtp.bodies()[0]


def test_each_reminder_is_sent_once_even_when_run_twice(smtp, client_user, due_things):
    opt_in(client_user)

    reminders.send_due_reminders()
    again = reminders.send_due_reminders()

    assert again == 0
    assert len(smtp.messages) == 1
    assert ReminderSent.objects.count() == 5


def test_something_newly_due_is_sent_on_its_own(smtp, client_user, due_things, make_session):
    opt_in(client_user)
    reminders.send_due_reminders()

    make_session(client_user, hours_from_now=10)
    reminders.send_due_reminders()

    assert len(smtp.messages) == 2
    assert smtp.messages[1]["Subject"] == "A gentle reminder"
    assert "Your session is " in smtp.bodies()[1]
    assert "PHQ-9" not in smtp.bodies()[1]


def test_a_step_check_in_is_not_repeated_day_after_day(smtp, client_user, make_step):
    opt_in(client_user)
    make_step(client_user, days_ago=3.1)
    now = timezone.now()

    for day in range(4):
        reminders.send_due_reminders(now + timedelta(days=day))

    steps = [b for b in smtp.bodies() if "action steps" in b]
    assert len(steps) == 1


def test_a_crash_after_marking_sending_does_not_send_again(
    smtp, client_user, due_things, monkeypatch
):
    opt_in(client_user)

    def crash(message, connection):
        raise SystemExit("the worker was stopped half-way")

    with monkeypatch.context() as m:
        m.setattr(reminders, "_deliver", crash)
        with pytest.raises(SystemExit):
            reminders.send_due_reminders()
    assert set(ReminderSent.objects.values_list("status", flat=True)) == {"sending"}

    assert reminders.send_due_reminders() == 0

    assert smtp.messages == []
    assert set(ReminderSent.objects.values_list("status", flat=True)) == {"sending"}


def test_a_refused_email_is_recorded_and_not_retried(smtp, client_user, due_things):
    opt_in(client_user)
    smtp.refuse = True

    assert reminders.send_due_reminders() == 0
    smtp.refuse = False
    reminders.send_due_reminders()

    assert smtp.messages == []
    assert set(ReminderSent.objects.values_list("status", flat=True)) == {"failed"}


def test_nothing_is_recorded_when_the_server_cannot_be_reached(
    smtp, settings, client_user, due_things
):
    opt_in(client_user)
    settings.MAILERS = smtp_mailers(free_port())

    with pytest.raises(OSError):
        reminders.send_due_reminders()

    assert ReminderSent.objects.count() == 0


def test_nothing_is_sent_to_someone_who_did_not_opt_in(smtp, client_user, stranger, due_things):
    opt_in(stranger)

    reminders.send_due_reminders()

    assert all(m["To"] != client_user.email for m in smtp.messages)
    assert not ReminderSent.objects.for_client(client_user).exists()


def test_nothing_is_sent_when_email_is_not_set_up(smtp, settings, client_user, due_things):
    opt_in(client_user)
    settings.SMTP_HOST = ""

    assert reminders.send_due_reminders() == 0

    assert smtp.messages == []
    assert ReminderSent.objects.count() == 0


def test_nothing_is_sent_to_a_deactivated_account(smtp, client_user, due_things):
    opt_in(client_user)
    client_user.is_active = False
    client_user.save()

    reminders.send_due_reminders()

    assert smtp.messages == []


def test_a_session_more_than_a_day_away_is_not_mentioned_yet(smtp, client_user, make_session):
    opt_in(client_user)
    make_session(client_user, hours_from_now=30)

    due = reminders.due_reminders(client_user)

    assert "session" not in {d.kind for d in due}


def test_a_moved_session_is_a_new_reminder(smtp, client_user, make_session):
    opt_in(client_user)
    session = make_session(client_user, hours_from_now=20)
    first = {d.key for d in reminders.due_reminders(client_user) if d.kind == "session"}

    session.starts_at += timedelta(hours=2)
    session.save()
    second = {d.key for d in reminders.due_reminders(client_user) if d.kind == "session"}

    assert first != second


@pytest.mark.parametrize("zone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_times_in_the_email_are_in_the_persons_own_time_zone(smtp, client_user, make_session, zone):
    from zoneinfo import ZoneInfo

    client_user.time_zone = zone
    client_user.save(update_fields=["time_zone"])
    opt_in(client_user)
    session = make_session(client_user, hours_from_now=20)
    reminders.send_due_reminders()
    local = session.starts_at.astimezone(ZoneInfo(zone))
    assert f"at {local:%H:%M}." in smtp.bodies()[0]
