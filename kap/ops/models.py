"""What ops keeps in the database: the key canary, the worker's heartbeat, the housekeeping jobs'
last runs and the last outcome of sending e-mail. Nothing here holds anyone's data."""

from django.db import models


class KeyCanary(models.Model):
    """A known value per key id, so a missing or wrong key is found at start-up, not on a page."""

    key_id = models.CharField(max_length=20, unique=True)
    value = models.TextField()

    class Meta:
        # The journal made this table before ops owned the model; it keeps its name and rows.
        db_table = "journal_keycanary"


class Heartbeat(models.Model):
    """One row (pk 1): when a `kap worker` last said it was alive, and which one."""

    beat_at = models.DateTimeField()
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField(null=True)


class HousekeepingRun(models.Model):
    """The last run of one housekeeping job (kap.ops.housekeeping). A worker claims a due job
    with a conditional UPDATE that also sets a lease, so two workers, or a restarted one, never
    run it twice in one period."""

    name = models.CharField(max_length=40, primary_key=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    lease_until = models.DateTimeField(null=True)
    ok = models.BooleanField(null=True)
    # A short outcome ("3 sessions cleared", "kap-backup-….dump, 12 MB"): never anyone's data.
    message = models.CharField(max_length=300, blank=True)


class MailStatus(models.Model):
    """One row (pk 1): the last time the mail server took a message, and the last time it
    did not, with the error's class and the server's short answer (no address, no content)."""

    last_ok_at = models.DateTimeField(null=True)
    last_failed_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=300, blank=True)
