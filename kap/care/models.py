"""The therapist's side: notes, alert handling, and the append-only audit of every read."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from kap.journal.models import SafetyEvent
from kap.lib.fields import EncryptedTextField

User = settings.AUTH_USER_MODEL


class TherapistNote(models.Model):
    """A therapist's private note on a client: encrypted, never shown to the client."""

    therapist = models.ForeignKey(User, models.CASCADE, related_name="notes_written")
    client = models.ForeignKey(User, models.CASCADE, related_name="notes_about")
    text = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class AlertAcknowledgement(models.Model):
    event = models.ForeignKey(SafetyEvent, models.CASCADE, related_name="acknowledgements")
    therapist = models.ForeignKey(User, models.CASCADE, related_name="acknowledgements")
    note = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class LeasedEmail(models.Model):
    """An e-mail sent by `kap worker` that is never silently lost (kap.care.tasks.Outbox sends it).

    A sender claims the row (→ sending) with a lease; a worker that dies mid-send leaves the
    lease to expire, and the next worker sends again with the same Message-ID. After
    ALERT_EMAIL_ATTEMPTS failed attempts the row is failed (not delivered) and shown where the
    people who rely on it look. Each kind has its own `status` (its Status choices)."""

    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Delivery attempts started (a claim counts, even if its worker died before the end).
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # While "sending": after this, the sender is taken to be dead and the e-mail is sent again.
    lease_until = models.DateTimeField(null=True, blank=True)
    # While "pending" after a failed attempt: not before this (backoff).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The same on every attempt, so that a rare duplicate collapses in the mail client.
    message_id = models.CharField(max_length=200, blank=True, default="")
    # Why the last attempt failed (the mail server's answer; never clinical text).
    last_error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        abstract = True


class AlertNotification(LeasedEmail):
    """One row per (event, therapist), inserted with the event: the e-mail that tells the
    therapist about it, and how its delivery went (kap.care.tasks sends it). Not delivered, it
    shows on the therapist's roster and the clinic page. Never holds anything the client wrote."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Not delivered")
        UNSENT = "unsent", gettext_lazy("Not e-mailed: e-mail is not set up")

    event = models.ForeignKey(SafetyEvent, models.CASCADE, related_name="notifications")
    therapist = models.ForeignKey(User, models.CASCADE, related_name="alert_notifications")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "therapist"], name="one_notification_each")
        ]
        indexes = [models.Index(fields=["status", "therapist"], name="alert_notification_status")]


class InviteEmail(LeasedEmail):
    """One e-mail carrying one code of an invitation (accounts.Invite keeps only the code's hash).

    The code is kept here, encrypted, only until the e-mail is settled: erased once it is sent,
    given up on, or cancelled (the invitation was withdrawn, used, or sent again with a new
    code), so what stays in the database cannot be used to join."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Queued")
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Not delivered")
        UNSENT = "unsent", gettext_lazy("Waiting: e-mail is not set up")
        CANCELLED = "cancelled", gettext_lazy("Not sent: withdrawn or replaced")

    invite = models.ForeignKey("accounts.Invite", models.CASCADE, related_name="emails")
    to = models.EmailField()
    code = EncryptedTextField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    class Meta:
        indexes = [models.Index(fields=["status"], name="invite_email_status")]


class AuditEntry(models.Model):
    """Who read or exported whose data, when, from where. Chained by a keyed hash (kap.care.audit):
    each row's hash covers the previous row's, so an edited or deleted row breaks the chain, and
    without the key (KAP_SECRET_KEY, kept outside the database) nobody can rebuild it.

    The chain covers keyed digests of the e-mail address and the network address, not the
    addresses themselves: erasing a person blanks them and the chain still verifies."""

    actor = models.ForeignKey(User, models.SET_NULL, null=True, related_name="audit_actions")
    actor_email = models.CharField(max_length=254)
    subject = models.ForeignKey(User, models.SET_NULL, null=True, related_name="audit_subject")
    subject_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=40)  # e.g. "view", "export"
    what = models.CharField(max_length=200)  # e.g. "timeline", "brief.pdf", "insights"
    ip = models.GenericIPAddressField(null=True, blank=True)
    actor_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    ip_digest = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["subject", "created_at"])]

    def payload(self) -> bytes:
        """What the chain's keyed hash covers. Not the foreign keys: they become NULL when an
        account is deleted, and that must not look like an edit; nor the addresses themselves,
        only their digests, so that erasing a person leaves the chain whole."""
        return json.dumps(
            [
                self.prev_hash,
                self.actor_digest,
                self.subject_label,
                self.action,
                self.what,
                self.ip_digest,
                self.created_at.isoformat(),
            ],
            separators=(",", ":"),
        ).encode()


class QuestionDiscussed(models.Model):
    """A therapist marked a client's question to bring as discussed."""

    question = models.ForeignKey(
        "journal.QuestionToBring", models.CASCADE, related_name="discussions"
    )
    therapist = models.ForeignKey(User, models.CASCADE, related_name="questions_discussed")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "therapist"], name="discussed_once")
        ]
