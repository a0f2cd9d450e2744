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


def first_control_id(bound: forms.BoundField) -> str:
    """The id of the control an error summary's link leads to: a group's first option (Django
    gives a radio or checkbox group no id_for_label)."""
    if isinstance(bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return f"{bound.auto_id}_0"
    return bound.id_for_label
