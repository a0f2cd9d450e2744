"""Second factor for therapists and clinic admins: TOTP (django-otp) with recovery codes.

Nobody with access to client data gets it on a password alone. A code is accepted once:
TOTPDevice refuses a time step it has already seen, and a recovery code is deleted on use.

Wrong codes: django-otp makes each device wait 1, 2, 4, 8... seconds after each wrong code, for
every address at once, which keeps a 6-digit code out of reach of guessing. Its doubling has no
end (twenty wrong codes: six days), so someone who knows the password could shut the owner out
for as long as they liked. `_wait_at_most` caps the wait at the sign-in cool-off
(AXES_COOLOFF_TIME): once doubled up to it, one guess per cool-off for the account, and the owner
in again at most one cool-off after the last wrong code.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta

import segno
from axes.helpers import get_cool_off
from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kap.accounts.decorators import second_factor_not_required
from kap.accounts.models import Role

RECOVERY_CODES = 10


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        help_text=gettext_lazy(
            "The 6-digit code from your authenticator app, or one of your recovery codes."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    ok = url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    # Only a path: redirect() would take a bare word for the name of a view (and fail).
    return target if ok and target.startswith("/") else "/"


def _confirmed(user) -> list:
    return list(devices_for_user(user, confirmed=True))


def _wait_at_most(device, most: timedelta | None) -> datetime | None:
    """Cap the device's wait after wrong codes at `most`, then say until when it is waiting
    (None: a code may be tried now).

    Once the last wrong code is `most` old, its failure count is lowered to the highest whose
    wait fits in `most`: the code can be tried, and one more wrong code makes it wait the whole
    `most` again (not 1 second: the doubling does not start over)."""
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until = (info or {}).get("locked_until")
    last, factor = device.throttling_failure_timestamp, device.get_throttle_factor()
    if until is None or last is None or most is None or factor <= 0:
        return until
    if timezone.now() < min(until, last + most):
        return min(until, last + most)
    # The largest n with factor * 2 ** (n - 1) <= most (n = 1 when `most` is under `factor`).
    count = max(1, math.floor(math.log2(most.total_seconds() / factor)) + 1)
    device.throttling_failure_count = min(device.throttling_failure_count, count)
    device.save(update_fields=["throttling_failure_count"])
    return None


def _try_again_error(until: datetime) -> str:
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    return ngettext(
        "Too many wrong codes. For your safety, codes are not checked for a while: try again"
        " in %(minutes)s minute.",
        "Too many wrong codes. For your safety, codes are not checked for a while: try again"
        " in %(minutes)s minutes.",
        minutes,
    ) % {"minutes": minutes}


def _qr_data_uri(device: TOTPDevice, email: str) -> str:
    return segno.make(
        device.config_url.replace("django-otp", "KAP%20Companion"), error="m"
    ).svg_data_uri(scale=5)


@second_factor_not_required
def two_factor(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.role not in (Role.THERAPIST, Role.ADMIN):
        raise Http404
    if user.is_verified():
        return redirect(_next(request))
    if not _confirmed(user):
        return _setup(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].replace(" ", "").strip()
        cool_off = get_cool_off(request)
        waiting = []
        for device in _confirmed(user):
            if until := _wait_at_most(device, cool_off):
                waiting.append(until)
            elif device.verify_token(code):
                otp_login(request, device)
                if isinstance(device, StaticDevice):
                    left = device.token_set.count()
                    messages.warning(
                        request, _("You used a recovery code; %(left)s are left.") % {"left": left}
                    )
                return redirect(_next(request))
        if waiting:
            form.add_error("code", _try_again_error(max(waiting)))
        else:
            form.add_error(
                "code", _("That code did not work. Codes can be used once; wait for the next one.")
            )
    return render(
        request, "accounts/two_factor_verify.html", {"form": form, "next": _next(request)}
    )


def _setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        until = _wait_at_most(device, get_cool_off(request))
        if until:
            form.add_error("code", _try_again_error(until))
        elif device.verify_token(form.cleaned_data["code"].strip()):
            with transaction.atomic():
                device.confirmed = True
                device.save()
                static, _created = StaticDevice.objects.get_or_create(
                    user=user, name="Recovery codes"
                )
                static.token_set.all().delete()
                codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODES)]
                StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
            otp_login(request, device)
            return render(
                request, "accounts/two_factor_codes.html", {"codes": codes, "next": _next(request)}
            )
        else:
            form.add_error(
                "code",
                _("That code did not match. Check the time on your phone and try the next code."),
            )
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "form": form,
            "qr": _qr_data_uri(device, user.email),
            "secret": device.config_url.split("secret=")[1].split("&")[0],
            "next": _next(request),
        },
    )
