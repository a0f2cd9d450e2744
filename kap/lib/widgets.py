"""Form widgets shared by every app."""

from django import forms
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
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


class Select(forms.Select):
    """A select written out here as Django's templates write it (select.html, select_option.html
    and attrs.html), without a template per option: a list of two dozen sessions took a
    millisecond to render that way. Groups of options are left to Django's templates."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        if any(group for group, _options, _index in widget["optgroups"]):
            return super().render(name, value, attrs, renderer)
        lines = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for _group, options, _index in widget["optgroups"]:
            for o in options:
                value, label = conditional_escape(str(o["value"])), conditional_escape(o["label"])
                lines.append(f'  <option value="{value}"{_attrs(o["attrs"])}>{label}</option>')
        lines.append("</select>")
        return mark_safe("\n".join(lines))  # every value and label escaped above


def _attrs(attrs: dict) -> str:
    """As attrs.html writes them, in their order: True as a bare name, False left out."""
    return "".join(
        f" {conditional_escape(k)}"
        if v is True
        else f' {conditional_escape(k)}="{conditional_escape(str(v))}"'
        for k, v in attrs.items()
        if v is not False
    )
