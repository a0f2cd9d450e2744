"""The journal change stamp: a counter on the person's row (User.journal_stamp), raised whenever
something Today is built from changes for them, so that Today's cache (kap.journal.today) is keyed
on it and a stale entry is never served, on any app server.

What counts is what Today keeps between requests: sessions, submitted responses, action steps and
their check-ins, questions to bring. A draft's autosave changes none of it (Today reads drafts
afresh on every request), so the hottest write of all leaves the person's row alone.

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
from django.db.models import F, Subquery

from kap.journal.models import ActionStep, CheckIn, KapSession, QuestionToBring, Response


def bump(client) -> None:
    """Raise this person's stamp (a person, an id, or a subquery giving one): one UPDATE."""
    client_id = getattr(client, "pk", client)
    get_user_model().objects.filter(pk=client_id).update(journal_stamp=F("journal_stamp") + 1)


def _owner(instance):
    if isinstance(instance, CheckIn):
        # One statement, whether or not the step is loaded (a cascade from the step's deletion).
        return Subquery(ActionStep.objects.filter(pk=instance.step_id).values("client_id")[:1])
    return instance.client_id


def _counts(instance) -> bool:
    # A draft is read afresh by Today: its saves (every autosave) change nothing kept.
    return not (isinstance(instance, Response) and instance.status == Response.Status.DRAFT)


def saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw and _counts(instance):
        bump(_owner(instance))


def deleted(sender, instance, origin=None, **kwargs) -> None:
    # The person themselves deleted (erasure): their row goes too, nothing to raise.
    if not isinstance(origin, get_user_model()) and _counts(instance):
        bump(_owner(instance))


WATCHED = (KapSession, Response, ActionStep, CheckIn, QuestionToBring)


def connect() -> None:
    for model in WATCHED:
        label = model._meta.label_lower
        models.signals.post_save.connect(saved, sender=model, dispatch_uid=f"stamp-save-{label}")
        models.signals.post_delete.connect(deleted, sender=model, dispatch_uid=f"stamp-del-{label}")
