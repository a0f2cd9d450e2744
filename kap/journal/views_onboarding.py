"""The first steps after signing up: three short pages, each one skippable, then Today.

1. When is your next session? (a planned session in the journal, or nothing)
2. Would you like reminders? (the reminder settings: e-mail, a private calendar link)
3. What the app is, and is not.

Today sends a person here while their account's `onboarded_at` is empty, which only sign-up
leaves it (kap.accounts.models.User). The first of these pages to be shown fills it in: the steps
are offered once, and whoever leaves them half-way finds Today next time, not the steps again.
They stay at their addresses for whoever wants them later.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from kap.journal import reminders
from kap.journal.models import CalendarFeed, KapSession, ReminderPreference
from kap.lib.limits import EARLIEST_DATE, LATEST_DATE, check_date_range

STEPS = [
    ("welcome:session", gettext_lazy("Your next session")),
    ("welcome:reminders", gettext_lazy("Reminders")),
    ("welcome:about", gettext_lazy("What this app is")),
]


class NextSessionForm(forms.Form):
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Date and time of your next session"),
        required=False,
        widget=forms.DateTimeInput(
            attrs={
                "type": "datetime-local",
                "min": f"{EARLIEST_DATE:%Y-%m-%d}T00:00",
                "max": f"{LATEST_DATE:%Y-%m-%d}T23:59",
            },
            format="%Y-%m-%dT%H:%M",
        ),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=gettext_lazy(
            "If you know it. You can add or change sessions later, under Sessions."
        ),
        error_messages={"invalid": gettext_lazy("Give a date and a time, e.g. 2026-12-01 14:00.")},
        validators=[check_date_range],
    )

    def clean_starts_at(self):
        when = self.cleaned_data["starts_at"]
        if when is not None and when < timezone.now():
            raise forms.ValidationError(
                _("That time has passed. Give the date of your next session, or skip this step.")
            )
        return when


class RemindersForm(forms.Form):
    email = forms.BooleanField(
        label=gettext_lazy("Send me e-mail reminders"),
        required=False,
        help_text=gettext_lazy(
            "A short note the day before a session, or when something is ready for you. "
            "It never contains anything you have written."
        ),
    )
    calendar = forms.BooleanField(
        label=gettext_lazy("Make me a private calendar link"),
        required=False,
        help_text=gettext_lazy(
            "Your planned sessions, and the days after them, in your own calendar app. "
            "Neutral titles and dates only, never anything you have written."
        ),
    )

    def __init__(self, *args, email_available: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not email_available:
            del self.fields["email"]


def _offered(request: HttpRequest) -> None:
    """Mark the steps as offered (once): Today stops sending the person here."""
    user = request.user
    if user.onboarded_at is None:
        user.onboarded_at = timezone.now()
        user.save(update_fields=["onboarded_at"])


def _render(request: HttpRequest, template: str, number: int, context: dict, status=200):
    steps = [
        {"url": reverse(name), "title": title, "number": n, "current": n == number}
        for n, (name, title) in enumerate(STEPS, 1)
    ]
    nxt = reverse(STEPS[number][0]) if number < len(STEPS) else reverse("home")
    return render(
        request,
        template,
        {"steps": steps, "number": number, "of": len(STEPS), "next_url": nxt, **context},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def next_session(request: HttpRequest) -> HttpResponse:
    _offered(request)
    form = NextSessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if when := form.cleaned_data["starts_at"]:
            KapSession.objects.create(
                client=request.user, starts_at=when, status=KapSession.Status.PLANNED
            )
            messages.success(request, _("Your next session is in your journal."))
        return redirect("welcome:reminders")
    upcoming = (
        KapSession.objects.for_client(request.user)
        .filter(status=KapSession.Status.PLANNED, starts_at__gte=timezone.now())
        .order_by("starts_at")
        .first()
    )
    return _render(
        request,
        "accounts/onboarding_session.html",
        1,
        {"form": form, "upcoming": upcoming},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def reminder_choices(request: HttpRequest) -> HttpResponse:
    _offered(request)
    client = request.user
    email_available = bool(settings.SMTP_HOST)
    pref = ReminderPreference.objects.filter(client=client).first()
    has_feed = CalendarFeed.objects.filter(client=client).exists()
    initial = {"email": bool(pref and pref.email_enabled), "calendar": has_feed}
    form = RemindersForm(request.POST or None, initial=initial, email_available=email_available)
    if request.method == "POST" and form.is_valid():
        if "email" in form.fields:
            ReminderPreference.objects.update_or_create(
                client=client, defaults={"email_enabled": form.cleaned_data["email"]}
            )
        if form.cleaned_data["calendar"] and not has_feed:
            reminders.reset_feed(client=client)
            messages.success(
                request,
                _(
                    "Your private calendar link is ready. Add it to your calendar app from the "
                    "Reminders page, whenever suits you."
                ),
            )
        return redirect("welcome:about")
    return _render(
        request,
        "accounts/onboarding_reminders.html",
        2,
        {"form": form, "email_available": email_available, "has_feed": has_feed},
    )


@require_http_methods(["GET"])
def about(request: HttpRequest) -> HttpResponse:
    _offered(request)
    return _render(request, "accounts/onboarding_about.html", 3, {})
