"""The log as an operator reads it: one stream, JSON lines on request, a request id in each line
of a request (the proxy's, or a new one), the client's address from the trusted proxy, gunicorn's
access log in the same stream; no query strings, no tokens."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from kap.lib import logs
from kap.lib.gunicorn_logging import RedactingLogger
from tests.children import KAP, ROOT, child_env


@pytest.fixture
def json_lines():
    """Every record of the test, formatted as the app's handlers format them with JSON on."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def parsed(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def test_a_request_logs_json_lines_with_its_id_and_no_token(client, db, json_lines):
    response = client.get("/calendar/SECRETTOKEN123.ics?search=private+words")
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32
    lines = parsed(json_lines)
    mine = [line for line in lines if line["request_id"] == request_id]
    assert mine, lines  # the 404's warning carries the request's id
    text = "\n".join(json_lines)
    assert "SECRETTOKEN123" not in text and "private" not in text and "search=" not in text
    assert any("/calendar/[redacted]" in line["message"] for line in mine)


def test_the_proxys_request_id_is_kept_when_well_formed(client, db):
    given = "3f2a9c1e-77b0-4c1d-9e55-0a1b2c3d4e5f"
    assert client.get("/crisis/", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    for bad in ("short", "x" * 200, "has space in it", 'quote"injection', "new\nline-here"):
        got = client.get("/crisis/", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert got != bad and len(got) == 32


def test_each_request_gets_its_own_id_and_none_leaks_out_of_it(client, db):
    first = client.get("/crisis/")["X-Request-ID"]
    second = client.get("/crisis/")["X-Request-ID"]
    assert first != second
    assert logs.current_request_id() == "-"


def test_the_client_address_comes_from_the_trusted_proxy_only(settings):
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    settings.TRUSTED_PROXY = False
    assert logs.client_address(meta) == "10.0.0.2"
    settings.TRUSTED_PROXY = True
    assert logs.client_address(meta) == "203.0.113.9"  # the address the proxy added


def test_the_plain_format_carries_the_request_id_and_redacts():
    formatter = logs.PlainFormatter()
    record = logging.LogRecord(
        "kap", logging.INFO, __file__, 1, "GET %s", ("/invite/CODE99/",), None
    )
    with logs.request_context("abcdef123456", "203.0.113.9"):
        logs.RequestContextFilter().filter(record)
    line = formatter.format(record)
    assert "[abcdef123456]" in line and "CODE99" not in line and "/invite/[redacted]/" in line


def test_the_access_log_goes_through_the_app_logging_as_json(json_lines, settings):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    settings.TRUSTED_PROXY = True
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = RedactingLogger(cfg)
    assert logger.access_log.propagate and not logger.access_log.handlers
    req = SimpleNamespace(headers=[("COOKIE", "sessionid=s3cr3t")], method="GET")
    resp = SimpleNamespace(
        status="200 OK", sent=10, headers=[("X-Request-ID", "feedbeef1234")], response_length=10
    )
    environ = {
        "REMOTE_ADDR": "10.0.0.2",
        "HTTP_X_FORWARDED_FOR": "203.0.113.9",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/calendar/TOKEN123.ics?a=b",
        "PATH_INFO": "/calendar/TOKEN123.ics",
        "QUERY_STRING": "a=b",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    logger.access(resp, req, environ, timedelta(milliseconds=7))
    (line,) = [x for x in parsed(json_lines) if x["logger"] == "gunicorn.access"]
    assert line["request_id"] == "feedbeef1234" and line["client"] == "203.0.113.9"
    assert line["path"] == "/calendar/[redacted]" and line["status"] == 200
    assert line["duration_ms"] == 7
    assert "TOKEN123" not in json_lines[-1] and "a=b" not in json_lines[-1]
    assert "s3cr3t" not in json_lines[-1]


# --- The real thing: `kap serve` -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, **headers) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_kap_serve_writes_one_stream_of_json_lines(set_up_data_dir, tmp_path):
    port = free_port()
    log_file = tmp_path / "serve.log"
    env = child_env(
        set_up_data_dir,
        KAP_LOG_FORMAT="json",
        KAP_TRUSTED_PROXY="True",
        KAP_WORKERS="1",
        KAP_LOG_FILE=str(tmp_path / "also.log"),
    )
    with open(log_file, "w") as out:
        proc = subprocess.Popen(
            [str(KAP), "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if get(port, "/healthz", Host="10.0.0.5")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.3)
        status, headers = get(
            port,
            "/calendar/TOKEN777.ics?feed=secret-words",
            **{"X-Request-ID": "abcdef0123456789", "X-Forwarded-For": "203.0.113.9"},
        )
        assert status == 404 and headers["X-Request-ID"] == "abcdef0123456789"
        time.sleep(0.5)  # the access line is written after the response
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    output = log_file.read_text()
    lines = [x for x in output.splitlines() if x.startswith("{")]
    records = [json.loads(x) for x in lines]
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    mine = [r for r in access if r.get("request_id") == "abcdef0123456789"]
    assert mine, output[-3000:]
    assert mine[0]["client"] == "203.0.113.9" and mine[0]["path"] == "/calendar/[redacted]"
    assert mine[0]["status"] == 404
    # The app's own lines of that request carry the same id.
    assert any(
        r["logger"] == "django.request" and r["request_id"] == "abcdef0123456789" for r in records
    )
    assert any(r["logger"] == "gunicorn.error" for r in records)  # gunicorn's own, as JSON
    for secret in ("TOKEN777", "secret-words", "feed="):
        assert secret not in output
    # Every line from the server is JSON (the banner printed before it starts aside).
    started = output.index(lines[0])
    stray = [x for x in output[started:].splitlines() if x.strip() and not x.startswith("{")]
    assert stray == [], stray
