"""A logout clears everything this site kept on the device (pages, the service worker, what
waits in the outbox); a login that only expired keeps what was written, to send it later."""

import time

import pytest
from django.urls import reverse

from kap.accounts.middleware import SessionTimeoutMiddleware
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
CLEAR = '"cache", "storage"'


def test_logging_out_clears_the_sites_caches_and_storage(logged_in):
    response = logged_in.post("/logout/")
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == CLEAR
    assert "Kap-Person" not in response


def test_deleting_the_account_clears_the_device_too(logged_in):
    response = logged_in.post(reverse("exports:delete"), {"password": PASSWORD})
    assert "Your account has been deleted" in response.content.decode()
    assert response["Clear-Site-Data"] == CLEAR


def test_a_login_that_expired_clears_nothing(logged_in):
    session = logged_in.session
    session[SessionTimeoutMiddleware.KEY_LAST] = int(time.time()) - 600 * 60
    session.save()
    response = logged_in.get("/account/")
    assert response.status_code == 302  # logged out, to the login page
    assert "Clear-Site-Data" not in response


def test_nothing_else_clears_the_device(logged_in):
    from django.test import Client

    assert "Clear-Site-Data" not in logged_in.get("/")
    visitor = Client()
    assert "Clear-Site-Data" not in visitor.get("/guide/")
    assert "Clear-Site-Data" not in visitor.post("/logout/")  # nobody was logged in
