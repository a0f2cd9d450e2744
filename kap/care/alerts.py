"""Safety alerts for linked therapists.

When a client's answers trigger a safety rule, every therapist they share "safety" with gets one
AlertNotification row in the same transaction, and after commit a background task e-mails them
(kap.care.tasks: claimed with a lease, retried with the same Message-ID, reported when it cannot
be delivered). The e-mail says only that there is something to look at: never a name or an answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from kap.accounts.models import CareLink, Scope
from kap.care.models import AlertAcknowledgement, AlertNotification
from kap.journal.models import SafetyEvent

log = logging.getLogger(__name__)


def on_safety_event(event) -> None:
    """Called inside the transaction that stored a SafetyEvent. Must not send anything itself:
    it queues work to run after commit."""
    links = (
        CareLink.objects.active()
        .filter(client_id=event.client_id, therapist__is_active=True)
        .only("pk", "therapist_id", "scopes", "ended_at")
    )
    for link in links:
        if not link.shares(Scope.SAFETY):
            continue
        notification, created = AlertNotification.objects.get_or_create(
            event=event, therapist_id=link.therapist_id
        )
        if created:
            transaction.on_commit(partial(_enqueue, notification.pk))


def alert_therapists(sender, *, event, **kwargs) -> None:
    """Receiver of kap.journal.signals.safety_event_recorded (connected in kap.care.apps)."""
    on_safety_event(event)


def _enqueue(notification_id: int) -> None:
    from kap.care.tasks import send_alert_email

    try:
        send_alert_email.enqueue(notification_id)
    except Exception:
        # The alert itself is stored and shows on the roster; only the e-mail is late:
        # `kap worker`'s sweep (kap.care.tasks.sweep_alerts) sends it within minutes.
        log.exception("Could not queue the alert e-mail for notification %s", notification_id)


def acknowledgements_for_client(client) -> dict[int, tuple[str, datetime]]:
    """For the client's own pages: event id → (who acknowledged it first, when).

    The acknowledgement's note is left out on purpose: it is written for the clinic."""
    found: dict[int, tuple[str, datetime]] = {}
    rows = (
        AlertAcknowledgement.objects.filter(event__client=client)
        .select_related("therapist")
        .only("event_id", "created_at", "therapist__display_name", "therapist__email")
        .order_by("created_at", "pk")
    )
    for ack in rows:
        found.setdefault(ack.event_id, (str(ack.therapist), ack.created_at))
    return found


@dataclass
class ClientAlert:
    """One of a client's safety alerts, as the client is shown it."""

    when: datetime
    title: str  # the instrument whose answers matched a safety rule
    seen: tuple[str, datetime] | None  # (therapist's name, when they marked it seen)


def alerts_for_client(client, limit: int) -> list[ClientAlert]:
    """The client's latest `limit` safety alerts, and whether a therapist has seen each."""
    events = SafetyEvent.objects.for_client(client).values(
        "id", "created_at", "response__instrument__title"
    )[:limit]
    seen = acknowledgements_for_client(client)
    return [
        ClientAlert(e["created_at"], e["response__instrument__title"], seen.get(e["id"]))
        for e in events
    ]


# Notifications whose e-mail did not reach the therapist: given up on, or never sent because
# e-mail is not set up. On the roster while the therapist has not acknowledged the alert; the
# clinic page counts the acknowledged ones apart.
UNDELIVERED = (AlertNotification.Status.FAILED, AlertNotification.Status.UNSENT)


def _acknowledged() -> Exists:
    """The notification's alert was acknowledged by its therapist (inside a notification query)."""
    return Exists(
        AlertAcknowledgement.objects.filter(
            event=OuterRef("event_id"), therapist=OuterRef("therapist_id")
        )
    )


def undelivered_notifications(**filters) -> QuerySet[AlertNotification]:
    """Notifications not e-mailed (see UNDELIVERED) whose alert is still open for their
    therapist; `filters` narrow them (they may hold OuterRef)."""
    return AlertNotification.objects.filter(status__in=UNDELIVERED, **filters).filter(
        ~_acknowledged()
    )


def with_undelivered_alert_emails(therapists: QuerySet) -> QuerySet:
    """For the clinic page: each therapist's number of open alerts whose e-mail did not reach
    them (`alert_emails_failed`, `alert_emails_unsent`), and of acknowledged alerts whose e-mail
    did not either (`alert_emails_undelivered_seen`: the alert needs nothing more, but the page
    must not say "All delivered"). Counts only: no client, no content."""

    def count(notifications):
        rows = notifications.order_by().values("therapist").annotate(n=Count("pk")).values("n")
        return Coalesce(Subquery(rows, output_field=IntegerField()), 0)

    def undelivered(status):
        return count(undelivered_notifications(therapist=OuterRef("pk"), status=status))

    seen = AlertNotification.objects.filter(
        therapist=OuterRef("pk"), status__in=UNDELIVERED
    ).filter(_acknowledged())
    return therapists.annotate(
        alert_emails_failed=undelivered(AlertNotification.Status.FAILED),
        alert_emails_unsent=undelivered(AlertNotification.Status.UNSENT),
        alert_emails_undelivered_seen=count(seen),
    )
