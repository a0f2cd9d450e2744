import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from kap.care import tasks
from kap.care.alerts import acknowledgements_for_client
from kap.care.models import AlertAcknowledgement, AlertNotification
from kap.journal.models import SafetyEvent
from tests.care.conftest import phq9_answers

LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def alert(client_user, linked, submit, django_capture_on_commit_callbacks):
    """A positive PHQ-9 item 9, submitted as the journal does; the queued task is not run."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(client_user, "phq9", phq9_answers(6, item9=1))
    return SafetyEvent.objects.get(), callbacks


def test_a_safety_event_makes_one_pending_notification_per_therapist_who_gets_alerts(
    client_user,
    therapist,
    colleague,
    make_user,
    link,
    linked,
    submit,
    django_capture_on_commit_callbacks,
):
    link(client_user, colleague, scopes=["scores"])  # does not share safety alerts
    gone = make_user("gone@example.com", role="therapist", is_active=False)
    link(client_user, gone)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(client_user, "phq9", phq9_answers(6, item9=2))

    notification = AlertNotification.objects.get()
    assert (notification.therapist, notification.status) == (therapist, "pending")
    assert len(callbacks) == 1


def test_nothing_is_queued_when_the_transaction_rolls_back(client_user, linked, guide):
    from django.db import transaction

    from kap.care.alerts import on_safety_event
    from kap.content.models import Instrument
    from kap.journal.models import Response

    response = Response.objects.create(
        client=client_user, instrument=Instrument.objects.current().get(key="phq9")
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        event = SafetyEvent.objects.create(client=client_user, response=response, rule_key="r")
        on_safety_event(event)
        raise RuntimeError("the submit failed")

    assert not AlertNotification.objects.exists()


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}}, BASE_URL="https://kap.example.org")
def test_the_email_goes_once_even_when_the_task_runs_twice(therapist, alert):
    event, _ = alert
    notification = AlertNotification.objects.get(event=event)

    first = tasks.send_alert_email.call(notification.pk)
    second = tasks.send_alert_email.call(notification.pk)

    assert (first, second) == ("sent", "not sent: sent")
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.status == "sent" and notification.sent_at is not None


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}}, BASE_URL="https://kap.example.org")
def test_the_email_holds_no_clinical_content(therapist, client_user, alert):
    tasks.send_alert_email.call(AlertNotification.objects.get().pk)

    message = mail.outbox[0]
    assert message.to == [therapist.email]
    # Discreet: the clinic's name as the sender, nothing of what the app is for.
    assert message.subject == "A safety alert to look at"
    assert message.from_email == "Lakeside Clinic <companion@localhost>"
    assert "KAP" not in message.subject + message.body
    assert "ketamine" not in (message.subject + message.body).lower()
    assert "A client you support has a new safety alert. Log in to see it." in message.body
    assert "https://kap.example.org/care/" in message.body
    raw = message.message().as_string()
    for private in (client_user.email, "Alex", "PHQ", "phq9", "item", "9"):
        assert private not in raw.split("\n\n", 1)[1], private


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}}, ALERT_EMAIL_LEASE_SECONDS=60)
def test_a_worker_killed_while_sending_is_sent_again_after_its_lease_with_the_same_message_id(
    alert, monkeypatch, caplog
):
    notification = AlertNotification.objects.get()
    first = []

    def killed(message):
        first.append(message.message()["Message-ID"])
        raise SystemExit("the worker was killed half-way")

    with monkeypatch.context() as m:
        m.setattr(tasks, "_deliver", killed)
        with pytest.raises(SystemExit):
            tasks.send_alert_email.call(notification.pk)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sending", 1)
    assert notification.lease_until > timezone.now()

    # Under its lease, no one else sends it (the first worker may still be at it).
    assert tasks.send_alert_email.call(notification.pk) == "not sent: sending"
    assert tasks.due_alerts() == []

    # The lease runs out: the worker is taken to be dead; the sweep sends it again.
    AlertNotification.objects.filter(pk=notification.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    with caplog.at_level(logging.WARNING, logger="kap.care.tasks"):
        assert tasks.sweep_alerts() == 1

    assert len(mail.outbox) == 1
    assert mail.outbox[0].message()["Message-ID"] == first[0] == notification.message_id
    assert "stopped before it finished" in caplog.text
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 2)


@override_settings(
    MAILERS={"default": {"BACKEND": LOCMEM}}, ALERT_EMAIL_ATTEMPTS=3, ALERT_EMAIL_RETRY_SECONDS=60
)
def test_a_refused_email_is_retried_with_backoff_then_reported_not_delivered(
    alert, monkeypatch, caplog
):
    notification = AlertNotification.objects.get()
    ids = []

    def refused(message):
        ids.append(message.message()["Message-ID"])
        raise OSError("554 Transaction failed")

    monkeypatch.setattr(tasks, "_deliver", refused)
    assert tasks.send_alert_email.call(notification.pk) == "failed: will retry"
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert "OSError" in notification.last_error
    # Not before its backoff (60 s, then 120 s): neither the task nor the sweep takes it.
    assert 50 < (notification.next_attempt_at - timezone.now()).total_seconds() <= 60
    assert tasks.send_alert_email.call(notification.pk) == "not sent: pending"
    assert tasks.due_alerts() == []

    def due_now():
        AlertNotification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())

    due_now()
    assert tasks.sweep_alerts() == 1
    notification.refresh_from_db()
    assert 110 < (notification.next_attempt_at - timezone.now()).total_seconds() <= 120
    due_now()
    with caplog.at_level(logging.WARNING, logger="kap.care.tasks"):
        assert tasks.deliver_alert(notification.pk) == "failed"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", 3)
    assert len(ids) == 3 and len(set(ids)) == 1
    assert "NOT delivered after 3 attempts" in caplog.text
    monkeypatch.undo()
    assert tasks.send_alert_email.call(notification.pk) == "not sent: failed"
    assert tasks.due_alerts() == []
    assert mail.outbox == []


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}})
def test_a_deactivated_therapist_is_not_emailed(therapist, alert):
    therapist.is_active = False
    therapist.save()

    assert tasks.send_alert_email.call(AlertNotification.objects.get().pk).startswith("not sent")
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}})
def test_the_email_goes_through_the_real_queue_and_worker_once(
    client_user, therapist, link, submit, keep_signal_handlers
):
    from django_tasks_db.models import DBTaskResult

    link(client_user, therapist)
    submit(client_user, "phq9", phq9_answers(6, item9=1))  # commits: the task is queued
    assert DBTaskResult.objects.count() == 1

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    # The same task queued again (e.g. by enqueue_pending_alerts racing a worker) does nothing.
    tasks.send_alert_email.enqueue(AlertNotification.objects.get().pk)
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [therapist.email]
    assert AlertNotification.objects.get().status == "sent"
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}})
def test_a_notification_whose_queueing_failed_is_sent_by_the_sweep(alert):
    notification = AlertNotification.objects.get()
    assert tasks.due_alerts() == []  # its own queued task goes first

    AlertNotification.objects.update(created_at=timezone.now() - timedelta(minutes=2))
    assert tasks.due_alerts() == [notification.pk]
    assert tasks.sweep_alerts() == 1
    assert tasks.sweep_alerts() == 0

    assert len(mail.outbox) == 1
    # The task, run late, finds it sent.
    assert tasks.send_alert_email.call(notification.pk) == "not sent: sent"


# --- Acknowledging ------------------------------------------------------------------------------


def test_a_therapist_acknowledges_an_alert_with_a_note(as_therapist, therapist, client_user, alert):
    event, _ = alert
    assert (
        "Open safety alerts"
        in as_therapist.get(f"/care/clients/{client_user.pk}/").content.decode()
    )

    response = as_therapist.post(
        f"/care/alerts/{event.pk}/acknowledge/", {"note": "Called her; safety plan reviewed."}
    )
    again = as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/", {"note": "twice"})

    assert response.status_code == again.status_code == 302
    assert response["Location"] == f"/care/clients/{client_user.pk}/"
    ack = AlertAcknowledgement.objects.get()
    assert (ack.event, ack.therapist, ack.note) == (
        event,
        therapist,
        "Called her; safety plan reviewed.",
    )
    page = as_therapist.get(f"/care/clients/{client_user.pk}/").content.decode()
    assert "Open safety alerts" not in page
    assert "Acknowledged by you" in page


def test_the_client_sees_who_acknowledged_and_when_but_not_the_note(
    as_therapist, therapist, client_user, alert
):
    event, _ = alert
    as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/", {"note": "for the clinic"})

    found = acknowledgements_for_client(client_user)

    assert list(found) == [event.pk]
    name, when = found[event.pk]
    assert name == "Dr Lee"
    assert when == AlertAcknowledgement.objects.get().created_at
    assert "for the clinic" not in repr(found)


def test_an_alert_not_shared_with_me_cannot_be_acknowledged(as_therapist, linked, alert):
    event, _ = alert
    linked.scopes = ["scores"]
    linked.save()

    assert as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/").status_code == 404
    assert as_therapist.post("/care/alerts/999999/acknowledge/").status_code == 404
    assert not AlertAcknowledgement.objects.exists()


def test_acknowledging_needs_a_post(as_therapist, alert):
    event, _ = alert

    assert as_therapist.get(f"/care/alerts/{event.pk}/acknowledge/").status_code == 405


def test_a_note_counts_line_breaks_as_the_browser_does(as_therapist, alert):
    event, _ = alert
    # 5,000 characters in the browser's count; 5,999 as sent, with "\r\n" line breaks.
    note = "\r\n".join(["x" * 4] * 1000)[:5999]
    assert len(note.replace("\r\n", "\n")) <= 5000 < len(note)

    as_therapist.post(f"/care/alerts/{event.pk}/acknowledge/", {"note": note})

    assert AlertAcknowledgement.objects.get().note == note.replace("\r\n", "\n")


def test_an_over_long_note_is_refused_and_nothing_is_acknowledged(as_therapist, client_user, alert):
    event, _ = alert

    response = as_therapist.post(
        f"/care/alerts/{event.pk}/acknowledge/", {"note": "y" * 5001}, follow=True
    )

    assert "longer than 5,000 characters" in response.content.decode()
    assert not AlertAcknowledgement.objects.exists()


@override_settings(MAILERS={})
def test_without_a_mail_server_the_alert_is_marked_not_emailed_and_stays_on_the_roster(
    as_therapist, alert
):
    notification = AlertNotification.objects.get()

    assert tasks.send_alert_email.call(notification.pk) == "not sent: e-mail is not set up"

    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("unsent", 0)
    page = as_therapist.get("/care/").content.decode()
    assert "Alert: 1 open" in page
    assert "Not e-mailed: e-mail is not set up" in page
    assert tasks.due_alerts() == []  # nothing to do until a mail server is set up
