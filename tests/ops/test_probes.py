"""/healthz and /readyz as a load balancer sees them: no login, no data, no traceback, and a probe
by IP address answered instead of refused by the Host check."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.db.utils import OperationalError
from django.utils import timezone

from kap.ops import views
from kap.ops.models import Heartbeat, KeyCanary
from kap.ops.worker import beat

PROBE_HOST = "10.0.0.5"


@pytest.fixture(autouse=True)
def fresh_checks():
    views.forget_cached_checks()
    yield
    views.forget_cached_checks()


def probe(client, path: str, **headers):
    return client.get(path, HTTP_HOST=PROBE_HOST, **headers)


def test_healthz_answers_ok_to_a_probe_by_ip_without_login(client, db):
    response = probe(client, "/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert response["Content-Type"].startswith("text/plain")
    assert response["Cache-Control"] == "no-store"
    assert not response.cookies  # no session, no CSRF cookie


def test_other_paths_by_ip_are_still_refused(client, db):
    """Only the exact probe paths skip the Host check."""
    for path in ("/", "/healthz/", "/healthz/x", "/readyz/", "/login/"):
        assert probe(client, path).status_code == 400, path


def test_probes_are_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    beat()
    assert probe(client, "/healthz").status_code == 200
    assert probe(client, "/readyz").status_code == 200
    assert client.get("/guide/", HTTP_HOST="localhost").status_code == 301  # the rest is


def test_readyz_is_ok_with_a_fresh_heartbeat(client, db):
    beat()
    response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (200, b"ok\n")


def test_readyz_fails_without_a_worker_heartbeat_or_with_a_stale_one(client, db, settings):
    response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: worker\n")

    beat()
    stale = timezone.now() - timedelta(minutes=settings.WORKER_STALE_MINUTES + 1)
    Heartbeat.objects.update(beat_at=stale)
    response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: worker\n")

    # A site without a worker (or probing app servers only) leaves the check out.
    settings.WORKER_STALE_MINUTES = 0
    assert probe(client, "/readyz").status_code == 200


def test_a_failing_readyz_is_logged_as_a_warning_not_an_error(client, db, caplog):
    """A monitor polls /readyz: a stopped worker must not fill the log with ERROR lines."""
    with caplog.at_level(logging.INFO):
        assert probe(client, "/readyz").status_code == 503
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Service Unavailable: /readyz (not ready: worker)"


def test_readyz_fails_while_a_migration_is_not_applied(client, db):
    beat()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'ops' AND name = '0002_heartbeat_status'"
        )
    response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: migrations\n")


def test_readyz_answer_about_migrations_is_kept_briefly(client, db):
    beat()
    assert probe(client, "/readyz").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'ops' AND name = '0002_heartbeat_status'"
        )
    assert probe(client, "/readyz").status_code == 200  # cached
    views.forget_cached_checks()
    assert probe(client, "/readyz").status_code == 503


def test_readyz_fails_on_a_server_without_a_key_the_data_uses(client, db):
    """A key some server made current (it has a check value) but this server lacks."""
    beat()
    KeyCanary.objects.create(key_id="knewest01", value="enc1:knewest01:AAAA")
    response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: keys\n")


def test_readyz_names_the_database_and_nothing_more_when_it_is_down(client, db, monkeypatch):
    def down():
        raise OperationalError('connection to server at "db.internal" failed: password')

    with monkeypatch.context() as patched:
        patched.setattr(connection, "ensure_connection", down)
        response = probe(client, "/readyz")
    assert (response.status_code, response.content) == (503, b"not ready: database\n")


def test_probes_show_no_data_to_anyone(client, db, make_user):
    """Whoever asks, logged in or not, the body is the same few words."""
    beat()
    user = make_user("alex@example.com")
    client.force_login(user)
    assert client.get("/readyz").content == b"ok\n"
    assert client.get("/healthz").content == b"ok\n"
    assert client.post("/readyz").status_code == 405
