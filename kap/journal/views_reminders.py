"""The reminders page (calendar address, e-mail settings) and the calendar feed itself.

The feed is the one page here without a login: calendar apps cannot log in. Its address holds a
long random token instead, matched by hash; an unknown or replaced token is a plain 404.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from kap.journal import reminders
from kap.journal.models import CalendarFeed, ReminderPreference
from kap.lib import links


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = ReminderPreference
        fields = ["include_clinician", "email_enabled"]
        help_texts = {
            "include_clinician": gettext_lazy(
                "Off by default: calendar apps often sync to other companies."
            ),
            "email_enabled": gettext_lazy(
                "A short note when a session is near, or something is ready for "
                "you. It never contains anything you have written."
            ),
        }

    def __init__(self, *args, email_available: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not email_available:
            email = self.fields["email_enabled"]
            email.disabled = True
            email.help_text = _(
                "E-mail is not set up here, so reminders come through the calendar."
            )


def reminder_settings(request: HttpRequest) -> HttpResponse:
    client = request.user
    pref = ReminderPreference.objects.filter(client=client).first() or ReminderPreference(
        client=client
    )
    email_available = bool(settings.SMTP_HOST)
    form = PreferenceForm(instance=pref, email_available=email_available)
    here = reverse("journal:reminders")
    if request.method == "POST":
        if "calendar-reset" in request.POST or "calendar-create" in request.POST:
            had_feed = CalendarFeed.objects.filter(client=client).exists()
            reminders.reset_feed(client=client)
            messages.success(
                request,
                _(
                    "Your calendar link is ready. The old link no longer works; add this one to "
                    "your calendar app instead."
                )
                if had_feed
                else _(
                    "Your calendar link is ready. Add it to your calendar app as a subscription."
                ),
            )
            return redirect(here + "#calendar")
        if "calendar-stop" in request.POST:
            reminders.stop_feed(client=client)
            messages.success(request, _("The calendar link is turned off and no longer works."))
            return redirect(here + "#calendar")
        form = PreferenceForm(request.POST, instance=pref, email_available=email_available)
        if form.is_valid():
            form.save()
            messages.success(request, _("Your reminder settings are saved."))
            return redirect(here + "#settings")
    feed = CalendarFeed.objects.filter(client=client).first()
    return render(
        request,
        "journal/reminders/reminders.html",
        {
            "feed": feed,
            "feed_url": reminders.feed_url(feed, request) if feed else "",
            "webcal_url": reminders.webcal_url(feed, request) if feed else "",
            "form": form,
            "email_available": email_available,
        },
    )


@login_not_required
@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    feed = reminders.feed_for_token(token)
    if feed is None:
        raise Http404("No such calendar.")
    reminders.mark_fetched(feed)
    # The events' links go back to the address the calendar app was given (kap.lib.links).
    ics = reminders.calendar_ics(feed.client, base_url=links.base_url(request))
    response = HttpResponse(ics, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="kap-companion.ics"'
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
