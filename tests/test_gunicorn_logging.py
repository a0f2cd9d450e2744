"""Secrets in paths (calendar tokens, invitation codes) never reach the access log."""

from kap.lib.gunicorn_logging import redact


def test_calendar_tokens_and_invite_codes_are_redacted():
    assert redact("/calendar/AbC-123_xyz.ics") == "/calendar/[redacted]"
    assert redact("/invite/s3cr3t/") == "/invite/[redacted]/"
    assert redact("/guide/first-session/") == "/guide/first-session/"


def test_the_access_log_line_has_no_token():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from kap.lib.gunicorn_logging import RedactingLogger

    logger = RedactingLogger(Config())
    req = SimpleNamespace(
        headers=[],
        method="GET",
        path="/calendar/TOKEN123.ics",
        query="a=b",
        uri="/calendar/TOKEN123.ics?a=b",
        version=(1, 1),
    )
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[], response_length=10)
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/calendar/TOKEN123.ics?a=b",
        "PATH_INFO": "/calendar/TOKEN123.ics",
        "QUERY_STRING": "q=my+secret+words",
        "HTTP_REFERER": "http://127.0.0.1/invite/CODE999/",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    from datetime import timedelta

    atoms = logger.atoms(resp, req, environ, timedelta(milliseconds=3))
    # The standard atoms any access-log format may use (headers and environ atoms are only
    # logged when a format names them; ours does not).
    line = " ".join(str(atoms[k]) for k in "hlutrsmUqHbBfaTDMLp")
    for secret in ("TOKEN123", "CODE999", "secret"):
        assert secret not in line
