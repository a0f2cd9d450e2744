"""Forms built from instrument specs, and the small forms of the journal."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.text import normalize_newlines
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.content.specs import InstrumentSpec, Item
from kap.journal import timeline
from kap.journal.models import ActionStep, CheckIn, KapSession, QuestionToBring, SupportItem
from kap.lib.limits import (
    EARLIEST_DATE,
    LATEST_DATE,
    LONG_TEXT,
    SHORT_TEXT,
    check_date_range,
    limit_length,
    too_long,
)
from kap.lib.widgets import Select, Textarea, first_control_id

# Limits on free text (kap.lib.limits): an answer or an insight may be long, a step is a line.
MAX_TEXT = LONG_TEXT


def _field_for(spec: InstrumentSpec, item: Item) -> forms.Field:
    kind = spec.item_type(item)
    required = spec.is_required(item)
    common = {"label": item.text, "help_text": item.help, "required": required}
    if kind == "check":
        return forms.BooleanField(**{**common, "required": False})
    if kind == "text":
        return forms.CharField(
            **common,
            max_length=MAX_TEXT,
            widget=Textarea(attrs={"rows": 4}),
            error_messages={
                "required": _("Please write something here, even a few words."),
                "max_length": too_long(_("your answer"), MAX_TEXT),
            },
        )
    if kind == "choice":
        return forms.ChoiceField(
            **common,
            choices=[(o.value, o.label) for o in spec.options_for(item)],
            widget=forms.RadioSelect,
            error_messages={
                "required": _("Please choose one answer."),
                "invalid_choice": _("Please choose one of the answers shown."),
            },
        )
    pick_a_number = _("Please choose a number from %(min)s to %(max)s.") % {
        "min": item.min,
        "max": item.max,
    }
    field = forms.TypedChoiceField(
        **common,
        coerce=int,
        choices=[(n, str(n)) for n in range(item.min, item.max + 1)],
        widget=forms.RadioSelect,
        error_messages={
            "required": pick_a_number,
            "invalid_choice": pick_a_number,
        },
    )
    # A scale is a row of segments; more than six wrap into two even rows on a phone (0-10:
    # six and five), each segment still a 44 px target (kap/static/kap/questionnaire.css).
    count = item.max - item.min + 1
    field.segment_rows = "two" if count > 6 else "one"  # type: ignore[attr-defined]
    field.segment_columns = -(-count // 2) if count > 6 else count  # type: ignore[attr-defined]
    return field


def error_summary(form: forms.BaseForm) -> list[tuple[str, str]]:
    """(id of the control to go to, message) for every error of `form`, in the order of the
    page, for the "There is a problem" summary at its top (GOV.UK's error summary). A message
    that belongs to no field has no link."""
    out = [("", str(e)) for e in form.non_field_errors()]
    for bound in form:
        out += [(first_control_id(bound), str(e)) for e in bound.errors]
    return out


class InstrumentForm(forms.Form):
    """One field per item, named by the item key. Render with journal/instrument_form.html."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, spec: InstrumentSpec, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = spec
        for item in spec.items:
            self.fields[item.key] = _field_for(spec, item)

    def answers(self) -> dict:
        return {i.key: self.cleaned_data.get(i.key) for i in self.spec.items}

    def items(self):
        """(item, bound field, kind) in order, for the template."""
        return [(i, self[i.key], self.spec.item_type(i)) for i in self.spec.items]

    def error_summary(self) -> list[tuple[str, str]]:
        """The summary names a question by its number, never by its wording cut short (a long
        question, such as PHQ-9's ninth, must be read whole): the message in full is next to
        the question itself. A question left unanswered reads "Answer question 4": one short
        line each, however many were left."""
        out = [("", str(e)) for e in self.non_field_errors()]
        for n, item in enumerate(self.spec.items, start=1):
            bound = self[item.key]
            if not bound.errors:
                continue
            error = bound.errors.as_data()[0]
            if error.code == "required":
                message = _("Answer question %(n)s") % {"n": n}
            else:
                message = _("Question %(n)s: %(message)s") % {
                    "n": n,
                    "message": " ".join(error.messages),
                }
            out.append((first_control_id(bound), message))
        return out


def answers_from_post(spec: InstrumentSpec, data) -> dict:
    """What the person typed, unvalidated: used for drafts, where half-answers are normal."""
    out: dict = {}
    for item in spec.items:
        kind = spec.item_type(item)
        if kind == "check":
            out[item.key] = data.get(item.key) in ("on", "true", "1")
        elif item.key in data:
            value = data.get(item.key, "")
            if kind == "text":
                out[item.key] = normalize_newlines(value)[:MAX_TEXT]
            elif kind == "rating":
                try:
                    out[item.key] = int(value)
                except (TypeError, ValueError):
                    continue
            else:
                out[item.key] = value
    return out


class _Limited:
    """A ModelForm mixin: `text_limits` = {field: (most characters, "the field" in a message)}.

    It also takes the blank choice ("- Select an option -") out of every required field shown
    as radio buttons: a radio that means "nothing" would be read aloud, and could look chosen.
    An optional one keeps it, under words a form gives it (e.g. "Prefer not to say")."""

    text_limits: dict[str, tuple[int, str]] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, (limit, what) in self.text_limits.items():
            limit_length(self.fields[name], limit, what)
        for field in self.fields.values():
            if field.required and isinstance(field.widget, forms.RadioSelect):
                field.choices = [(v, label) for v, label in field.choices if v != ""]


class KapSessionForm(_Limited, forms.ModelForm):
    text_limits = {"notes": (LONG_TEXT, gettext_lazy("the notes"))}

    starts_at = forms.DateTimeField(
        label=gettext_lazy("Date and time"),
        widget=forms.DateTimeInput(
            attrs={
                "type": "datetime-local",
                "min": f"{EARLIEST_DATE:%Y-%m-%d}T00:00",
                "max": f"{LATEST_DATE:%Y-%m-%d}T23:59",
            },
            format="%Y-%m-%dT%H:%M",
        ),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        error_messages={
            "required": gettext_lazy("Please give the date and time of the session."),
            "invalid": gettext_lazy("Please give a date and time, e.g. 2026-12-01 14:00."),
        },
        validators=[check_date_range],
    )

    class Meta:
        model = KapSession
        fields = ["starts_at", "status", "clinician_name", "setting", "notes"]
        labels = {
            "status": gettext_lazy("Status"),
            "setting": gettext_lazy("Setting"),
            "clinician_name": gettext_lazy("Clinician's name"),
            "notes": gettext_lazy("Notes (optional)"),
        }
        help_texts = {
            "notes": gettext_lazy(
                "Anything you want to remember. No dose or medication details are needed here."
            )
        }
        widgets = {
            "status": forms.RadioSelect,
            "setting": forms.RadioSelect,
            "notes": Textarea(attrs={"rows": 3}),
        }

    def clean(self):
        data = super().clean()
        when, status = data.get("starts_at"), data.get("status")
        if when and status == KapSession.Status.COMPLETED and when > timezone.now():
            self.add_error(
                "status", _("A session in the future cannot be completed yet; mark it as planned.")
            )
        return data


# too_long() in the language of the request that shows the message, not of the import.
_too_long_lazy = lazy(too_long, str)


class InsightForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("What stood out?"),
        max_length=MAX_TEXT,
        widget=Textarea(attrs={"rows": 3}),
        error_messages={
            "required": gettext_lazy("Write a word or two first."),
            "max_length": _too_long_lazy(gettext_lazy("the insight"), MAX_TEXT),
        },
    )


