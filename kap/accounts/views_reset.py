"""Password reset by e-mail: Django's views, throttled by address and by client, with the same
answer whether or not an account uses the address, and a discreet e-mail from the person's
clinic (kap.accounts.senders), sent by `kap worker`.

The request only queues the e-mail, as invitations are queued: no mail server's round trip (nor
its timeout, when it is down) happens while someone waits for the answer, so the answer takes as
long for an address with an account as for one without. The queued task carries the account's id
(none for an address without an account: a task is queued all the same) and the site's address,
never the link: the worker makes the link when it sends (so it works for PASSWORD_RESET_TIMEOUT
from then). A failed send is tried again after a pause that doubles from
KAP_ALERT_EMAIL_RETRY_SECONDS, up to KAP_ALERT_EMAIL_ATTEMPTS attempts, like the worker's other
e-mails; the log names the account's id only."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from kap.accounts import onboarding, throttle
from kap.accounts.forms import ResetForm
from kap.accounts.models import User
from kap.accounts.senders import sender_for
from kap.lib import languages, links
from kap.lib.mail import is_set_up as mail_is_set_up

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


SUBJECT_TEMPLATE = "accounts/email/password_reset_subject.txt"
BODY_TEMPLATE = "accounts/email/password_reset.txt"
# The longest pause between two attempts: a link that comes much later helps no one.
MAX_RETRY_PAUSE = timedelta(hours=1)


def reset_message(user: User, base_url: str) -> EmailMessage:
    """The e-mail with a new one-time link for `user`, from their clinic, in their language (it
    is made by the worker, outside any request)."""
    with languages.speaking(user):
        context = {
            "email": user.email,
            "user": user,
            "uid": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
            "base_url": base_url,
            "lifetime": onboarding.link_lifetime(),
        }
        subject = "".join(render_to_string(SUBJECT_TEMPLATE, context).splitlines())
        body = render_to_string(BODY_TEMPLATE, context)
    return EmailMessage(
        subject,
        body,
        from_email=sender_for(user),
        to=[user.email],
        # Auto-Submitted keeps out-of-office replies from answering it (RFC 3834).
        headers={"Auto-Submitted": "auto-generated"},
    )


@task
def send_reset_email(user_id: int | None, base_url: str, attempt: int = 1) -> str:
    """Send the reset e-mail to the account `user_id` (if it is still active), on `base_url`.
    None: the address asked for has no account (nothing to send)."""
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return "not sent: no such active account"
    if not mail_is_set_up():
        log.warning("E-mail is not set up (KAP_SMTP_HOST): a password-reset e-mail is not sent")
        return "not sent: e-mail is not set up"
    try:
        reset_message(user, base_url).send()
    except Exception as error:
        code = getattr(error, "smtp_code", None)
        reason = f"{type(error).__name__} {code}" if code else type(error).__name__
        limit = settings.ALERT_EMAIL_ATTEMPTS
        if attempt >= limit:
            log.error(
                "Password-reset e-mail for account %s was NOT delivered after %s attempts"
                " (last: %s); they may ask again",
                user_id,
                attempt,
                reason,
            )
            return "failed"
        pause = min(
            timedelta(seconds=settings.ALERT_EMAIL_RETRY_SECONDS * 2 ** (attempt - 1)),
            MAX_RETRY_PAUSE,
        )
        send_reset_email.using(run_after=timezone.now() + pause).enqueue(
            user_id, base_url, attempt + 1
        )
        log.warning(
            "Password-reset e-mail for account %s failed (attempt %s of %s: %s); trying again"
            " in %s seconds",
            user_id,
            attempt,
            limit,
            reason,
            int(pause.total_seconds()),
        )
        return "failed: will retry"
    log.info("Password-reset e-mail for account %s sent (attempt %s)", user_id, attempt)
    return "sent"


def _queue_reset_email(user_id: int | None, base_url: str) -> None:
    try:
        send_reset_email.enqueue(user_id, base_url)
    except Exception:
        # Not an error page: that would tell the asker the address has an account.
        log.exception("Could not queue the password-reset e-mail for account %s", user_id)


class PasswordReset(auth_views.PasswordResetView):
    form_class = ResetForm
    template_name = "accounts/password_reset.html"

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
        # Queued for the worker, never sent here (see the module's docstring): an address with
        # an account costs this request no more than an address without one.
        # An address without an account queues a task too, one that finds no one to send to: the
        # same write either way, so not even the queue's insert sets the two answers apart.
        base_url = links.base_url(self.request)
        user_ids = [user.pk for user in form.get_users(form.cleaned_data["email"])]
        for user_id in user_ids or [None]:
            transaction.on_commit(partial(_queue_reset_email, user_id, base_url))
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDone(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "mail_is_set_up": mail_is_set_up()}


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"


class PasswordResetComplete(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
