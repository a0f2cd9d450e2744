"""No log line holds a secret from a path: invitation codes, calendar-feed tokens, password-reset
links. Read where an operator reads them: what the configured handlers wrote (the run's log file,
tests/pytest_env.py), and the standard error of a process started as the app starts, with
KAP_DEBUG on (Django then adds handlers of its own) and JSON lines."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from kap.lib.logs import RedactingFilter, redact
from tests.care.conftest import verify
from tests.children import ROOT, child_env

# Route parameters that carry a secret, and the ones that do not (ids, slugs of public pages).
# A new parameter name fails the first test until it is put in one list or the other.
SECRET_PARAMETERS = {"code", "token", "uidb64"}
PUBLIC_PARAMETERS = {
    "pk",
    "client_id",
    "user_id",
    "invite_id",
    "event_id",
    "upload_id",
    "question_id",
    "key",
    "slug",
    "pack",
}
PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def routes(patterns=None, prefix: str = "") -> list[str]:
    """Every route of the URLconf, as the text of its path ("invite/<str:code>/")."""
    found = []
    for p in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(p, URLResolver):
            found += routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            found.append(prefix + str(p.pattern))
    return found


def sample(route: str) -> str:
    """A path of the route, each secret parameter a distinct recognisable value."""

    def value(m: re.Match) -> str:
        if m["name"] in SECRET_PARAMETERS:
            return f"Sekret{m['name'].title()}X9q"
        return "123" if m["converter"] == "int" else "some-page"

    return "/" + PARAMETER.sub(value, route)


def test_every_route_with_a_secret_in_its_path_is_redacted():
    all_routes = routes()
    names = {m["name"] for route in all_routes for m in PARAMETER.finditer(route)}
    assert names <= SECRET_PARAMETERS | PUBLIC_PARAMETERS, (
        f"route parameters not yet classed as secret or public: {names - SECRET_PARAMETERS - PUBLIC_PARAMETERS}"
    )
    secret_routes = [
        r for r in all_routes if any(m["name"] in SECRET_PARAMETERS for m in PARAMETER.finditer(r))
    ]
    # The invitation, the calendar feed and the password reset, at least.
    assert len(secret_routes) >= 3, secret_routes
    for route in secret_routes:
        path = sample(route)
        for text in (path, f'"GET {path}?a=b HTTP/1.1" 404', f"http://127.0.0.1:8000{path}"):
            assert "Sekret" not in redact(text), (route, redact(text))
            assert "[redacted]" in redact(text)
        assert "Sekret" not in redact(path.upper())  # a mistyped /INVITE/<code>/ too
    # What is not a secret stays readable.
    for path in ("/guide/first-session/", "/reset/done/", "/invite/", "/care/clients/12/"):
        assert redact(path) == path


def test_the_shapes_an_operator_reads():
    assert redact("Not Found: /invite/calm-river-4821/") == "Not Found: /invite/[redacted]/"
    assert redact("/calendar/AbC-123_xyz.ics") == "/calendar/[redacted]"
    assert (
        redact("GET /reset/MQ/c4k9-1a2b3c/ HTTP/1.1")
        == "GET /reset/[redacted]/[redacted]/ HTTP/1.1"
    )
    assert redact(redact("/reset/MQ/set-password/")) == "/reset/[redacted]/[redacted]/"


@pytest.fixture
def written():
    """What the configured handlers write from now on, read back from the run's log file (the
    file handler of settings.LOGGING, with its filters and formatter as configured)."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    assert files, "tests/pytest_env.py sets KAP_LOG_FILE: the root logger has a file handler"
    path = Path(files[0].baseFilename)
    start = path.stat().st_size if path.exists() else 0

    def read() -> str:
        for handler in files:
            handler.flush()
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            return f.read()

    return read


@pytest.fixture
def records():
    """The records as a handler added after the configured ones receives them."""
    kept: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            kept.append(record)

    handler = Keep()
    root = logging.getLogger()
    root.addHandler(handler)
    yield kept
    root.removeHandler(handler)


