"""Reminders through the real task queue: django_tasks_db's DatabaseBackend and its db_worker."""

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from kap import cli
from kap.journal.models import ReminderSent
from kap.journal.tasks import send_due_reminders
from tests.reminders.conftest import opt_in

# db_worker commits and checks its connection like a separate process would: a real transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("worker_cleanup")]


@pytest.fixture
def due(guide, client_user, make_session):
    # The PHQ-9 and GAD-7 are the guide's measures: a transactional test before this one may
    # have emptied the database of it.
    opt_in(client_user)
    make_session(client_user, hours_from_now=20)


def test_the_queued_task_sends_reminders_when_the_worker_runs(smtp, due):
    result = send_due_reminders.enqueue()
    assert smtp.messages == []

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    row = DBTaskResult.objects.get(id=result.id)
    assert row.status == "SUCCESSFUL"
    assert row.return_value == 3  # the session, and the PHQ-9 and GAD-7 never taken
    assert len(smtp.messages) == 1
    assert ReminderSent.objects.filter(status="sent").count() == 3


def test_kap_worker_once_checks_reminders_and_exits(smtp, due, capsys, monkeypatch):
    # Django is set up already; setting it up again would point the log at pytest's capture.
    monkeypatch.setattr(cli, "_django", lambda: None)

    assert cli.main(["worker", "--once"]) == 0
    assert cli.main(["worker", "--once"]) == 0

    assert "worker" in capsys.readouterr().out
    assert len(smtp.messages) == 1
    assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 2


def test_the_send_reminders_command_queues_the_check(smtp, due):
    call_command("send_reminders", verbosity=0)

    assert DBTaskResult.objects.filter(status="READY").count() == 1
    assert smtp.messages == []


def test_the_send_reminders_command_can_send_at_once(smtp, due):
    call_command("send_reminders", "--now", verbosity=0)

    assert len(smtp.messages) == 1
