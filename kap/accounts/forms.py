from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from kap.accounts.models import Role, User


class SignupForm(forms.Form):
    display_name = forms.CharField(
        label="Your name",
        max_length=120,
        required=False,
        help_text="Optional. How the app greets you; a first name is plenty.",
    )
    email = forms.EmailField(label="Email address", help_text="You log in with this.")
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common password.",
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, first_account: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["display_name"].widget.attrs["autocomplete"] = "given-name"
        if first_account:
            self.fields["role"] = forms.ChoiceField(
                label="Who is this for?",
                choices=[
                    (Role.CLIENT, "Me — I am using KAP Companion for myself"),
                    (Role.ADMIN, "A clinic — I am setting it up for therapists and clients"),
                ],
                initial=Role.CLIENT,
                widget=forms.RadioSelect,
            )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists.")
        return email

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords are not the same.")
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
        "invalid_login": "That email address and password do not match an account. "
        "Check them and try again.",
    }
    username = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class AccountForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["display_name", "region"]
        labels = {"display_name": "Your name", "region": "Crisis resources for"}

    def __init__(self, *args, regions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"] = forms.ChoiceField(
            label="Show crisis resources for",
            choices=[("", "The default region")] + regions,
            required=False,
        )