def test_a_forbidden_or_unknown_secret_url_leaves_no_secret_in_the_log(
    client, make_user, guide, written, records
):
    from kap.accounts.models import Clinic
    from kap.care.services import create_invite

    clinic = Clinic.objects.create(name="Harbour Clinic")
    therapist = make_user("rivera@harbour.example", role="therapist", clinic=clinic)
    code = create_invite(sender=therapist, kind="client", email="alex@example.com", days=7)

    # A therapist opening a client's invitation: a 403 that Django logs with the path.
    staff = verify(Client(), therapist)
    assert staff.get(f"/invite/{code}/").status_code == 403
    # An unknown invitation, a POST without its CSRF cookie, a bad calendar token.
    assert client.get("/invite/UnknownCodeZ7/").status_code == 404
    assert Client(enforce_csrf_checks=True).post(f"/invite/{code}/").status_code == 403
    assert client.get("/calendar/BadCalendarTokenQ3.ics").status_code == 404
    # A reset link (Django logs none; an exception message may), a view refusing with
    # PermissionDenied, and runserver's access line.
    request = RequestFactory().get("/reset/MQ/ResetTokenW5-abc123/")
    request.COOKIES  # noqa: B018  (read, as a view would: the copy on the record must not keep them)
    logging.getLogger("django.request").warning(
        "Forbidden (Permission denied): %s",
        request.path,
        extra={"status_code": 403, "request": request},
    )
    try:
        raise ValueError(f"no such invitation: /invite/{code}/")
    except ValueError:
        logging.getLogger("kap.care").exception("Could not open %s", "/calendar/FeedTokenK8.ics")
    logging.getLogger("django.server").info('"%s" %s %s', f"GET /invite/{code}/ HTTP/1.1", 403, 9)

    text = written()
    for secret in (code, "UnknownCodeZ7", "BadCalendarTokenQ3", "ResetTokenW5", "FeedTokenK8"):
        assert secret not in text, (secret, text)
    assert "Forbidden: /invite/[redacted]/" in text
    assert "Not Found: /invite/[redacted]/" in text
    assert "Forbidden (CSRF cookie not set.): /invite/[redacted]/" in text
    assert "Not Found: /calendar/[redacted]" in text
    assert "Forbidden (Permission denied): /reset/[redacted]/[redacted]/" in text
    assert "ValueError: no such invitation: /invite/[redacted]/" in text
    assert '"GET /invite/[redacted]/ HTTP/1.1" 403' in text

    # The records themselves, as any handler after ours gets them: no secret left on them.
    forbidden = [r for r in records if r.getMessage().startswith("Forbidden (Permission")]
    assert forbidden and forbidden[0].args == ()
    copy = forbidden[0].request
    assert copy.path == "/reset/[redacted]/[redacted]/" and "ResetTokenW5" not in repr(copy)
    assert "ResetTokenW5" not in copy.get_full_path() + copy.build_absolute_uri()
    assert "ResetTokenW5" not in copy.META["PATH_INFO"] and "HTTP_COOKIE" not in copy.META
    assert copy.COOKIES == {}
    assert request.path == "/reset/MQ/ResetTokenW5-abc123/"  # the request itself is untouched
    for record in records:
        assert code not in record.getMessage() and "Token" not in (record.exc_text or "")


def test_the_filter_leaves_a_record_it_cannot_render_to_its_handler():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", ("one",), None)
    assert RedactingFilter().filter(record) is True
    assert record.args == ("one",)  # the handler reports the bad record, as logging does


CHILD = r"""
import logging
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
Client().get("/invite/DebugCodeA1/")
Client().get("/calendar/DebugTokenB2.ics")
Client(enforce_csrf_checks=True).post("/invite/DebugCodeC3/")
logging.getLogger("django.request").warning("Forbidden (Permission denied): %s", "/invite/DebugCodeD4/")
logging.getLogger("django.server").info('"%s" %s %s', "GET /reset/MQ/DebugTokenE5/ HTTP/1.1", 200, 9)
logging.getLogger("django.security.csrf").warning("Forbidden: /calendar/DebugTokenF6.ics")
print("done", flush=True)
"""


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_with_debug_on_no_handler_writes_a_secret(set_up_data_dir, log_format):
    env = child_env(set_up_data_dir, KAP_DEBUG="True", KAP_LOG_FORMAT=log_format)
    env.pop("KAP_LOG_FILE", None)  # everything to standard error, read here
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]
    err = result.stderr
    for secret in ("CodeA1", "TokenB2", "CodeC3", "CodeD4", "TokenE5", "TokenF6"):
        assert secret not in err, (secret, err)
    assert err.count("/invite/[redacted]/") >= 3, err
    assert "/calendar/[redacted]" in err and "/reset/[redacted]/[redacted]/" in err, err
