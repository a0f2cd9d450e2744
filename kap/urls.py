from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from kap import views
from kap.accounts import mfa, views_language
from kap.accounts import views as accounts
from kap.accounts.decorators import second_factor_not_required
from kap.accounts.forms import LoginForm
from kap.content import views as content

# 400, 403 and 404 are Django's own views with our templates (which show nothing of the request);
# the 500 page renders without the request at all (kap.views.server_error).
handler500 = "kap.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("guide/", content.guide_index, name="guide-index"),
    path("guide/<slug:slug>/", content.guide_page, name="guide-page"),
    path("guide/<slug:pack>/<slug:slug>/", content.guide_pack_page, name="guide-pack-page"),
    path("crisis/", content.crisis, name="crisis"),
    path("style/", views.style_guide, name="style-guide"),
    path("signup/", accounts.signup, name="signup"),
    # The first-run set-up and password reset (kap/accounts/urls.py).
    path("", include("kap.accounts.urls")),
    path(
        "login/",
        login_not_required(views.LoginView.as_view(authentication_form=LoginForm)),
        name="login",
    ),
    # Logging out needs no second factor (kap.accounts.middleware.SecondFactorMiddleware).
    path(
        "logout/",
        second_factor_not_required(auth_views.LogoutView.as_view()),
        name="logout",
    ),
    path("account/password/", accounts.PasswordChange.as_view(), name="password_change"),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(
            template_name="accounts/password_change_done.html"
        ),
        name="password_change_done",
    ),
    path("account/", accounts.account, name="account"),
    path("language/", views_language.choose_language, name="language"),
    path("account/two-factor/", mfa.two_factor, name="two-factor"),
    path("", include("kap.journal.urls")),
    path("practices/", include("kap.practices.urls")),
    path("welcome/", include("kap.journal.urls_onboarding")),
    path("data/", include("kap.exports.urls")),
    path("care/translations/", include("kap.content.urls")),
    path("care/", include("kap.care.urls")),
    path("progress/", include("kap.progress.urls")),
    path("", include("kap.care.urls_sharing")),
    # /healthz and /readyz (answered first by kap.ops.middleware.ProbeMiddleware).
    path("", include("kap.ops.urls")),
    path("", include("kap.offline.urls")),  # /sw.js, /manifest.webmanifest, /offline/
]
