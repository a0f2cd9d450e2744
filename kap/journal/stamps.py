"""The journal change stamp: a counter on the person's row (User.journal_stamp), raised whenever
something Today is built from changes for them, so that Today's cache (kap.journal.today) is keyed
on it and a stale entry is never served, on any app server.

What counts is what Today keeps between requests: sessions, submitted responses, action steps and
their check-ins, questions to bring, and which drafts there are (a draft started or deleted). A
draft's autosave changes none of it: Today's page is kept for the minute at most, and a draft's
time is shown to the minute (kap.journal.today.PAGES), so the hottest write of all leaves the
person's row alone.

Raised by the post_save/post_delete receivers here (connected in kap.journal.apps), in the
transaction of the write and after it, so that whoever reads the new stamp also reads the write.
bulk_create and QuerySet.update() send no signal: whoever writes that way calls `bump` in the
same transaction (the JSON import, the bench's seeder). The follow-ups of a submit (questions and
steps, bulk-created) share its transaction with the response's own save, which raised it.
What the packs say is not here: a pack (re)loaded changes roles for everyone, and Today's key
carries a fingerprint of the person's roles instead.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import F

from kap.journal.models import ActionStep, CheckIn, KapSession, QuestionToBring, Response


def bump(client) -> None:
    """Raise this person's stamp (a person, an id, or a subquery giving one): one UPDATE."""
    client_id = getattr(client, "pk", client)
    get_user_model().objects.filter(pk=client_id).update(journal_stamp=F("journal_stamp") + 1)


def _owner(instance):
    return instance.client_id  # a check-in keeps its step's person too


def _autosave(instance, created: bool) -> bool:
    # A draft saved again (every autosave) changes nothing kept; a draft started does.
    return (
        not created and isinstance(instance, Response) and instance.status == Response.Status.DRAFT
    )


def saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    if not raw and not _autosave(instance, created):
        bump(_owner(instance))


def deleted(sender, instance, origin=None, **kwargs) -> None:
    # The person themselves deleted (erasure): their row goes too, nothing to raise.
    if not isinstance(origin, get_user_model()):
        bump(_owner(instance))


WATCHED = (KapSession, Response, ActionStep, CheckIn, QuestionToBring)


def connect() -> None:
    for model in WATCHED:
        label = model._meta.label_lower
        models.signals.post_save.connect(saved, sender=model, dispatch_uid=f"stamp-save-{label}")
        models.signals.post_delete.connect(deleted, sender=model, dispatch_uid=f"stamp-del-{label}")
