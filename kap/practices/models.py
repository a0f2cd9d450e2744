"""A log of each guided practice a person does, with the breath pacer, the quiet timer or by hand."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from kap.content.models import Instrument
from kap.content.specs import Pace


class PracticeLogQuerySet(models.QuerySet):
    def for_client(self, client) -> PracticeLogQuerySet:
        return self.filter(client=client)

    def completed(self) -> PracticeLogQuerySet:
        return self.filter(completed=True)


class PracticeLog(models.Model):
    class Source(models.TextChoices):
        TIMER = "timer", _("With the timer")
        MANUAL = "manual", _("Noted by hand")

    # Made by the browser before the first send, so a send retried after a dropped connection
    # is stored once.
    uuid = models.UUIDField(unique=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="practice_logs"
    )
    # RESTRICT, not PROTECT: a personal instrument goes with its owner, and their answers
    # with it; an instrument still answered by anyone else can never be deleted.
    instrument = models.ForeignKey(Instrument, models.RESTRICT, related_name="practice_logs")
    started_at = models.DateTimeField()
    planned_seconds = models.PositiveIntegerField()
    elapsed_seconds = models.PositiveIntegerField()  # time practised, pauses left out
    completed = models.BooleanField()  # False: stopped early
    settled_before = models.PositiveSmallIntegerField(null=True, blank=True)
    settled_after = models.PositiveSmallIntegerField(null=True, blank=True)
    pace = models.JSONField(null=True, blank=True)  # a specs.Pace, read through `pace_used`
    notings = models.JSONField(default=dict, blank=True)  # {"thought": 3, "emotion": 1}
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.TIMER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeLogQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["client", "-started_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(settled_before__lte=10), name="practicelog_before_0_10"
            ),
            models.CheckConstraint(
                condition=models.Q(settled_after__lte=10), name="practicelog_after_0_10"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument.title} on {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def pace_used(self) -> Pace | None:
        return Pace.model_validate(self.pace) if self.pace else None

    @property
    def noting_counts(self) -> list[tuple[str, int]]:
        return [(k, v) for k, v in (self.notings or {}).items() if v]

    @property
    def ratings_given(self) -> bool:
        return self.settled_before is not None or self.settled_after is not None
