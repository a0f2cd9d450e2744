"""The key canary: a known value per encryption key, checked at start-up (kap.ops.keys)."""

from django.db import models


class KeyCanary(models.Model):
    """A known value per key id, so a missing or wrong key is found at start-up, not on a page."""

    key_id = models.CharField(max_length=20, unique=True)
    value = models.TextField()

    class Meta:
        # The journal made this table before ops owned the model; it keeps its name and rows.
        db_table = "journal_keycanary"
