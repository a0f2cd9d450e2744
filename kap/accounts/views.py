from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from kap.accounts import onboarding, signup_by_mail, throttle
from kap.accounts.forms import AccountForm, SignupForm, SignupRequestForm
from kap.accounts.models import Role, User
from kap.content.crisis import region_choices
from kap.lib.mail import is_set_up as mail_is_set_up

HOUR = timedelta(hours=1)


@login_not_required
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if not settings.OPEN_SIGNUP:
        raise Http404("Sign-up is closed; ask your clinic for an invitation.")
    # Sign-up makes clients only: the first admin comes from /setup/ (a code from the server's
    # console) or `kap clinic create`, never from a public form.
    if mail_is_set_up():
        return _signup_by_mail(request)
    # No mail server: the account is opened at once (a laptop), and an address already in use
    # is refused next to the field (kap.accounts.signup_by_mail says why that cannot be hidden).
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(
            form.cleaned_data["email"],
            form.cleaned_data["password1"],
            display_name=form.cleaned_data["display_name"],
            role=Role.CLIENT,
            time_zone=form.cleaned_data["time_zone"],
            onboarded_at=None,  # Today offers the first steps (kap.journal.views_onboarding)
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome. Your account is ready."))
        return redirect(_safe_next(request) or "home")
    return render(request, "accounts/signup.html", {"form": form, "next": _safe_next(request)})


def _signup_by_mail(request: HttpRequest) -> HttpResponse:
    """The same answer whether or not the address has an account: "check your e-mail"
    (kap.accounts.signup_by_mail)."""
    if request.method != "POST" and "sent" in request.GET:
        return render(
            request, "accounts/signup_sent.html", {"lifetime": onboarding.link_lifetime()}
        )
    form = SignupRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        # Both are counted whether or not an account uses the address (as for password resets,
        # with the same limits): a pause says nothing about who has an account.
        by_client = throttle.hit(
            "signup-client",
            throttle.client_address(request),
            limit=settings.PASSWORD_RESET_PER_CLIENT,
            per=HOUR,
        )
        by_address = throttle.hit(
            "signup-address", email, limit=settings.PASSWORD_RESET_PER_ADDRESS, per=HOUR
        )
        if not (by_client and by_address):
            return render(request, "accounts/password_reset_throttled.html", status=429)
        signup_by_mail.start(
            email=email,
            display_name=form.cleaned_data["display_name"],
            time_zone=form.cleaned_data["time_zone"],
            request=request,
        )
        return redirect(reverse("signup") + "?sent")
    return render(request, "accounts/signup.html", {"form": form, "by_mail": True})


def _safe_next(request: HttpRequest) -> str:
    """Where to go after signing up (e.g. back to an invitation), if it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    # Only a path: redirect() would take a bare word for the name of a view (and fail).
    return target if ok and target.startswith("/") else ""


def account(request: HttpRequest) -> HttpResponse:
    form = AccountForm(request.POST or None, instance=request.user, regions=region_choices())
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings are saved."))
        return redirect("account")
    return render(request, "accounts/account.html", {"form": form})


class PasswordChange(auth_views.PasswordChangeView):
    """Django's, with guesses at the current password counted per account: after
    PASSWORD_GUESSES wrong ones within an hour, from wherever they came, the form is paused
    (429) for that account, the right password included, until the hour has passed. Someone
    at an unlocked computer, or with a stolen session, cannot find out the password here."""

    template_name = "accounts/password_change.html"
    SCOPE = "password-change"
    PASSWORD_GUESSES = 5

    def paused(self) -> bool:
        key = str(self.request.user.pk)
        return not throttle.allowed(self.SCOPE, key, limit=self.PASSWORD_GUESSES, per=HOUR)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "paused": self.paused()}

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        with transaction.atomic():
            # One attempt at a time per account, so that guesses sent together are each
            # counted before the next is checked.
            list(User.objects.select_for_update().filter(pk=request.user.pk).values("pk"))
            if self.paused():
                return self.render_to_response(self.get_context_data(form=form), status=429)
            valid = form.is_valid()
            if form.has_error("old_password", "password_incorrect"):
                throttle.hit(
                    self.SCOPE,
                    str(request.user.pk),
                    limit=self.PASSWORD_GUESSES,
                    per=HOUR,
                )
        return self.form_valid(form) if valid else self.form_invalid(form)
