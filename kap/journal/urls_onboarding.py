"""The first steps after signing up (kap.journal.views_onboarding), at /welcome/: clients only."""

from django.urls import path

from kap.accounts.decorators import clients_only
from kap.journal import views_onboarding as views

app_name = "welcome"
urlpatterns = clients_only(
    [
        path("", views.next_session, name="session"),
        path("reminders/", views.reminder_choices, name="reminders"),
        path("about/", views.about, name="about"),
    ]
)
