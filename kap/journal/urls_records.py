"""Sessions, insights, action steps, questions to bring, support map and timeline.

Included from kap.journal.urls, so every name lives in the "journal" namespace.
"""

from django.urls import path

from kap.accounts.decorators import clients_only
from kap.journal import views_records as views
from kap.journal import views_sessions

urlpatterns = clients_only(
    [
        path("sessions/", views.session_list, name="sessions"),
        path("sessions/new/", views.session_new, name="session-new"),
        path("sessions/<int:pk>/", views.session_detail, name="session"),
        path("sessions/<int:pk>/edit/", views.session_edit, name="session-edit"),
        path("sessions/<int:pk>/delete/", views_sessions.session_delete, name="session-delete"),
        path("sessions/<int:pk>/insights/", views.insight_add, name="insight-add"),
        path("insights/<int:pk>/edit/", views.insight_edit, name="insight-edit"),
        path("insights/<int:pk>/delete/", views.insight_delete, name="insight-delete"),
        path("steps/", views.step_list, name="steps"),
        path("steps/new/", views.step_new, name="step-new"),
        path("steps/<int:pk>/check-in/", views.step_check_in, name="step-check-in"),
        path("questions/", views.question_list, name="questions"),
        path("questions/new/", views.question_new, name="question-new"),
        path("questions/<int:pk>/asked/", views.question_asked, name="question-asked"),
        path("support/", views.support, name="support"),
        path("support/<int:pk>/delete/", views.support_delete, name="support-delete"),
        path("timeline/", views.timeline, name="timeline"),
    ]
)
