"""The client's own records. Everything a person writes is in an Encrypted*Field."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.content.models import Instrument
from kap.lib.chart_text import format_date
from kap.lib.fields import EncryptedJSONField, EncryptedTextField

Client = settings.AUTH_USER_MODEL


class ClientQuerySet(models.QuerySet):
    def for_client(self, client) -> ClientQuerySet:
        return self.filter(client=client)


class Searchable(models.Model):
    """A record that holds a person's words, which the blind index covers (kap.journal.word_index):
    every save is a transaction, so that the index rows its post_save receiver writes commit or
    roll back with it (inside a caller's transaction, no savepoint is added)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            super().save(*args, **kwargs)


class KapSession(Searchable):
    class Status(models.TextChoices):
        PLANNED = "planned", gettext_lazy("Planned")
        COMPLETED = "completed", gettext_lazy("Completed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    class Setting(models.TextChoices):
        CLINIC = "clinic", gettext_lazy("In a clinic or office")
        HOME = "home", gettext_lazy("At home, with remote support")
        OTHER = "other", gettext_lazy("Somewhere else")

    client = models.ForeignKey(Client, models.CASCADE, related_name="kap_sessions")
    starts_at = models.DateTimeField(gettext_lazy("date and time"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PLANNED)
    clinician_name = models.CharField(gettext_lazy("clinician"), max_length=120, blank=True)
    setting = models.CharField(max_length=12, choices=Setting.choices, blank=True)
    notes = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["client", "starts_at"])]

    def __str__(self) -> str:
        when = format_date(timezone.localtime(self.starts_at))  # "3 Nov 2026": j M Y
        return _("Session on %(date)s") % {"date": when}

    @property
    def is_completed(self) -> bool:
        return self.status == self.Status.COMPLETED


class ResponseQuerySet(ClientQuerySet):
    def submitted(self) -> ResponseQuerySet:
        return self.filter(status=Response.Status.SUBMITTED)

    def drafts(self) -> ResponseQuerySet:
        return self.filter(status=Response.Status.DRAFT)

    def of(self, key: str) -> ResponseQuerySet:
        return self.filter(instrument__key=key)

    def since(self, when: datetime) -> ResponseQuerySet:
        return self.filter(submitted_at__gte=when)


class Response(Searchable):
    """Answers to one instrument: a draft while being written, then submitted (and editable)."""

    class Status(models.TextChoices):
        DRAFT = "draft", gettext_lazy("Draft")
        SUBMITTED = "submitted", gettext_lazy("Submitted")

    client = models.ForeignKey(Client, models.CASCADE, related_name="responses")
    # RESTRICT, not PROTECT: a personal instrument goes with its owner, and their answers
    # with it; an instrument still answered by anyone else can never be deleted.
    instrument = models.ForeignKey(Instrument, models.RESTRICT, related_name="responses")
    session = models.ForeignKey(
        KapSession, models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    answers = EncryptedJSONField(default=dict)
    # Bumped on every save; a save carrying an older number is refused (no silent overwrite).
    version = models.PositiveIntegerField(default=1)
    score_total = models.FloatField(null=True, blank=True)
    score_band = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # The token rendered with the form that filed (or last edited) this response: the same form
    # sent again (a reload, a double click, a retried request) finds this row instead of making
    # a second response, a second safety event and a second alert. Unique per client.
    submission_token = models.CharField(max_length=64, blank=True, default="", editable=False)

    objects = ResponseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["client", "status", "submitted_at"]),
            models.Index(fields=["client", "created_at"]),
            # The roster's latest/first PHQ-9 and GAD-7 per client (kap/care/roster.py).
            models.Index(fields=["client", "instrument", "status", "submitted_at"]),
        ]
        constraints = [
            # One open draft per instrument and session: autosaves always land on the same row.
            # (Two constraints rather than nulls_distinct=False, which SQLite does not support.)
            models.UniqueConstraint(
                fields=["client", "instrument", "session"],
                condition=models.Q(status="draft", session__isnull=False),
                name="one_draft_per_instrument_and_session",
            ),
            models.UniqueConstraint(
                fields=["client", "instrument"],
                condition=models.Q(status="draft", session__isnull=True),
                name="one_draft_per_instrument_without_session",
            ),
            models.UniqueConstraint(
                fields=["client", "submission_token"],
                condition=~models.Q(submission_token=""),
                name="one_response_per_submission_token",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument.title} ({self.get_status_display().lower()})"

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT


class ResponseVersion(models.Model):
    """An earlier version of a submitted response, kept when it is edited."""

    response = models.ForeignKey(Response, models.CASCADE, related_name="history")
    version = models.PositiveIntegerField()
    answers = EncryptedJSONField()
    score_total = models.FloatField(null=True, blank=True)
    saved_at = models.DateTimeField()
    # The submission token this version was filed with (see Response.submission_token): a form
    # sent again after the response was edited still finds its response.
    submission_token = models.CharField(
        max_length=64, blank=True, default="", editable=False, db_index=True
    )

    class Meta:
        ordering = ["-version"]


class SafetyEvent(models.Model):
    client = models.ForeignKey(Client, models.CASCADE, related_name="safety_events")
    response = models.ForeignKey(Response, models.CASCADE, related_name="safety_events")
    rule_key = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["response", "rule_key"], name="one_event_per_rule")
        ]


