"""Background work of the care side, run by `kap worker` (django_tasks_db's db_worker).

`send_alert_email` e-mails one therapist about one safety event, at most once. It claims its
notification with a conditional UPDATE (pending → sending) before sending: a second run, a second
worker, or a worker restarted after being killed finds nothing to claim and sends nothing. A
notification left in "sending" by a worker killed mid-send is *not* sent again: the e-mail may
already have gone, and a second alert is worse than a late one (the roster shows it anyway).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.tasks import task
from django.urls import reverse
from django.utils import timezone

from kap.care.models import AlertNotification

log = logging.getLogger(__name__)

Status = AlertNotification.Status
SUBJECT = "A safety alert in {site}"
BODY = """A client you support has a new safety alert. Log in to see it.

{url}

This e-mail leaves out every detail on purpose. {site} is not monitored in real time.
"""


def alert_message(notification: AlertNotification) -> mail.EmailMessage:
    site = settings.SITE_NAME
    url = settings.BASE_URL + reverse("care:roster")
    return mail.EmailMessage(
        SUBJECT.format(site=site),
        BODY.format(url=url, site=site),
        to=[notification.therapist.email],
    )


def _deliver(message: mail.EmailMessage) -> None:
    message.send()


@task
def send_alert_email(notification_id: int) -> str:
    claimed = AlertNotification.objects.filter(pk=notification_id, status=Status.PENDING).update(
        status=Status.SENDING
    )
    if not claimed:
        status = (
            AlertNotification.objects.filter(pk=notification_id)
            .values_list("status", flat=True)
            .first()
        )
        if status == Status.SENDING:
            log.warning(
                "Alert notification %s was left half-sent (a worker stopped while sending); "
                "it is not sent again. The alert shows on the therapist's roster.",
                notification_id,
            )
        return f"not sent: {status or 'no such notification'}"
    notification = AlertNotification.objects.select_related("therapist").get(pk=notification_id)
    rows = AlertNotification.objects.filter(pk=notification_id)
    if "default" not in settings.MAILERS:
        rows.update(status=Status.FAILED)
        log.info(
            "E-mail is not set up (KAP_SMTP_HOST): alert %s is on the roster only", notification_id
        )
        return "not sent: e-mail is not set up"
    if not notification.therapist.is_active:
        rows.update(status=Status.FAILED)
        return "not sent: the therapist's account is deactivated"
    try:
        _deliver(alert_message(notification))
    except Exception:
        # The server may have taken it before failing, so it is not tried again.
        log.exception("Alert e-mail for notification %s failed; not retried", notification_id)
        rows.update(status=Status.FAILED)
        return "failed"
    rows.update(status=Status.SENT, sent_at=timezone.now())
    return "sent"


def enqueue_pending_alerts(older_than: timedelta = timedelta(minutes=5)) -> int:
    """Queue again the e-mails of notifications still pending (e.g. the queue was unreachable
    right after commit). Safe to run any time: the task's claim sends each at most once."""
    cutoff = timezone.now() - older_than
    ids = list(
        AlertNotification.objects.filter(status=Status.PENDING, created_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        send_alert_email.enqueue(pk)
    return len(ids)


def stuck_alerts(older_than: timedelta = timedelta(minutes=15)) -> list[int]:
    """Notifications left in "sending": for a person to look at, never resent automatically."""
    cutoff = timezone.now() - older_than
    return list(
        AlertNotification.objects.filter(status=Status.SENDING, created_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
