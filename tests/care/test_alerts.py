import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

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
    assert message.subject == "A safety alert in KAP Companion"
    assert "A client you support has a new safety alert. Log in to see it." in message.body
    assert "https://kap.example.org/care/" in message.body
    raw = message.message().as_string()
    for private in (client_user.email, "Alex", "PHQ", "phq9", "item", "9"):
        assert private not in raw.split("\n\n", 1)[1], private


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}})
def test_a_worker_killed_while_sending_does_not_send_again(alert, monkeypatch, caplog):
    notification = AlertNotification.objects.get()

    def killed(message):
        raise SystemExit("the worker was killed half-way")

    with monkeypatch.context() as m:
        m.setattr(tasks, "_deliver", killed)
        with pytest.raises(SystemExit):
            tasks.send_alert_email.call(notification.pk)
    notification.refresh_from_db()
    assert notification.status == "sending"

    with caplog.at_level(logging.WARNING, logger="kap.care.tasks"):
        again = tasks.send_alert_email.call(notification.pk)

    assert again == "not sent: sending"
    assert mail.outbox == []
    assert "left half-sent" in caplog.text
    assert tasks.stuck_alerts(older_than=timedelta(0)) == [notification.pk]


@override_settings(MAILERS={"default": {"BACKEND": LOCMEM}})
def test_a_refused_email_is_recorded_and_not_retried(alert, monkeypatch):
    notification = AlertNotification.objects.get()

    def refused(message):
        raise OSError("554 Transaction failed")

    monkeypatch.setattr(tasks, "_deliver", refused)
    assert tasks.send_alert_email.call(notification.pk) == "failed"
    monkeypatch.undo()
    assert tasks.send_alert_email.call(notification.pk) == "not sent: failed"

    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.status == "failed"


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


def test_pending_notifications_can_be_queued_again_safely(alert):
    assert tasks.enqueue_pending_alerts(older_than=timedelta(0)) == 1


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
def test_without_a_mail_server_the_alert_is_marked_not_sent_and_stays_on_the_roster(
    as_therapist, alert
):
    notification = AlertNotification.objects.get()

    assert tasks.send_alert_email.call(notification.pk) == "not sent: e-mail is not set up"

    notification.refresh_from_db()
    assert notification.status == "failed"
    assert "Alert: 1 open" in as_therapist.get("/care/").content.decode()
