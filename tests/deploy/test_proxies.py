"""deploy/nginx/kap.conf and deploy/Caddyfile, run: each proxy, started with its configuration (only
the certificate, the ports and the app servers' addresses changed), in front of two stand-in app
servers that note every request they get. What the app relies on: X-Forwarded-Proto, the client's
address in X-Forwarded-For whatever the client sent, a request id the app accepts, the public Host,
both servers used, a server that fails left out, and (Caddy) /healthz deciding which servers are
used."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kap.lib.logs import REQUEST_ID
from tests.deploy.support import (
    HOST,
    caddy_config,
    caddy_env,
    free_port,
    nginx_config,
    run_nginx,
    tool,
)

SPOOFED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}


class StandIn(ThreadingHTTPServer):
    """An app server that answers with its name and notes each request (path and headers);
    /healthz answers 503 while `healthy` is False."""

    daemon_threads = True

    def __init__(self, name: str):
        self.name, self.healthy, self.seen = name, True, []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def requests(self, path: str | None = None) -> list[dict]:
        return [r for r in list(self.seen) if path is None or r["path"] == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        server: StandIn = self.server  # type: ignore[assignment]
        server.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        ok = self.path != "/healthz" or server.healthy
        body = (server.name if ok else "not ready").encode()
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_ins():
    servers = [StandIn("A"), StandIn("B")]
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} stopped: {process.communicate()[1][-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not start listening on {port}")


def get(port: int, path: str = "/", headers: dict | None = None, tls: bool = True):
    """A request as a browser sends it to https://kap.example.org (SNI and Host), to 127.0.0.1."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.connect()
        conn.sock = context.wrap_socket(conn.sock, server_hostname=HOST)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": HOST, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read().decode()
    finally:
        conn.close()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def assert_forwarded_as_the_app_needs(request: dict) -> None:
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["host"] == HOST
    assert headers["x-forwarded-proto"] == "https"
    # The client's own address, not what the client claimed.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    # A fresh id, of a form the app takes (kap.lib.logs), not the client's.
    assert headers["x-request-id"] != "client-chosen-id"
    assert REQUEST_ID.match(headers["x-request-id"])


def test_nginx_forwards_to_both_app_servers_as_the_app_needs(tmp_path, stand_ins):
    nginx = tool("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed (Debian package nginx): deploy/nginx/kap.conf not run")
    a, b = stand_ins
    http_port, https_port = free_port(), free_port()
    config = nginx_config(tmp_path, [a.address, b.address], (http_port, https_port))
    process = run_nginx(nginx, tmp_path, config)
    try:
        wait_for_port(https_port, process, "nginx")
        status, _, _ = get(https_port, "/today/", {**SPOOFED, "X-Request-ID": "client-chosen-id"})
        assert status == 200
        (first,) = a.requests() + b.requests()
        assert first["path"] == "/today/"
        assert_forwarded_as_the_app_needs(first)

        # Both servers serve; when one is down, the other answers every request.
        answers = {get(https_port)[2] for _ in range(6)}
        assert answers == {"A", "B"}
        b.shutdown()
        b.server_close()
        assert [get(https_port)[:1] for _ in range(6)] == [(200,)] * 6

        # Plain http is sent to https.
        status, location, _ = get(http_port, "/today/?x=1", tls=False)
        assert (status, location) == (301, f"https://{HOST}/today/?x=1")

        # No query string in the proxy's log (it may hold search words); tokens in paths:
        # tests/deploy/test_proxy_log_redaction.py.
        get(https_port, "/today/?q=do-not-log-me")
        log = (tmp_path / "kap.access.log").read_text()
        assert "/today/" in log and "do-not-log-me" not in log
    finally:
        stop(process)


def test_caddy_forwards_as_the_app_needs_and_leaves_out_a_server_failing_healthz(
    tmp_path, stand_ins
):
    caddy = tool("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian package caddy): deploy/Caddyfile not run")
    a, b = stand_ins
    b.healthy = False
    http_port, https_port = free_port(), free_port()
    caddyfile = caddy_config(
        tmp_path,
        [a.address, b.address],
        (http_port, https_port),
        {"health_interval 10s": "health_interval 300ms"},
    )
    process = subprocess.Popen(
        [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=caddy_env(tmp_path),
    )
    try:
        wait_for_port(https_port, process, "caddy")
        # The health checks ask /healthz as a visitor's request would reach the app.
        deadline = time.monotonic() + 10
        while not (a.requests("/healthz") and b.requests("/healthz")):
            assert time.monotonic() < deadline, "Caddy asked no /healthz"
            time.sleep(0.05)
        probe = {k.lower(): v for k, v in b.requests("/healthz")[0]["headers"].items()}
        assert (probe["host"], probe["x-forwarded-proto"]) == (HOST, "https")
        time.sleep(0.3)

        # B answers /healthz with 503: everything goes to A.
        status, _, body = get(
            https_port, "/today/", {**SPOOFED, "X-Request-ID": "client-chosen-id"}
        )
        assert (status, body) == (200, "A")
        (first,) = [r for r in a.requests() if r["path"] == "/today/"]
        assert_forwarded_as_the_app_needs(first)
        assert {get(https_port)[2] for _ in range(6)} == {"A"}

        # B is healthy again: after its next check, both serve.
        b.healthy = True
        checks = len(b.requests("/healthz"))
        deadline = time.monotonic() + 10
        while len(b.requests("/healthz")) <= checks:
            assert time.monotonic() < deadline, "Caddy stopped asking /healthz"
            time.sleep(0.05)
        time.sleep(0.1)
        assert {get(https_port)[2] for _ in range(6)} == {"A", "B"}
    finally:
        stop(process)
