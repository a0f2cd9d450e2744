"""What a therapist writes on a client's page: a private note, and the note that goes with
acknowledging a safety alert (kap.care.views)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from kap.lib.limits import THERAPIST_NOTE, too_long
from kap.lib.widgets import Textarea


class NoteForm(forms.Form):
    """A therapist's private note on a client, read by no one else."""

    text = forms.CharField(
        label=gettext_lazy("New private note"),
        max_length=THERAPIST_NOTE,
        widget=Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "Only you can read your notes. The client and other therapists never see them."
        ),
        error_messages={
            "required": gettext_lazy("Please write the note before saving it."),
            "max_length": too_long(gettext_lazy("the note"), THERAPIST_NOTE),
        },
    )


class AcknowledgeForm(forms.Form):
    """Acknowledging a client's safety alert, with what was done, for the clinic."""

    note = forms.CharField(
        label=gettext_lazy("Note for the clinic (optional)"),
        required=False,
        max_length=5_000,
        widget=Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy(
            "What you did, e.g. “Called the client; safety plan reviewed.” "
            "The client sees that you acknowledged the alert, not this note."
        ),
    )
