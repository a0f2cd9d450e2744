from django.urls import include, path

from kap.accounts.decorators import clients_only
from kap.journal import views

app_name = "journal"
urlpatterns = [
    path("today/", views.today, name="today"),
    path("check-ins/", views.instrument_list, name="instruments"),
    path("i/<slug:key>/", views.instrument, name="instrument"),
    path("i/<slug:key>/autosave/", views.autosave, name="autosave"),
    path("r/<int:pk>/", views.response_detail, name="response"),
    path("r/<int:pk>/edit/", views.response_edit, name="response-edit"),
]
# (The journal's own pages, above and in urls_records, are a client's; urls_reminders decides
# for itself: its calendar feed answers to a token, not to a login.)
urlpatterns = clients_only(urlpatterns) + [
    path("", include("kap.journal.urls_records")),
    path("", include("kap.journal.urls_reminders")),
]
