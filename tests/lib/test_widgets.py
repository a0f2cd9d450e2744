"""kap.lib.widgets.Select writes what Django's own select templates write, without a template per
option."""

import re

from django import forms

from kap.lib.widgets import Select


def _squeezed(html: str) -> str:
    return re.sub(r">\s+<", "><", str(html)).strip()


def test_a_select_is_written_as_djangos_templates_write_it():
    choices = [("", "Any <session>"), ("1", 'Session "one" & more'), ("2", "Session two")]
    attrs = {"id": "id_session", "aria-describedby": "id_session_helptext", "required": True}
    for value in ("", "2", None, "<script>"):
        ours = Select(attrs=attrs, choices=choices).render("session", value)
        djangos = forms.Select(attrs=attrs, choices=choices).render("session", value)
        assert _squeezed(ours) == _squeezed(djangos), value
    assert '<option value="2" selected>Session two</option>' in Select(choices=choices).render(
        "s", "2"
    )
    assert "Any &lt;session&gt;" in Select(choices=choices).render("s", "")


def test_groups_of_options_are_left_to_djangos_templates():
    grouped = [("Earlier", [("1", "One"), ("2", "Two")]), ("3", "Three")]
    ours = Select(choices=grouped).render("s", "2")
    assert _squeezed(ours) == _squeezed(forms.Select(choices=grouped).render("s", "2"))
    assert '<optgroup label="Earlier">' in ours
