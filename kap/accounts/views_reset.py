"""Password reset by e-mail: Django's views, throttled by address and by client, with the same
answer whether or not an account uses the address, and a discreet e-mail from the person's
clinic (kap.accounts.senders)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.shortcuts import render

from kap.accounts import onboarding, throttle
from kap.accounts.forms import ResetForm
from kap.lib import links
from kap.lib.mail import is_set_up as mail_is_set_up

HOUR = timedelta(hours=1)


class PasswordReset(auth_views.PasswordResetView):
    form_class = ResetForm
    template_name = "accounts/password_reset.html"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    email_template_name = "accounts/email/password_reset.txt"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "mail_is_set_up": mail_is_set_up()}

    def form_valid(self, form):
        # Both are counted whether or not an account uses the address: a refusal says nothing
        # about who has an account.
        by_client = throttle.hit(
            "password-reset-client",
            throttle.client_address(self.request),
            limit=settings.PASSWORD_RESET_PER_CLIENT,
            per=HOUR,
        )
        by_address = throttle.hit(
            "password-reset-address",
            form.cleaned_data["email"],
            limit=settings.PASSWORD_RESET_PER_ADDRESS,
            per=HOUR,
        )
        if not (by_client and by_address):
            return render(self.request, "accounts/password_reset_throttled.html", status=429)
        if not mail_is_set_up():
            # Nothing can be sent; the next page says so (to everyone alike).
            return HttpResponseRedirect(self.get_success_url())
        self.extra_email_context = {
            "base_url": links.base_url(self.request),
            "lifetime": onboarding.link_lifetime(),
        }
        return super().form_valid(form)


class PasswordResetDone(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "mail_is_set_up": mail_is_set_up()}


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"


class PasswordResetComplete(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
