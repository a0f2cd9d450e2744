"""Forms for the client's side of sharing: accepting an invitation and choosing what to share."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts.forms import SignupForm
from kap.accounts.models import Scope
from kap.care.sharing import Line, shared_lines

# What each kind means, in the words a client would use. Shown under each checkbox, followed by
# the list of exactly what it shares (kap.care.sharing, which the therapist's side reads).
SCOPE_HELP: dict[str, str] = {
    Scope.SCORES: gettext_lazy(
        "The results of your questionnaires (PHQ-9 for mood, GAD-7 for anxiety, "
        "the outcome check-ins) and how they change over time."
    ),
    Scope.SAFETY: gettext_lazy(
        "An alert when one of your answers suggests you may be at risk, for example "
        "thoughts of harming yourself."
    ),
    Scope.INTENTIONS: gettext_lazy("The intentions you set before a session."),
    Scope.INSIGHTS: gettext_lazy("The insights you write down after a session."),
    Scope.WORKSHEETS: gettext_lazy(
        "Your integration worksheets and reflections, and the questions you want "
        "to bring to your sessions."
    ),
    Scope.STEPS: gettext_lazy("The action steps you choose and how your check-ins on them went."),
    Scope.PRACTICES: gettext_lazy("Which practices you did and how they felt."),
    Scope.SESSIONS: gettext_lazy(
        "The KAP sessions you log: when they were, with whom and where. Never your notes on them."
    ),
}

INVALID_SCOPE = gettext_lazy(
    "One of the choices was not one we know, so nothing was changed. "
    "Please choose from the list below."
)


@dataclass(frozen=True)
class ScopeRow:
    value: str
    label: str
    help: str
    checked: bool
    id: str
    shares: list[Line]  # exactly what a therapist is shown under this kind


def canonical_scopes(chosen: list[str]) -> list[str]:
    """The chosen kinds, each once, in the order of Scope (so stored lists compare equal)."""
    return [value for value in Scope.values if value in chosen]


class ScopesForm(forms.Form):
    """Which kinds to share with one therapist. An empty choice is valid: it shares nothing.

    Give each form on a page its own prefix, so that the checkbox ids stay unique.
    """

    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": INVALID_SCOPE, "invalid_list": INVALID_SCOPE},
    )

    def __init__(self, *args, lines: dict[str, list[Line]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lines = lines

    @property
    def lines(self) -> dict[str, list[Line]]:
        if self._lines is None:
            self._lines = shared_lines()
        return self._lines

    def clean_scopes(self) -> list[str]:
        return canonical_scopes(self.cleaned_data["scopes"])

    def rows(self) -> list[ScopeRow]:
        # The template writes each checkbox itself, so that each can point at its own help text.
        bound = self["scopes"]
        current = {str(v) for v in (bound.value() or [])}
        return [
            ScopeRow(
                value=value,
                label=label,
                help=SCOPE_HELP[value],
                checked=value in current,
                id=f"{bound.auto_id}-{value}",
                shares=self.lines.get(value, []),
            )
            for value, label in Scope.choices
        ]

    @property
    def error_id(self) -> str:
        return f"{self['scopes'].auto_id}-error"


class InviteCodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Invitation code"),
        max_length=100,
        help_text=gettext_lazy("The code your therapist or clinic gave you."),
        error_messages={"required": gettext_lazy("Please type the code from your invitation.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_code(self) -> str:
        return self.cleaned_data["code"].strip()


class InvitedSignupForm(SignupForm):
    """An account made from an invitation (open sign-up or not). An invitation sent to an
    address makes the account for that address only."""

    def __init__(self, *args, invited_email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.invited_email = invited_email.strip().lower()
        if self.invited_email:
            self.fields["email"].initial = self.invited_email
            self.fields["email"].help_text = _("You log in with this. It is the address invited.")

    def clean_email(self) -> str:
        email = super().clean_email()
        if self.invited_email and email != self.invited_email:
            raise forms.ValidationError(
                _(
                    "This invitation is for %(email)s. Please use that address, "
                    "or ask for a new invitation."
                )
                % {"email": self.invited_email}
            )
        return email


class TherapistSignupForm(InvitedSignupForm):
    """A therapist's account, created from a clinic's invitation. The name is required: it is
    what clients see when they choose whether to link to this therapist."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = self.fields["display_name"]
        name.required = True
        name.help_text = _("Clients see this name when they choose whether to link to you.")
        name.error_messages["required"] = _("Please give the name your clients know you by.")
        name.widget.attrs["autocomplete"] = "name"
        if self.invited_email:
            self.fields["email"].help_text = _(
                "You log in with this. It is the address your clinic invited."
            )
