"""What a therapist writes on a client's page: a private note, and the note that goes with
acknowledging a safety alert (kap.care.views)."""

from __future__ import annotations

from django import forms

from kap.lib.limits import THERAPIST_NOTE, too_long
from kap.lib.widgets import Textarea


class NoteForm(forms.Form):
    """A therapist's private note on a client, read by no one else."""

    text = forms.CharField(
        label="New private note",
        max_length=THERAPIST_NOTE,
        widget=Textarea(attrs={"rows": 4}),
        help_text="Only you can read your notes. The client and other therapists never see them.",
        error_messages={
            "required": "Please write the note before saving it.",
            "max_length": too_long("the note", THERAPIST_NOTE),
        },
    )


class AcknowledgeForm(forms.Form):
    """Acknowledging a client's safety alert, with what was done, for the clinic."""

    note = forms.CharField(
        label="Note for the clinic (optional)",
        required=False,
        max_length=5_000,
        widget=Textarea(attrs={"rows": 2}),
        help_text="What you did, e.g. “Called the client; safety plan reviewed.” "
        "The client sees that you acknowledged the alert, not this note.",
    )