class Insight(Searchable):
    client = models.ForeignKey(Client, models.CASCADE, related_name="insights")
    session = models.ForeignKey(
        KapSession, models.SET_NULL, null=True, blank=True, related_name="insights"
    )
    text = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    # The token the insight was sent with (a form's, or the device's outbox when it was written
    # offline: kap/static/kap/offline/outbox.js): sent again (a retry when the network returns,
    # a second tab), it finds this row instead of storing the insight twice. Unique per client.
    submission_token = models.CharField(max_length=64, blank=True, default="", editable=False)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "submission_token"],
                condition=~models.Q(submission_token=""),
                name="one_insight_per_submission_token",
            ),
        ]


class ActionStep(Searchable):
    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Working on it")
        DONE = "done", gettext_lazy("Done")
        LET_GO = "let-go", gettext_lazy("Let go")

    client = models.ForeignKey(Client, models.CASCADE, related_name="action_steps")
    session = models.ForeignKey(
        KapSession, models.SET_NULL, null=True, blank=True, related_name="action_steps"
    )
    source = models.ForeignKey(
        Response, models.SET_NULL, null=True, blank=True, related_name="action_steps"
    )
    text = EncryptedTextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "created_at"])]


class CheckIn(Searchable):
    class Status(models.TextChoices):
        DONE = "done", gettext_lazy("Done")
        WORKING = "working", gettext_lazy("Still working on it")
        LET_GO = "let-go", gettext_lazy("Let it go")

    step = models.ForeignKey(ActionStep, models.CASCADE, related_name="checkins")
    # The step's person, kept on the check-in as well (set from the step when it is saved), so
    # that their check-ins are read newest first from an index, with no join and no sort of all
    # of them (the timeline): years of daily check-ins are thousands.
    client = models.ForeignKey(Client, models.CASCADE, related_name="+", editable=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    note = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "created_at"])]

    def save(self, *args, **kwargs):
        # Always the step's person, whatever was set: loaded with the step when it is not already.
        if self.client_id is None or CheckIn.step.is_cached(self):
            self.client_id = self.step.client_id
        super().save(*args, **kwargs)


class QuestionToBring(Searchable):
    client = models.ForeignKey(Client, models.CASCADE, related_name="questions")
    source = models.ForeignKey(
        Response, models.SET_NULL, null=True, blank=True, related_name="questions"
    )
    text = EncryptedTextField()
    asked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["asked_at", "created_at"]


class SupportItem(models.Model):
    class Category(models.TextChoices):
        THERAPY = "therapy", gettext_lazy("Ongoing therapy")
        PEOPLE = "people", gettext_lazy("Supportive relationships")
        ROUTINES = "routines", gettext_lazy("Consistent routines")

    client = models.ForeignKey(Client, models.CASCADE, related_name="support_items")
    category = models.CharField(max_length=10, choices=Category.choices)
    text = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["category", "created_at"]


class WordIndex(models.Model):
    """The blind index of a person's words (kap.journal.word_index): one row per keyed hash of a
    term of one record. Holds no text; gone with the person by CASCADE."""

    client = models.ForeignKey(Client, models.CASCADE, related_name="+")
    # The record's model, as its label ("journal.insight"), and its primary key.
    kind = models.CharField(max_length=40)
    object_id = models.PositiveBigIntegerField()
    token = models.CharField(max_length=32)

    class Meta:
        indexes = [
            # A search: one person's rows of one kind holding these tokens (covering).
            models.Index(fields=["client", "kind", "token", "object_id"], name="wordindex_search"),
            # A record's own rows, rewritten when it is saved.
            models.Index(fields=["kind", "object_id"], name="wordindex_record"),
        ]


# --- Reminders (kap.journal.reminders) ------------------------------------------------------------


class CalendarFeed(models.Model):
    """A private calendar address. The token is kept encrypted, so the person can copy the address
    again later; requests are matched on its SHA-256 alone, so the lookup never needs a key."""

    client = models.OneToOneField(Client, models.CASCADE, related_name="calendar_feed")
    token = EncryptedTextField()
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(null=True, blank=True)


class ReminderPreference(models.Model):
    client = models.OneToOneField(Client, models.CASCADE, related_name="reminder_preference")
    email_enabled = models.BooleanField(gettext_lazy("Send me e-mail reminders"), default=False)
    include_clinician = models.BooleanField(
        gettext_lazy("Show my clinician's name in calendar events and e-mails"), default=False
    )
    updated_at = models.DateTimeField(auto_now=True)


class ReminderSent(models.Model):
    """One e-mailed reminder. The row is written before the e-mail goes out and is never retried,
    so a crash half-way leaves a reminder unsent rather than sent twice."""

    class Status(models.TextChoices):
        SENDING = "sending", gettext_lazy("Sending")
        SENT = "sent", gettext_lazy("Sent")
        FAILED = "failed", gettext_lazy("Failed")

    client = models.ForeignKey(Client, models.CASCADE, related_name="reminders_sent")
    kind = models.CharField(max_length=20)
    key = models.CharField(max_length=80)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = ClientQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "key"], name="one_reminder_per_key")
        ]
