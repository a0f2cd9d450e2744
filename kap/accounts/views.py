from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from kap.accounts.forms import AccountForm, SignupForm
from kap.accounts.models import Role, User
from kap.content.crisis import region_choices


@login_not_required
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if not settings.OPEN_SIGNUP:
        raise Http404("Sign-up is closed; ask your clinic for an invitation.")
    # Sign-up makes clients only: the first admin comes from /setup/ (a code from the server's
    # console) or `kap clinic create`, never from a public form.
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(
            form.cleaned_data["email"],
            form.cleaned_data["password1"],
            display_name=form.cleaned_data["display_name"],
            role=Role.CLIENT,
            time_zone=form.cleaned_data["time_zone"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome. Your account is ready.")
        return redirect(_safe_next(request) or "home")
    return render(request, "accounts/signup.html", {"form": form, "next": _safe_next(request)})


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
        messages.success(request, "Your settings are saved.")
        return redirect("account")
    return render(request, "accounts/account.html", {"form": form})
