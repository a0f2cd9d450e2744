"""The plain form that logs a practice by hand: it works with JavaScript turned off."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.content.specs import InstrumentSpec

RATING_CHOICES = [("", gettext_lazy("No answer"))] + [(str(i), str(i)) for i in range(11)]


def rating_field(label) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=RATING_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="",
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": gettext_lazy("Choose a number from 0 to 10, or “No answer”.")
        },
    )


class ManualLogForm(forms.Form):
    uuid = forms.UUIDField(widget=forms.HiddenInput)
    minutes = forms.IntegerField(
        label=gettext_lazy("About how many minutes did you practise?"),
        min_value=1,
        max_value=180,
        error_messages={
            "min_value": gettext_lazy("Enter at least 1 minute."),
            "max_value": gettext_lazy("Enter at most 180 minutes."),
            "invalid": gettext_lazy("Enter a whole number of minutes."),
            "required": gettext_lazy("Enter how many minutes, roughly."),
        },
    )
    pace = forms.ChoiceField(
        label=gettext_lazy("Which breathing pace did you use?"), required=False
    )
    stopped_early = forms.BooleanField(
        label=gettext_lazy("I stopped before the end"), required=False
    )
    settled_before = rating_field(gettext_lazy("Before: how settled did you feel?"))
    settled_after = rating_field(gettext_lazy("After: how settled did you feel?"))

    def __init__(self, *args, spec: InstrumentSpec, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec
        if spec.paces:
            self.fields["pace"].choices = [("", _("Not sure, or another pace"))] + [
                (p.key, p.label) for p in spec.paces
            ]
        else:
            del self.fields["pace"]
        if spec.duration:
            self.fields["minutes"].initial = spec.duration.default_minutes

    def chosen_pace(self):
        key = self.cleaned_data.get("pace")
        return next((p for p in self.spec.paces if p.key == key), None)


class RatingForm(forms.Form):
    """The "how settled" question the practice page asks before and after (read by JavaScript)."""

    settled = rating_field(gettext_lazy("How settled do you feel?"))

    def __init__(self, *args, label: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["settled"].label = label
