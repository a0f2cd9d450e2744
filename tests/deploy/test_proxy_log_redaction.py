"""The proxies' logs hold no secret from a path (issue 16, item 6).

Found by an audit: the app redacts the tokens of calendar feeds, invitations and password resets
in every log line of its own (kap.lib.logs.SECRET_PATHS), but deploy/nginx/kap.conf logged $uri
as it came and deploy/Caddyfile left out only the query string, so each proxy's access log kept
every token.

Every route of the URLconf whose path the app's log redacts is requested through each proxy,
started with its shipped configuration (tests/deploy/support.py) in front of stand-in app
servers, and neither what the app's log hides nor a query string may reach the proxy's logs:
access log, error log, Caddy's own log (where a failing app server is reported with the
request), over https and over plain http (calendar apps given a webcal:// link ask there first),
in any letter case, and (Caddy logs request headers) in the Referer of the next request.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kap.exports.import_checks import MAX_IMPORT_BYTES
from kap.lib.logs import SECRET_PATHS, redact
from tests.deploy.support import (
    DEPLOY,
    HOST,
    caddy_config,
    caddy_env,
    free_port,
    nginx_config,
    run_nginx,
    tool,
)
from tests.deploy.test_proxies import get, stop, wait_for_port
from tests.security.test_log_redaction import PARAMETER, routes

QUERY_SECRET = "QuerySekret7d1"


def secret_paths() -> list[tuple[str, list[str]]]:
    """(a path, the parts of it the app's log hides) for every route of the URLconf that
    SECRET_PATHS redacts: each parameter a distinct value, so that what is hidden can be told
    apart (ids are numbers, which the app's /invite/<id>/... redacts too)."""
    found = []
    for route in routes():
        values: list[str] = []

        def value(m: re.Match, values=values) -> str:
            n = len(values)
            values.append(f"{918273640 + n}" if m["converter"] == "int" else f"Sekret{n}Qz{n}")
            return values[-1]

        path = "/" + PARAMETER.sub(value, route)
        hidden = [v for v in values if v not in redact(path)]
        if hidden:
            found.append((path, hidden))
    # The calendar feed, the invitation and the password reset, at least.
    assert {p.split("/")[1] for p, _ in found} >= {"calendar", "invite", "reset"}, found
    assert all(SECRET_PATHS.search(p) for p, _ in found)
    return found


def requested(path: str) -> list[tuple[str, str]]:
    """What is sent for one secret path: (path, hidden part) as the app links it, the same in
    capitals (a mistyped link is a secret too), and with a query string."""
    return [(path, path), (path.upper(), path.upper()), (f"{path}?token={QUERY_SECRET}", path)]


def assert_nothing_secret(log: str, secrets: list[tuple[str, list[str]]], where: str) -> None:
    assert log.strip(), f"nothing was written to {where}"
    for path, hidden in secrets:
        for part in hidden:
            assert part not in log and part.upper() not in log, (where, path, part)
    assert QUERY_SECRET not in log, where


class AppServer(ThreadingHTTPServer):
    """A stand-in app server: answers every GET with 200, or, once `broken`, closes the
    connection without an answer (the proxy then reports a failed request)."""

    daemon_threads = True

    def __init__(self):
        self.broken = False
        super().__init__(("127.0.0.1", 0), _Answer)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.server.broken:  # type: ignore[attr-defined]
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def app_servers():
    servers = [AppServer(), AppServer()]
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_nginx_logs_no_secret_from_a_path(tmp_path, app_servers):
    nginx = tool("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed (Debian package nginx): deploy/nginx/kap.conf not run")
    secrets = secret_paths()
    http_port, https_port = free_port(), free_port()
    config = nginx_config(tmp_path, [s.address for s in app_servers], (http_port, https_port))
    process = run_nginx(nginx, tmp_path, config)
    try:
        wait_for_port(https_port, process, "nginx")
        for path, _ in secrets:
            for sent, _ in requested(path):
                assert get(https_port, sent)[0] == 200
            assert get(http_port, path, tls=False)[0] == 301
        access_log = (tmp_path / "kap.access.log").read_text()
        # The path as the app's own log writes it: the same lines can be read side by side.
        for path, _ in secrets:
            assert f'"GET {redact(path)}" 200' in access_log
            assert f'"GET {redact(path.upper())}" 200' in access_log
            assert f'"GET {redact(path)}" 301' in access_log
        # Both app servers failing: nginx reports the failed requests (502 here, and which
        # servers it tried), never with their paths.
        for server in app_servers:
            server.broken = True
        for path, _ in secrets:
            assert get(https_port, path)[0] == 502
    finally:
        stop(process)
    access_log = (tmp_path / "kap.access.log").read_text()
    assert f'"GET {redact(secrets[0][0])}" 502' in access_log
    assert_nothing_secret(access_log, secrets, "nginx's access log")
    error_logs = "".join(p.read_text() for p in tmp_path.glob("*error.log"))
    for path, hidden in secrets:
        assert not any(part in error_logs for part in hidden), (path, error_logs[-2000:])


def caddy_entries(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_caddy_logs_no_secret_from_a_path(tmp_path, app_servers):
    caddy = tool("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian package caddy): deploy/Caddyfile not run")
    secrets = secret_paths()
    http_port, https_port = free_port(), free_port()
    access_log, caddy_log = tmp_path / "access.log", tmp_path / "caddy.log"
    caddyfile = caddy_config(
        tmp_path,
        [s.address for s in app_servers],
        (http_port, https_port),
        # The access log in a file of its own; Caddy's own log stays on standard error.
        {"output stderr": f"output file {access_log}", "lb_try_duration 5s": "lb_try_duration 1s"},
    )
    with caddy_log.open("w") as stderr:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=caddy_env(tmp_path),
        )
    try:
        wait_for_port(https_port, process, "caddy")
        for path, _ in secrets:
            for sent, _ in requested(path):
                assert get(https_port, sent)[0] == 200
            # The next page, asked from this one: its address comes as the Referer.
            referer = f"https://{HOST}{path}?token={QUERY_SECRET}"
            assert get(https_port, "/today/", {"Referer": referer})[0] == 200
            assert get(http_port, path, tls=False)[0] in (301, 308)
        for server in app_servers:
            server.broken = True
        for path, _ in secrets:
            assert get(https_port, path)[0] >= 500
    finally:
        stop(process)

    entries = caddy_entries(access_log.read_text())
    uris = {e["request"]["uri"] for e in entries}
    for path, _ in secrets:
        # Up to the route's word as sent, then "[redacted]" where the app's log has it.
        match = SECRET_PATHS.search(path)
        start = path[: match.start()] + "/" + (match[1] or match[2]) + "/[redacted]"
        assert any(uri.startswith(start) for uri in uris), (start, uris)
    assert any(e["request"]["headers"].get("Referer") for e in entries)
    assert_nothing_secret(access_log.read_text(), secrets, "Caddy's access log")
    errors = [e for e in caddy_entries(caddy_log.read_text()) if "request" in e]
    assert errors, "Caddy reported no failed request"
    assert_nothing_secret(caddy_log.read_text(), secrets, "Caddy's own log")


def test_the_proxies_let_an_export_to_import_reach_the_app_and_little_more():
    """The largest upload the app takes is an export to import: the proxies let a file just
    over the app's limit through, so the app says why it refuses it, and not much more."""
    nginx = re.search(r"client_max_body_size (\d+)m;", (DEPLOY / "nginx" / "kap.conf").read_text())
    caddy = re.search(r"max_size (\d+)MiB", (DEPLOY / "Caddyfile").read_text())
    for limit in (int(nginx[1]), int(caddy[1])):
        assert MAX_IMPORT_BYTES + 1024 * 1024 <= limit * 1024 * 1024 <= 1.5 * MAX_IMPORT_BYTES
