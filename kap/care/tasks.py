"""Background work of the care side, run by `kap worker` (django_tasks_db's db_worker).

A safety alert's e-mail is never silently lost. `deliver_alert` sends one AlertNotification:

- It claims the row with a conditional UPDATE (pending → sending) that also counts the attempt
  and sets a lease (ALERT_EMAIL_LEASE_SECONDS). While the lease holds, no one else sends it.
- A worker killed mid-send leaves the row "sending". Its queued task is never run again
  (django_tasks_db leaves it RUNNING), so `kap worker` sweeps: when it starts and every
  ALERT_EMAIL_SWEEP_SECONDS (`sweep_alerts`), it takes up every notification whose lease has
  expired, whose retry is due, or that was never picked up, and sends it.
- Every attempt carries the same Message-ID (stored on the row before the first send), so the
  rare duplicate (the server took the message just before the worker died) collapses in the
  therapist's mail client.
- A failed attempt is retried after a backoff that doubles from ALERT_EMAIL_RETRY_SECONDS; after
  ALERT_EMAIL_ATTEMPTS attempts the row is "failed": the alert shows "e-mail not delivered" on
  the therapist's roster and on the clinic page, and the log says so (an error).
- Without a mail server (no KAP_SMTP_HOST) the row is "unsent": shown as not e-mailed on the
  roster and the clinic page, logged, and sent by the sweep once a mail server is set up.

Nothing here logs or e-mails a client's name or anything they wrote: only notification ids,
attempt counts and the mail server's answer.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core import mail
from django.db import connection
from django.db.models import Q
from django.tasks import task
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kap.care.models import AlertNotification

log = logging.getLogger(__name__)

Status = AlertNotification.Status
SUBJECT = "A safety alert in {site}"
BODY = """A client you support has a new safety alert. Log in to see it.

{url}

