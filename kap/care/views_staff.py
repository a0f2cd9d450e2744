"""A clinic admin and the clinic's staff (the clinic page's "Staff" section,
care/_clinic_staff.html): add another admin, reset a colleague's second factor (which logs them
out everywhere, as deactivation does: `end_sessions`).

Only an admin of the same clinic may act on its staff: a client or a therapist gets a 404 (as on
every admin page), an admin of another clinic a 403. Both actions are written to the audit trail.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from kap.accounts import onboarding
from kap.accounts.decorators import clinic_admin_required
from kap.accounts.models import Role, User
from kap.care.audit import record_request

STAFF_ROLES = (Role.THERAPIST, Role.ADMIN)


class AdminForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Their e-mail address"),
        help_text=gettext_lazy("They log in with it. You get a one-time link to give them."),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    display_name = forms.CharField(
        label=gettext_lazy("Their name (optional)"),
        required=False,
        max_length=onboarding.DISPLAY_NAME_MAX,
    )


def staff_section(admin: User) -> dict:
    """What the clinic page's staff section shows: the clinic's admins, and whether each of its
    staff has a second factor."""
    if admin.clinic_id is None:
        return {}
    staff = list(
        User.objects.filter(clinic_id=admin.clinic_id, role__in=STAFF_ROLES)
        .annotate(
            has_second_factor=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True))
        )
        .order_by("role", "-is_active", "display_name", "email")
    )
    return {
        "staff": staff,
        "admins": [u for u in staff if u.role == Role.ADMIN],
        "admin_form": AdminForm(),
    }


def _colleague(request: HttpRequest, user_id: int) -> User:
    """A therapist or admin of the requesting admin's own clinic; 403 for another clinic's."""
    found = get_object_or_404(User, pk=user_id, role__in=STAFF_ROLES)
    if request.user.clinic_id is None or found.clinic_id != request.user.clinic_id:
        raise PermissionDenied("Only an admin of their own clinic can do this.")
    return found


def end_sessions(user) -> int:
    """Delete the user's stored sessions: they are logged out everywhere. When an account is
    deactivated, Django already refuses it on its next request (ModelBackend.get_user), but a
    session left behind would come back to life, second factor and all, if it were reactivated;
    when a second factor is reset, a session left open would go straight to enrolling a new
    authenticator, without the password. Both are rare; reading every live session then is fine."""
    from django.contrib.sessions.models import Session

    if not settings.SESSION_ENGINE.startswith(
        ("django.contrib.sessions.backends.db", "kap.accounts.sessions")
    ):
        return 0  # (cookie or cache sessions: not stored here to be found)
    mine = [
        s.pk
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if str(s.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)


def _back() -> str:
    return reverse("care:clinic") + "#staff-title"


@clinic_admin_required
@never_cache
def admin_add(request: HttpRequest) -> HttpResponse:
    """Add another admin to this clinic: an account without a password, and a one-time link
    (shown once) where they choose it."""
    if request.user.clinic_id is None:
        raise Http404("Your account is not part of a clinic.")
    form = AdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                added = onboarding.add_admin(
                    clinic=request.user.clinic,
                    email=form.cleaned_data["email"],
                    display_name=form.cleaned_data["display_name"],
                )
                record_request(request, subject=added, what="clinic admin", action="add admin")
        except onboarding.Refused as e:
            form.add_error("email", str(e).capitalize() + ".")
        else:
            return render(
                request,
                "care/clinic_admin_added.html",
                {
                    "added": added,
                    "link": onboarding.set_password_link(added, request),
                    "lifetime": onboarding.link_lifetime(),
                },
            )
    status = 400 if request.method == "POST" else 200
    return render(request, "care/clinic_admin_add.html", {"form": form}, status=status)


@clinic_admin_required
@require_POST
def second_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    """Remove a colleague's authenticator app and recovery codes: at their next page they set up
    a new one (the usual staff flow, kap.accounts.mfa)."""
    colleague = _colleague(request, user_id)
    if colleague.pk == request.user.pk:
        # (The page offers no such button.) Whoever holds this session must not be able to drop
        # the second factor that protects it: another admin does it.
        raise PermissionDenied("Your own second factor is reset by another admin of your clinic.")
    if request.POST.get("confirm") != "yes":
        messages.error(
            request,
            _(
                "Nothing was changed: tick the box to confirm that you checked it is really "
                "%(name)s asking."
            )
            % {"name": colleague},
        )
        return redirect(_back())
    with transaction.atomic():
        devices = list(devices_for_user(colleague, confirmed=None))
        for device in devices:
            device.delete()  # (a recovery-code device takes its codes with it)
        if devices:
            # Logged out everywhere: whoever holds one of their sessions (a stolen or forgotten
            # login, the very reason for a reset) must give the password before enrolling a new
            # authenticator.
            end_sessions(colleague)
            record_request(
                request, subject=colleague, what="second factor", action="reset second factor"
            )
    if devices:
        messages.success(
            request,
            _(
                "%(name)s's second factor is reset and they are logged out everywhere. After "
                "their next login they set up a new authenticator app and get new recovery codes."
            )
            % {"name": colleague},
        )
    else:
        messages.info(
            request,
            _("%(name)s has no second factor yet; there was nothing to reset.")
            % {"name": colleague},
        )
    return redirect(_back())