class ActionStepForm(_Limited, forms.ModelForm):
    text_limits = {"text": (SHORT_TEXT, gettext_lazy("the step"))}

    class Meta:
        model = ActionStep
        fields = ["text"]
        labels = {"text": gettext_lazy("A small step")}
        widgets = {"text": forms.TextInput}


class CheckInForm(_Limited, forms.ModelForm):
    text_limits = {"note": (SHORT_TEXT, gettext_lazy("the note"))}

    class Meta:
        model = CheckIn
        fields = ["status", "note"]
        labels = {
            "status": gettext_lazy("How is it going?"),
            "note": gettext_lazy("A short note (optional)"),
        }
        widgets = {"status": forms.RadioSelect, "note": forms.TextInput}


class SupportItemForm(_Limited, forms.ModelForm):
    text_limits = {"text": (SHORT_TEXT, gettext_lazy("this"))}

    class Meta:
        model = SupportItem
        fields = ["category", "text"]
        labels = {"category": gettext_lazy("Kind of support"), "text": gettext_lazy("Who or what")}
        widgets = {"category": forms.RadioSelect, "text": forms.TextInput}


# --- The records pages' forms, with wording fit for each page -----------------------------


class SessionForm(KapSessionForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        status.error_messages["invalid_choice"] = _(
            "Please choose planned, completed or cancelled."
        )
        status.error_messages["required"] = _("Please choose planned, completed or cancelled.")
        setting = self.fields["setting"]
        # A blank radio option would read "---------" aloud.
        setting.choices = [("", _("Prefer not to say")), *KapSession.Setting.choices]
        setting.error_messages["invalid_choice"] = _("Please choose one of the settings shown.")
        self.fields["clinician_name"].error_messages["max_length"] = _(
            "Please shorten the name to 120 characters or fewer."
        )


# A list of sessions to choose from offers the latest (and the one asked for, e.g. from a
# session's own page): years of sessions neither make a long list nor are read to draw it.
SESSIONS_LISTED = 24


def offer_latest_sessions(form: forms.BaseForm, client) -> None:
    """Narrow `form`'s "session" field to the client's latest SESSIONS_LISTED sessions, plus
    the one sent, if it is theirs; nothing encrypted is read to label them."""
    mine = KapSession.objects.for_client(client).defer("notes", "clinician_name", "setting")
    wanted = list(mine.order_by("-starts_at", "-pk").values_list("pk", flat=True)[:SESSIONS_LISTED])
    sent = form.data.get(form.add_prefix("session")) if form.data else None
    if isinstance(sent, str) and sent.isdigit():
        wanted.append(int(sent))
    field = form.fields["session"]
    field.queryset = mine.filter(pk__in=wanted).order_by("-starts_at", "-pk")
    field.help_text = _("Your latest %(n)s; an earlier one from its page in Sessions.") % {
        "n": SESSIONS_LISTED
    }


class StepForm(ActionStepForm):
    session = forms.ModelChoiceField(
        queryset=KapSession.objects.none(),
        required=False,
        widget=Select,
        label=gettext_lazy("From which session? (optional)"),
        empty_label=gettext_lazy("Not linked to a session"),
        error_messages={"invalid_choice": gettext_lazy("Please choose one of your sessions.")},
    )

    class Meta(ActionStepForm.Meta):
        fields = ["text", "session"]

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        offer_latest_sessions(self, client)
        self.fields["text"].error_messages["required"] = _("Write the step in a few words first.")


class StepCheckInForm(CheckInForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (No blank radio, _Limited: the person picks one of the three, nothing is preset.)
        self.fields["status"].error_messages["required"] = _("Please choose how it is going.")
        self.fields["status"].error_messages["invalid_choice"] = _(
            "Please choose one of the answers."
        )


class QuestionForm(forms.ModelForm):
    class Meta:
        model = QuestionToBring
        fields = ["text"]
        labels = {"text": gettext_lazy("A question to bring")}
        widgets = {"text": forms.TextInput}
        error_messages = {
            "text": {"required": gettext_lazy("Write the question first, even a few words.")}
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit_length(self.fields["text"], SHORT_TEXT, _("the question"))


class SupportForm(SupportItemForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].error_messages["required"] = _("Please choose a kind of support.")
        self.fields["category"].error_messages["invalid_choice"] = _(
            "Please choose one of the kinds of support shown."
        )
        self.fields["text"].error_messages["required"] = _(
            "Write who or what helps, in a few words."
        )


class TimelineFilter(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search your words"), required=False, max_length=200)
    kind = forms.ChoiceField(label=gettext_lazy("Show"), required=False, widget=Select)
    session = forms.ModelChoiceField(
        queryset=KapSession.objects.none(),
        required=False,
        widget=Select,
        label=gettext_lazy("About the session"),
        empty_label=gettext_lazy("Any session"),
        error_messages={"invalid_choice": gettext_lazy("Please choose one of your sessions.")},
    )

    def __init__(self, *args, client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("Everything"))] + [
            (s.kind, s.label) for s in timeline.SOURCES.values()
        ]
        self.fields["kind"].error_messages["invalid_choice"] = _("Please choose one of the kinds.")
        offer_latest_sessions(self, client)
