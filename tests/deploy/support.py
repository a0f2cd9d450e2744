"""Shared by the deploy tests: the README's sections and shell blocks, the `kap` command's
subcommands, throwaway PostgreSQL databases, and the proxies' configurations made runnable here."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import tls
from tests.children import KAP, ROOT

README = ROOT / "README.md"
DEPLOY = ROOT / "deploy"


def readme_section(title_start: str, level: int = 2) -> str:
    """The README's section whose heading starts with `title_start`, up to the next heading of
    the same level or higher (a `#` line inside a code block is no heading)."""
    lines = README.read_text().splitlines(keepends=True)
    out: list[str] = []
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
        heading = re.match(r"(#+) ", line) if not in_code else None
        if out and heading and len(heading.group(1)) <= level:
            break
        starts = heading and len(heading.group(1)) == level
        if out or (starts and line[level + 1 :].startswith(title_start)):
            out.append(line)
    assert out, f"README has no section {'#' * level} {title_start}"
    return "".join(out)


def shell_lines(markdown: str) -> list[str]:
    """The command lines of the ```sh blocks: comments and blank lines left out, lines continued
    with a backslash joined."""
    lines: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL):
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            lines.append(pending + line)
            pending = ""
    return lines


def kap_has(*words: str) -> bool:
    """Whether `kap WORDS...` is a command of today's `kap` (its --help answers, not an
    "invalid choice")."""
    result = subprocess.run(
        [str(KAP), *words, "--help"], capture_output=True, text=True, timeout=120
    )
    return result.returncode == 0


def tool(name: str) -> str | None:
    """The path of a Debian tool, looked for where Debian puts it even when not on PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_server() -> dict | None:
    """How to reach the PostgreSQL server the tests use as its superuser: DATABASE_URL's when it
    is PostgreSQL, else 127.0.0.1:5432 as postgres. None when none answers."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import dj_database_url

        s = dj_database_url.parse(url)
        conninfo = {
            "host": s.get("HOST") or "127.0.0.1",
            "port": int(s.get("PORT") or 5432),
            "user": s.get("USER") or "postgres",
            "password": s.get("PASSWORD") or None,
        }
    else:
        conninfo = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": None}
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **conninfo).close()
    except psycopg.OperationalError:
        return None
    return conninfo


def postgres_url(conninfo: dict, dbname: str) -> str:
    from urllib.parse import quote

    auth = quote(conninfo["user"], safe="")
    if conninfo["password"]:
        auth += ":" + quote(conninfo["password"], safe="")
    return f"postgres://{auth}@{conninfo['host']}:{conninfo['port']}/{dbname}"


def admin_sql(conninfo: dict, sql: str, params=None, dbname: str = "postgres") -> list[tuple]:
    import psycopg

    with psycopg.connect(dbname=dbname, autocommit=True, **conninfo) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@contextmanager
def throwaway_names(conninfo: dict, prefix: str) -> Iterator[str]:
    """A fresh name for a database and a role, both dropped afterwards if they were made."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        admin_sql(conninfo, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_sql(conninfo, f'DROP ROLE IF EXISTS "{name}"')


# --- The proxies -----------------------------------------------------------------------------

HOST = "kap.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    return tls.self_signed(tmp_path, HOST)


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"the configuration no longer has {old!r}: update this test"
    return text.replace(old, new)


def nginx_config(
    tmp_path: Path, upstreams: list[str] | None, ports: tuple[int, int] | None
) -> Path:
    """deploy/nginx/kap.conf as a site of a minimal nginx.conf in tmp_path: a self-signed
    certificate, logs in tmp_path, IPv4 listening on free ports (`nginx -t` binds them too) and,
    if given, the stand-ins in place of the two app servers."""
    http_port, https_port = ports or (free_port(), free_port())
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx" / "kap.conf").read_text()
    site = replace(site, f"/etc/letsencrypt/live/{HOST}/fullchain.pem", str(cert))
    site = replace(site, f"/etc/letsencrypt/live/{HOST}/privkey.pem", str(key))
    site = replace(site, "/var/log/nginx/", f"{tmp_path}/")
    site = replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace(site, "listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
    site = "\n".join(line for line in site.splitlines() if "listen [::]:" not in line)
    if upstreams:
        site = replace(site, "server 10.0.0.11:8000", f"server {upstreams[0]}")
        site = replace(site, "server 10.0.0.12:8000", f"server {upstreams[1]}")
    (tmp_path / "kap.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""  # workers as nobody could not use tmp_path
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"""{user}
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/kap.conf;
}}
"""
    )
    return config


def run_nginx(nginx: str, tmp_path: Path, config: Path) -> subprocess.Popen:
    """nginx in the foreground on `config` (nginx_config), its error log in tmp_path."""
    return subprocess.Popen(
        [nginx, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)]
        + ["-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def caddy_config(
    tmp_path: Path,
    upstreams: list[str],
    ports: tuple[int, int],
    changes: dict[str, str] | None = None,
) -> Path:
    """deploy/Caddyfile made runnable in tmp_path: the stand-ins in place of the two app servers,
    certificates from Caddy's own local authority (no request leaves the machine, nothing
    installed in the system's trust store), ports of our own, no admin endpoint, and `changes`
    (old text: new text) made."""
    http_port, https_port = ports
    text = (DEPLOY / "Caddyfile").read_text()
    text = replace(text, "10.0.0.11:8000 10.0.0.12:8000", " ".join(upstreams))
    for old, new in (changes or {}).items():
        text = replace(text, old, new)
    # Into the file's global options block (a second one would be refused).
    options = f"admin off\n\tlocal_certs\n\tskip_install_trust\n\thttp_port {http_port}\n"
    options += f"\thttps_port {https_port}\n"
    text = replace(text, "\n{\n", "\n{\n\t" + options)
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    return path


def caddy_env(tmp_path: Path) -> dict[str, str]:
    """Caddy keeps its certificates and state under these: tmp_path, not the home folder."""
    return {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
