"""Pages for people without a session: the first-run set-up and password reset."""

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from kap.accounts import views_reset, views_setup

urlpatterns = [
    path("setup/", views_setup.setup, name="setup"),
    path(
        "password-reset/",
        login_not_required(views_reset.PasswordReset.as_view()),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        login_not_required(views_reset.PasswordResetDone.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        login_not_required(views_reset.PasswordResetConfirm.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        login_not_required(views_reset.PasswordResetComplete.as_view()),
        name="password_reset_complete",
    ),
]
