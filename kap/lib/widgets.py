"""Form widgets shared by every app."""

from django import forms
from django.utils.text import normalize_newlines


class Textarea(forms.Textarea):
    """A textarea whose value has plain "\\n" line breaks.

    Browsers count a line break as one character against `maxlength` but send it as "\\r\\n"; without
    this, text that fitted in the browser could fail the server's length check (or be cut).
    """

    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        return normalize_newlines(value) if isinstance(value, str) else value
