from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kap.accounts import onboarding, setup_code
from kap.accounts.models import User
from kap.lib import timezones


class BrowserTimeZoneField(forms.CharField):
    """A hidden input that kap/static/kap/timezone.js fills with the browser's time zone. An
    unknown name (or none: no JavaScript) is ignored and the server's time zone is used."""

    def __init__(self, **kwargs):
        attrs = {"data-browser-time-zone": ""}
        super().__init__(required=False, max_length=64, widget=forms.HiddenInput(attrs), **kwargs)

    def clean(self, value):
        return timezones.clean(value if isinstance(value, str) and len(value) <= 64 else "")


class SignupRequestForm(forms.Form):
    """Open sign-up on a server that sends e-mail: a name and an address. The password is chosen
    through the link e-mailed to the address (kap.accounts.signup_by_mail), and nothing here
    says whether the address already has an account."""

    display_name = forms.CharField(
        label=gettext_lazy("Your name"),
        max_length=120,
        required=False,
        help_text=gettext_lazy("Optional. How the app greets you; a first name is plenty."),
    )
    email = forms.EmailField(
        label=gettext_lazy("Email address"), help_text=gettext_lazy("You log in with this.")
    )
    time_zone = BrowserTimeZoneField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["display_name"].widget.attrs["autocomplete"] = "given-name"

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class SignupForm(SignupRequestForm):
    """An account made on the spot, with its password: sign-up on a server without e-mail, the
    first-run set-up, an invitation. An address that already has an account is refused: the
    account is opened at once, so whether it was refused could not be hidden anyway."""

    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("At least 10 characters; not a common password."),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    field_order = ["display_name", "email", "password1", "password2"]

    def clean_email(self) -> str:
        email = super().clean_email()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                _(
                    "An account with this email address already exists. Log in, or reset your "
                    "password if you have forgotten it."
                )
            )
        return email

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords are not the same."))
        elif p1:
            user = User(email=data.get("email", ""), display_name=data.get("display_name", ""))
            try:
                password_validation.validate_password(p1, user)
            except forms.ValidationError as e:
                self.add_error("password1", e)
        return data


class LoginForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "That email address and password do not match an account. Check them and try again."
        ),
    }
    username = forms.EmailField(
        label=gettext_lazy("Email address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class AccountForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "language", "region", "time_zone"]
        labels = {
            "display_name": gettext_lazy("Your name"),
            "region": gettext_lazy("Crisis resources for"),
        }

    def __init__(self, *args, regions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"] = forms.ChoiceField(
            label=_("Language"),
            # Each language named in itself, so that a person who cannot read the page finds it.
            choices=[("", _("The language of your browser"))] + list(settings.LANGUAGES),
            required=False,
            help_text=_("Pages, e-mails and documents are in it."),
        )
        self.fields["region"] = forms.ChoiceField(
            label=_("Show crisis resources for"),
            choices=[("", _("The default region"))] + regions,
            required=False,
        )
        self.fields["time_zone"] = forms.ChoiceField(
            label=_("Your time zone"),
            choices=[("", _("The server's time zone (%(zone)s)") % {"zone": settings.TIME_ZONE})]
            + timezones.choices(self.instance.time_zone),
            required=False,
            help_text=_("Times of sessions, reminders and entries are shown in it."),
        )


class SetupForm(SignupForm):
    """The first-run set-up: the code from the server console, the clinic, its first admin."""

    code = forms.CharField(
        label=gettext_lazy("Set-up code"),
        max_length=40,
        help_text=gettext_lazy(
            "Printed on the server's console when it starts (kap serve or kap setup), "
            "e.g. ABCD-EFGH-JKMN."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    clinic_name = forms.CharField(
        label=gettext_lazy("The clinic's name"),
        max_length=onboarding.CLINIC_NAME_MAX,
        help_text=gettext_lazy(
            "Shown to its therapists and clients, and as the sender of its e-mails."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    field_order = ["code", "clinic_name", "display_name", "email", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["display_name"].help_text = _("Optional. Your name, as the clinic's admin.")
        self.fields["email"].help_text = _("You log in with this, as the clinic's admin.")

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if not setup_code.is_valid(code):
            raise forms.ValidationError(
                _(
                    "That set-up code is not right, or it has expired. Copy it from the server's "
                    "console again; `kap setup` prints a new one."
                )
            )
        return code

    def clean_clinic_name(self) -> str:
        try:
            return onboarding.check_clinic_name(self.cleaned_data["clinic_name"])
        except onboarding.Refused as e:
            raise forms.ValidationError(str(e).capitalize() + ".") from None


class ResetForm(PasswordResetForm):
    """Django's, with: a calm label; people who never chose a password (an admin made by
    `kap clinic create` whose link expired) may ask too. Its e-mail is queued for the worker, not
    sent by the form (kap.accounts.views_reset)."""

    email = forms.EmailField(
        label=gettext_lazy("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def get_users(self, email):
        return (
            u
            for u in User.objects.filter(email__iexact=email, is_active=True)
            if u.email.casefold() == email.casefold()
        )
