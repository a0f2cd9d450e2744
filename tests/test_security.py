"""Headers, cookies, sessions and login throttling: the promises a clinic will ask about."""

import time

import pytest
from django.test import override_settings

from kap.accounts.middleware import SessionTimeoutMiddleware
from tests.conftest import PASSWORD


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/guide/", "/login/", "/crisis/"])
def test_every_response_has_a_strict_content_security_policy(client, guide, url):
    response = client.get(url)
    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_scripts_carry_a_nonce_or_come_from_this_origin(logged_in):
    body = logged_in.get("/i/self-assessment/").content.decode()
    assert "<script>" not in body  # no inline script without a nonce
    assert 'src="/static/django_htmx/htmx-2.min.js"' in body


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000)
def test_https_responses_carry_hsts(client, guide):
    response = client.get("/guide/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_logged_in_pages_are_not_cached(logged_in, client, guide):
    assert logged_in.get("/").headers["Cache-Control"] == "no-store"
    client.logout()
    assert "no-store" not in client.get("/guide/").headers.get("Cache-Control", "")


@pytest.mark.django_db
def test_login_issues_a_new_session_key(client, client_user, guide):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    client.post("/login/", {"username": client_user.email, "password": PASSWORD})
    assert client.session.session_key != before


@pytest.mark.django_db
def test_a_logged_out_cookie_is_refused(client, client_user, guide):
    client.post("/login/", {"username": client_user.email, "password": PASSWORD})
    cookie = client.cookies["sessionid"].value
    client.post("/logout/")
    client.cookies["sessionid"] = cookie
    assert client.get("/account/").status_code == 302


@pytest.mark.django_db
def test_a_password_change_ends_other_sessions(client, client_user, guide, django_user_model):
    from django.test import Client

    other = Client()
    other.post("/login/", {"username": client_user.email, "password": PASSWORD})
    client.post("/login/", {"username": client_user.email, "password": PASSWORD})
    new = "a different quiet morning"
    client.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert client.get("/account/").status_code == 200
    assert other.get("/account/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("role, minutes", [("therapist", 31), ("admin", 31), ("client", 481)])
def test_an_idle_session_ends(client, make_user, guide, role, minutes):
    user = make_user(f"{role}@example.com", role=role)
    client.force_login(user)
    session = client.session
    session[SessionTimeoutMiddleware.KEY_LAST] = int(time.time()) - minutes * 60
    session.save()
    response = client.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/account/").status_code == 302  # really logged out


@pytest.mark.django_db
def test_an_active_client_session_continues(logged_in):
    session = logged_in.session
    session[SessionTimeoutMiddleware.KEY_LAST] = int(time.time()) - 29 * 60
    session.save()
    assert logged_in.get("/account/").status_code == 200


@pytest.mark.django_db
def test_sessions_have_an_absolute_cap(logged_in):
    session = logged_in.session
    session[SessionTimeoutMiddleware.KEY_START] = int(time.time()) - 13 * 3600
    session.save()
    assert logged_in.get("/account/").status_code == 302


@pytest.mark.django_db
def test_an_idle_timeout_during_an_autosave_answers_401_so_the_page_keeps_the_text(logged_in):
    session = logged_in.session
    session[SessionTimeoutMiddleware.KEY_LAST] = int(time.time()) - 600 * 60
    session.save()
    response = logged_in.post(
        "/i/self-assessment/autosave/", {"already-tried": "x"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 401


def test_session_cookies_are_httponly_and_samesite():
    from django.conf import settings

    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_HTTPONLY


@pytest.mark.django_db
def test_login_is_throttled_by_account_and_address_together(client, client_user, make_user, guide):
    for _ in range(5):
        client.post(
            "/login/", {"username": client_user.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.7"
        )
    locked = client.post(
        "/login/", {"username": client_user.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
    )
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    # The same account from another address, and another account behind the same address, are fine.
    assert (
        client.post(
            "/login/", {"username": client_user.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.8"
        ).status_code
        == 302
    )
    client.post("/logout/")
    colleague = make_user("colleague@example.com")
    assert (
        client.post(
            "/login/", {"username": colleague.email, "password": PASSWORD}, REMOTE_ADDR="10.0.0.7"
        ).status_code
        == 302
    )


@pytest.mark.django_db
def test_common_passwords_are_refused(client, guide):
    response = client.post(
        "/signup/",
        {"email": "a@example.com", "password1": "iloveyou123", "password2": "iloveyou123"},
    )
    assert "too common" in response.content.decode()


def test_the_production_settings_pass_djangos_deployment_checks(tmp_path):
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "KAP_DATA_DIR": str(tmp_path),
        "KAP_HTTPS": "True",
        "KAP_SECRET_KEY": secrets.token_urlsafe(60),
        "KAP_ALLOWED_HOSTS": "kap.example.org",
        "KAP_SMTP_HOST": "smtp.example.org",  # a clinic sends safety-alert e-mails
        "DJANGO_SETTINGS_MODULE": "kap.settings",
    }
    env.pop("KAP_DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    manage = Path(__file__).resolve().parents[1] / "manage.py"
    result = subprocess.run(
        [sys.executable, str(manage), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # and the session cookie carries the __Host- prefix there
    show = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert show.stdout.split() == ["__Host-kap-session", "True"]