This e-mail leaves out every detail on purpose. {site} is not monitored in real time.
"""
NO_MAILER = "e-mail is not set up (KAP_SMTP_HOST)"
# A new notification's own queued task goes first; the sweep takes it up after this long.
FRESH_GRACE = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)


def mail_is_set_up() -> bool:
    return "default" in settings.MAILERS


def alert_message_id(notification: AlertNotification) -> str:
    """`<alert-{id}.{hash}@{domain}>`: the same for every attempt of this notification, and
    unique across installations (keyed by SECRET_KEY) without saying anything about the alert."""
    digest = salted_hmac(
        "kap.care.alert-message-id",
        f"{notification.pk}:{notification.event_id}:{notification.therapist_id}:"
        f"{notification.created_at.isoformat()}",
        algorithm="sha256",
    ).hexdigest()[:20]
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<alert-{notification.pk}.{digest}@{domain}>"


def alert_message(notification: AlertNotification) -> mail.EmailMessage:
    site = settings.SITE_NAME
    url = settings.BASE_URL + reverse("care:roster")
    return mail.EmailMessage(
        SUBJECT.format(site=site),
        BODY.format(url=url, site=site),
        to=[notification.therapist.email],
        headers={"Message-ID": notification.message_id or alert_message_id(notification)},
    )


def _deliver(message: mail.EmailMessage) -> None:
    message.send()


def _is_due(status: str, lease_until: datetime | None, next_attempt_at, now: datetime) -> bool:
    if status == Status.PENDING:
        return next_attempt_at is None or next_attempt_at <= now
    if status == Status.SENDING:  # its sender died if the lease ran out (none: an old row)
        return lease_until is None or lease_until <= now
    return status == Status.UNSENT


def _reason(error: BaseException) -> str:
    """The mail server's answer, short: the exception's class and SMTP code, or its text."""
    code = getattr(error, "smtp_code", None)
    text = f"{type(error).__name__} {code}" if code else f"{type(error).__name__}: {error}"
    return text[:200]


def _backoff(attempt: int) -> timedelta:
    seconds = settings.ALERT_EMAIL_RETRY_SECONDS * 2 ** max(attempt - 1, 0)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def deliver_alert(notification_id: int) -> str:
    """Send one notification's e-mail if it is due; say what happened. Safe to call any number
    of times from any number of workers: only the one that claims it sends."""
    now = timezone.now()
    rows = AlertNotification.objects.filter(pk=notification_id)
    found = rows.values_list("status", "attempts", "lease_until", "next_attempt_at").first()
    if found is None:
        return "not sent: no such notification"
    status, attempts, lease_until, next_attempt_at = found
    if not _is_due(status, lease_until, next_attempt_at, now):
        return f"not sent: {status}"
    # Unchanged since it was read: whoever updates this first has it.
    same = rows.filter(status=status, attempts=attempts)
    if not mail_is_set_up():
        if status != Status.UNSENT and same.update(
            status=Status.UNSENT, lease_until=None, next_attempt_at=None, last_error=NO_MAILER
        ):
            log.warning(
                "E-mail is not set up (KAP_SMTP_HOST): safety-alert notification %s is not "
                "e-mailed. The therapist's roster and the clinic page show it as not e-mailed; "
                "it is sent once e-mail is set up.",
                notification_id,
            )
        return "not sent: e-mail is not set up"
    limit = settings.ALERT_EMAIL_ATTEMPTS
    if attempts >= limit:
        # e.g. the last attempt's worker died: give up, and say so.
        if same.update(status=Status.FAILED, lease_until=None, next_attempt_at=None):
            _log_undelivered(notification_id, attempts)
        return "failed"
    attempt = attempts + 1
    lease = timedelta(seconds=settings.ALERT_EMAIL_LEASE_SECONDS)
    claimed = same.update(
        status=Status.SENDING,
        attempts=attempt,
        claimed_at=now,
        lease_until=now + lease,
        next_attempt_at=None,
    )
    if not claimed:
        return "not sent: claimed by another worker"
    if status == Status.SENDING:
        log.warning(
            "Safety-alert notification %s: the worker sending it stopped before it finished "
            "(attempt %s); sending it again with the same Message-ID (attempt %s of %s)",
            notification_id,
            attempts,
            attempt,
            limit,
        )
    mine = rows.filter(status=Status.SENDING, attempts=attempt)  # while our claim stands
    notification = AlertNotification.objects.select_related("therapist").get(pk=notification_id)
    if not notification.therapist.is_active:
        mine.update(
            status=Status.FAILED, lease_until=None, last_error="the therapist is deactivated"
        )
        log.warning(
            "Safety-alert notification %s is not e-mailed: the therapist's account is "
            "deactivated. The clinic page shows it as not delivered.",
            notification_id,
        )
        return "not sent: the therapist's account is deactivated"
    if not notification.message_id:
        # Stored before the first send: every later attempt uses this one.
        rows.filter(message_id="").update(message_id=alert_message_id(notification))
        notification.message_id = rows.values_list("message_id", flat=True).get()
    try:
        _deliver(alert_message(notification))
    except Exception as error:
        return _failed(notification_id, mine, attempt, _reason(error))
    rows.exclude(status=Status.SENT).update(
        status=Status.SENT,
        sent_at=timezone.now(),
        lease_until=None,
        next_attempt_at=None,
        last_error="",
    )
    log.info("Safety-alert e-mail for notification %s sent (attempt %s)", notification_id, attempt)
    return "sent"


def _failed(notification_id: int, mine, attempt: int, reason: str) -> str:
    limit = settings.ALERT_EMAIL_ATTEMPTS
    if attempt >= limit:
        if mine.update(status=Status.FAILED, lease_until=None, last_error=reason):
            _log_undelivered(notification_id, attempt, reason)
        return "failed"
    delay = _backoff(attempt)
    mine.update(
        status=Status.PENDING,
        lease_until=None,
        next_attempt_at=timezone.now() + delay,
        last_error=reason,
    )
    log.warning(
        "Safety-alert e-mail for notification %s failed (attempt %s of %s: %s); trying again "
        "in %s seconds",
        notification_id,
        attempt,
        limit,
        reason,
        int(delay.total_seconds()),
    )
    return "failed: will retry"


def _log_undelivered(notification_id: int, attempts: int, reason: str = "") -> None:
    log.error(
        "Safety-alert e-mail for notification %s was NOT delivered after %s attempts%s. The "
        "alert shows as 'e-mail not delivered' on the therapist's roster and the clinic page.",
        notification_id,
        attempts,
        f" (last: {reason})" if reason else "",
    )


@task
def send_alert_email(notification_id: int) -> str:
    """Queued after the commit that stored the alert; sends at once if it can. Whatever a run
    leaves undone (a failure, a dead worker), `sweep_alerts` takes up later."""
    return deliver_alert(notification_id)


def due_alerts(now: datetime | None = None, limit: int = 100) -> list[int]:
    """Notifications whose e-mail should be (re)sent now, oldest first."""
    now = now or timezone.now()
    due = (
        Q(status=Status.PENDING, next_attempt_at__isnull=True, created_at__lte=now - FRESH_GRACE)
        | Q(status=Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Status.SENDING, lease_until__lte=now)
        | Q(status=Status.SENDING, lease_until__isnull=True)
    )
    if mail_is_set_up():
        due |= Q(status=Status.UNSENT)
    return list(
        AlertNotification.objects.filter(due).order_by("pk").values_list("pk", flat=True)[:limit]
    )


def sweep_alerts(limit: int = 100) -> int:
    """(Re)send every due alert e-mail here and now: the retries, those whose worker died
    mid-send, those never picked up, and those waiting for e-mail to be set up. Returns how
    many were due."""
    ids = due_alerts(limit=limit)
    for pk in ids:
        try:
            deliver_alert(pk)
        except Exception:
            # Its lease (if it was claimed) runs out and the next sweep takes it up again.
            log.exception("Safety-alert notification %s could not be handled; trying later", pk)
    return len(ids)


def schedule_alert_sweep(every_seconds: float) -> threading.Event:
    """Run `sweep_alerts` now and then every `every_seconds`, from a daemon thread of
    `kap worker` (beside the task queue, so a busy or stuck queue does not hold alerts up).
    Set the returned event to stop it."""
    stop = threading.Event()
    every_seconds = max(every_seconds, 1.0)

    def loop() -> None:
        while not stop.is_set():
            try:
                sweep_alerts()
            except Exception:
                log.exception("The safety-alert e-mail sweep failed; trying again later")
            finally:
                connection.close()  # this thread's own connection, not held between sweeps
            stop.wait(every_seconds)

    threading.Thread(target=loop, name="kap-alert-sweep", daemon=True).start()
    return stop
