"""Background work of the care side, run by `kap worker` (django_tasks_db's db_worker): the
e-mails that must not be silently lost, safety alerts to therapists and invitations.

An `Outbox` sends one kind of e-mail, one row (a kap.care.models.LeasedEmail) per message:

- It claims the row with a conditional UPDATE (pending → sending) that also counts the attempt
  and sets a lease (ALERT_EMAIL_LEASE_SECONDS). While the lease holds, no one else sends it.
- A worker killed mid-send leaves the row "sending". Its queued task is never run again
  (django_tasks_db leaves it RUNNING), so `kap worker` sweeps: when it starts and every
  ALERT_EMAIL_SWEEP_SECONDS (`sweep_emails`), it takes up every row whose lease has expired,
  whose retry is due, or that was never picked up, and sends it.
- Every attempt carries the same Message-ID (stored on the row before the first send), so the
  rare duplicate (the server took the message just before the worker died) collapses in the
  reader's mail client.
- A failed attempt is retried after a backoff that doubles from ALERT_EMAIL_RETRY_SECONDS; after
  ALERT_EMAIL_ATTEMPTS attempts the row is "failed": shown as "not delivered" where the people
  who rely on it look (an alert on the therapist's roster and the clinic page, an invitation on
  the clinic page), and the log says so (an error).
- Without a mail server (no KAP_SMTP_HOST) the row is "unsent": shown as such, logged, and sent
  by the sweep once a mail server is set up.

Nothing here logs or e-mails a client's name or anything they wrote, nor an invitation's code:
only row ids, attempt counts and the mail server's answer.
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
from django.utils.translation import gettext_lazy

from kap.accounts.senders import sender_for
from kap.care import invitations
from kap.care.models import AlertNotification, InviteEmail, LeasedEmail
from kap.lib import languages
from kap.lib.mail import is_set_up as mail_is_set_up

log = logging.getLogger(__name__)

Status = AlertNotification.Status
# Discreet: what the e-mail is about, never what the app is for (nor a client's name or answers).
# In the therapist's language (kap.lib.languages), made by the worker outside any request.
SUBJECT = gettext_lazy("A safety alert to look at")
BODY = gettext_lazy(
    "A client you support has a new safety alert. Log in to see it.\n"
    "\n"
    "%(url)s\n"
    "\n"
    "This e-mail leaves out every detail on purpose. Alerts are not monitored in real time.\n"
)
NO_MAILER = "e-mail is not set up (KAP_SMTP_HOST)"
# A new row's own queued task goes first; the sweep takes it up after this long.
FRESH_GRACE = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)


def _deliver(message: mail.EmailMessage) -> None:
    message.send()


def _reason(error: BaseException) -> str:
    """The mail server's answer, short: the exception's class and SMTP code, or its text."""
    code = getattr(error, "smtp_code", None)
    text = f"{type(error).__name__} {code}" if code else f"{type(error).__name__}: {error}"
    return text[:200]


def _backoff(attempt: int) -> timedelta:
    seconds = settings.ALERT_EMAIL_RETRY_SECONDS * 2 ** max(attempt - 1, 0)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def _message_id(kind: str, pk: int, *parts) -> str:
    """`<{kind}-{id}.{hash}@{domain}>`: the same for every attempt of one row, and unique across
    installations (keyed by SECRET_KEY) without saying anything about what it carries."""
    digest = salted_hmac(
        f"kap.care.{kind}-message-id", ":".join(str(p) for p in (pk, *parts)), algorithm="sha256"
    ).hexdigest()[:20]
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{kind}-{pk}.{digest}@{domain}>"


class Outbox:
    """One kind of leased e-mail (see the module's docstring). A kind says what its rows are
    (`model`), how they are named in the log, where one not delivered shows, whether a claimed
    row should still go (`refusal`), and what it says (`message`)."""

    model: type[LeasedEmail]
    kind: str  # in Message-IDs: "alert", "invite"
    related: tuple[str, ...] = ()

    def name(self, pk: int) -> str:
        """How the log names a row: "Safety-alert e-mail for notification 12"."""
        raise NotImplementedError

    shown_failed = ""  # where a row given up on shows (a sentence)
    shown_unsent = ""  # where a row waiting for a mail server shows (a sentence)

    def message_id(self, row) -> str:
        raise NotImplementedError

    def message(self, row) -> mail.EmailMessage:
        raise NotImplementedError

    def refusal(self, row) -> tuple[str, str] | None:
        """(final status, why) when a claimed row must not be sent after all; None to send it."""
        return None

    def settle(self, rows) -> None:
        """Called with the row's queryset once it is sent, failed or cancelled for good."""

    # --- The claim, the send and the retries (the same for every kind) -----------------------

    def _is_due(self, status, lease_until, next_attempt_at, now: datetime) -> bool:
        S = self.model.Status
        if status == S.PENDING:
            return next_attempt_at is None or next_attempt_at <= now
        if status == S.SENDING:  # its sender died if the lease ran out (none: an old row)
            return lease_until is None or lease_until <= now
        return status == S.UNSENT

    def deliver(self, pk: int) -> str:
        """Send one row's e-mail if it is due; say what happened. Safe to call any number of
        times from any number of workers: only the one that claims it sends."""
        S = self.model.Status
        now = timezone.now()
        rows = self.model.objects.filter(pk=pk)
        found = rows.values_list("status", "attempts", "lease_until", "next_attempt_at").first()
        if found is None:
            return f"not sent: no such {self.kind}"
        status, attempts, lease_until, next_attempt_at = found
        if not self._is_due(status, lease_until, next_attempt_at, now):
            return f"not sent: {status}"
        # Unchanged since it was read: whoever updates this first has it.
        same = rows.filter(status=status, attempts=attempts)
        if not mail_is_set_up():
            if status != S.UNSENT and same.update(
                status=S.UNSENT, lease_until=None, next_attempt_at=None, last_error=NO_MAILER
            ):
                log.warning(
                    "E-mail is not set up (KAP_SMTP_HOST): %s is not sent. %s",
                    self.name(pk),
                    self.shown_unsent,
                )
            return "not sent: e-mail is not set up"
        limit = settings.ALERT_EMAIL_ATTEMPTS
        if attempts >= limit:
            # e.g. the last attempt's worker died: give up, and say so.
            if same.update(status=S.FAILED, lease_until=None, next_attempt_at=None):
                self._log_undelivered(pk, attempts)
                self.settle(rows)
            return "failed"
        attempt = attempts + 1
        lease = timedelta(seconds=settings.ALERT_EMAIL_LEASE_SECONDS)
        claimed = same.update(
            status=S.SENDING,
            attempts=attempt,
            claimed_at=now,
            lease_until=now + lease,
            next_attempt_at=None,
        )
        if not claimed:
            return "not sent: claimed by another worker"
        if status == S.SENDING:
            log.warning(
                "%s: the worker sending it stopped before it finished (attempt %s); sending it "
                "again with the same Message-ID (attempt %s of %s)",
                self.name(pk),
                attempts,
                attempt,
                limit,
            )
        mine = rows.filter(status=S.SENDING, attempts=attempt)  # while our claim stands
        row = self.model.objects.select_related(*self.related).get(pk=pk)
        if (refused := self.refusal(row)) is not None:
            final, why = refused
            if mine.update(status=final, lease_until=None, last_error=why[:200]):
                self.settle(rows)
            return f"not sent: {why}"
        if not row.message_id:
            # Stored before the first send: every later attempt uses this one.
            rows.filter(message_id="").update(message_id=self.message_id(row))
            row.message_id = rows.values_list("message_id", flat=True).get()
        try:
            _deliver(self.message(row))
        except Exception as error:
            return self._failed(pk, rows, mine, attempt, _reason(error))
        rows.exclude(status=S.SENT).update(
            status=S.SENT,
            sent_at=timezone.now(),
            lease_until=None,
            next_attempt_at=None,
            last_error="",
        )
        self.settle(rows)
        log.info("%s sent (attempt %s)", self.name(pk), attempt)
        return "sent"

    def _failed(self, pk: int, rows, mine, attempt: int, reason: str) -> str:
        S = self.model.Status
        limit = settings.ALERT_EMAIL_ATTEMPTS
        if attempt >= limit:
            if mine.update(status=S.FAILED, lease_until=None, last_error=reason):
                self._log_undelivered(pk, attempt, reason)
                self.settle(rows)
            return "failed"
        delay = _backoff(attempt)
        mine.update(
            status=S.PENDING,
            lease_until=None,
            next_attempt_at=timezone.now() + delay,
            last_error=reason,
        )
        log.warning(
            "%s failed (attempt %s of %s: %s); trying again in %s seconds",
            self.name(pk),
            attempt,
            limit,
            reason,
            int(delay.total_seconds()),
        )
        return "failed: will retry"

    def _log_undelivered(self, pk: int, attempts: int, reason: str = "") -> None:
        log.error(
            "%s was NOT delivered after %s attempts%s. %s",
            self.name(pk),
            attempts,
            f" (last: {reason})" if reason else "",
            self.shown_failed,
        )

    def due(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        """Rows whose e-mail should be (re)sent now, oldest first."""
        S = self.model.Status
        now = now or timezone.now()
        due = (
            Q(status=S.PENDING, next_attempt_at__isnull=True, created_at__lte=now - FRESH_GRACE)
            | Q(status=S.PENDING, next_attempt_at__lte=now)
            | Q(status=S.SENDING, lease_until__lte=now)
            | Q(status=S.SENDING, lease_until__isnull=True)
        )
        if mail_is_set_up():
            due |= Q(status=S.UNSENT)
        return list(
            self.model.objects.filter(due).order_by("pk").values_list("pk", flat=True)[:limit]
        )

    def sweep(self, limit: int = 100) -> int:
        """(Re)send every due e-mail of this kind here and now: the retries, those whose worker
        died mid-send, those never picked up, and those waiting for e-mail to be set up.
        Returns how many were due."""
        ids = self.due(limit=limit)
        for pk in ids:
            try:
                self.deliver(pk)
            except Exception:
                # Its lease (if it was claimed) runs out and the next sweep takes it up again.
                log.exception("%s could not be handled; trying later", self.name(pk))
        return len(ids)


# --- Safety alerts ------------------------------------------------------------------------------


class AlertOutbox(Outbox):
    model = AlertNotification
    kind = "alert"
    related = ("therapist__clinic",)
    shown_failed = (
        "The alert shows as 'e-mail not delivered' on the therapist's roster and the clinic page."
    )
    shown_unsent = (
        "The therapist's roster and the clinic page show it as not e-mailed; it is sent once "
        "e-mail is set up."
    )

    def name(self, pk: int) -> str:
        return f"Safety-alert e-mail for notification {pk}"

    def message_id(self, row: AlertNotification) -> str:
        return alert_message_id(row)

    def message(self, row: AlertNotification) -> mail.EmailMessage:
        return alert_message(row)

    def refusal(self, row: AlertNotification) -> tuple[str, str] | None:
        if row.therapist.is_active:
            return None
        log.warning(
            "Safety-alert notification %s is not e-mailed: the therapist's account is "
            "deactivated. The clinic page shows it as not delivered.",
            row.pk,
        )
        return Status.FAILED, "the therapist is deactivated"


def alert_message_id(notification: AlertNotification) -> str:
    """`<alert-{id}.{hash}@{domain}>`: the same for every attempt of this notification."""
    return _message_id(
        "alert",
        notification.pk,
        notification.event_id,
        notification.therapist_id,
        notification.created_at.isoformat(),
    )


def alert_message(notification: AlertNotification) -> mail.EmailMessage:
    url = settings.BASE_URL + reverse("care:roster")
    with languages.speaking(notification.therapist):
        subject, body = str(SUBJECT), str(BODY) % {"url": url}
    return mail.EmailMessage(
        subject,
        body,
        from_email=sender_for(notification.therapist),
        to=[notification.therapist.email],
        headers={
            "Message-ID": notification.message_id or alert_message_id(notification),
            "Auto-Submitted": "auto-generated",
        },
    )


ALERTS = AlertOutbox()


def deliver_alert(notification_id: int) -> str:
    return ALERTS.deliver(notification_id)


def due_alerts(now: datetime | None = None, limit: int = 100) -> list[int]:
    return ALERTS.due(now, limit)


def sweep_alerts(limit: int = 100) -> int:
    return ALERTS.sweep(limit)


@task
def send_alert_email(notification_id: int) -> str:
    """Queued after the commit that stored the alert; sends at once if it can. Whatever a run
    leaves undone (a failure, a dead worker), the sweep takes up later."""
    return deliver_alert(notification_id)


# --- Invitations --------------------------------------------------------------------------------


class InviteOutbox(Outbox):
    model = InviteEmail
    kind = "invite"
    related = ("invite__created_by__clinic", "invite__therapist", "invite__clinic")
    shown_failed = (
        "The clinic page shows the invitation's e-mail as not delivered; it can be sent again "
        "from there."
    )
    shown_unsent = "The clinic page shows it as waiting; it is sent once e-mail is set up."

    def name(self, pk: int) -> str:
        return f"Invitation e-mail {pk}"

    def message_id(self, row: InviteEmail) -> str:
        return _message_id("invite", row.pk, row.invite_id, row.created_at.isoformat())

    def message(self, row: InviteEmail) -> mail.EmailMessage:
        return invitations.invitation_message(row)

    def refusal(self, row: InviteEmail) -> tuple[str, str] | None:
        if invitations.still_valid(row):
            return None
        return InviteEmail.Status.CANCELLED, "the invitation was withdrawn, used or sent again"

    def settle(self, rows) -> None:
        # Its code is of no more use to anyone: only the invitation's hash of it stays.
        rows.exclude(code=None).update(code=None)


INVITES = InviteOutbox()


def deliver_invite_email(email_id: int) -> str:
    return INVITES.deliver(email_id)


def sweep_invite_emails(limit: int = 100) -> int:
    return INVITES.sweep(limit)


@task
def send_invite_email(email_id: int) -> str:
    """Queued after the commit that made (or renewed) the invitation. Carries only the row's id:
    the code waits on the row, encrypted, and is erased once the e-mail is settled."""
    return deliver_invite_email(email_id)


# --- The sweep ----------------------------------------------------------------------------------


def sweep_emails(limit: int = 100) -> int:
    """Every kind's due e-mails, sent here and now; returns how many were due."""
    return sweep_alerts(limit) + sweep_invite_emails(limit)


def schedule_alert_sweep(every_seconds: float) -> threading.Event:
    """Run `sweep_emails` (alert and invitation e-mails) now and then every `every_seconds`, from
    a daemon thread of `kap worker` (beside the task queue, so a busy or stuck queue does not
    hold alerts up). Set the returned event to stop it."""
    stop = threading.Event()
    every_seconds = max(every_seconds, 1.0)

    def loop() -> None:
        while not stop.is_set():
            try:
                sweep_emails()
            except Exception:
                log.exception("The e-mail sweep failed; trying again later")
            finally:
                connection.close()  # this thread's own connection, not held between sweeps
            stop.wait(every_seconds)

    threading.Thread(target=loop, name="kap-alert-sweep", daemon=True).start()
    return stop
