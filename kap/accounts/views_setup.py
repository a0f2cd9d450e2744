"""The first-run set-up (/setup/): with the one-time code from the server's console, the person
creates the clinic and its first admin. Without a valid code nothing is created; once any
account exists the page is gone."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from kap.accounts import onboarding, setup_code, throttle
from kap.accounts.forms import SetupForm
from kap.accounts.models import User

# Wrong codes tried from one client address; a code has about 59 bits, this only keeps the
# log quiet and the guessing pointless.
WRONG_CODES_PER_HOUR = 10
HOUR = timedelta(hours=1)
SCOPE = "setup-code"


@login_not_required
@never_cache
def setup(request: HttpRequest) -> HttpResponse:
    if User.objects.exists():
        messages.info(request, _("This installation is set up already."))
        return redirect("home" if request.user.is_authenticated else "login")
    address = throttle.client_address(request)
    form = SetupForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not throttle.allowed(SCOPE, address, limit=WRONG_CODES_PER_HOUR, per=HOUR):
            form.add_error(
                None,
                _(
                    "Too many wrong set-up codes were tried from here. Wait an hour, then copy "
                    "the code from the server's console again."
                ),
            )
            status = 429
        elif form.is_valid():
            user = _create(form.cleaned_data)
            if user is not None:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(
                    request,
                    _(
                        "%(clinic)s is set up and you are its admin. One more step: a second "
                        "factor for your account."
                    )
                    % {"clinic": user.clinic},
                )
                return redirect("/account/two-factor/?next=/care/clinic/")
            form.add_error("code", _("That set-up code was used just now, or has expired."))
        elif "code" in form.errors:
            throttle.hit(SCOPE, address, limit=WRONG_CODES_PER_HOUR, per=HOUR)
    return render(request, "accounts/setup.html", {"form": form}, status=status)


def _create(data: dict) -> User | None:
    """The clinic and its admin, if the code is still good (checked again under lock: two people
    with codes race for one installation and one of them gets it)."""
    with transaction.atomic():
        if not setup_code.use(data["code"]):
            return None
        _clinic, user = onboarding.create_clinic(
            name=data["clinic_name"], admin_email=data["email"], admin_name=data["display_name"]
        )
        user.set_password(data["password1"])
        user.time_zone = data["time_zone"]
        user.save(update_fields=["password", "time_zone"])
    return user
