"""Calendar feed and reminder settings (see kap.journal.reminders).

Included from kap.journal.urls at "", so every name lives in the "journal" namespace.
"""

from django.urls import path

from kap.accounts.decorators import client_required
from kap.journal import views_reminders as views

urlpatterns = [
    path("reminders/", client_required(views.reminder_settings), name="reminders"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar-feed"),
]
