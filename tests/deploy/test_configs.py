"""deploy/'s files, read by the tools that will read them on a clinic's machines: the systemd units
by `systemd-analyze verify`, the proxy configurations by `nginx -t` and `caddy validate`
(tests/deploy/test_proxies.py runs both proxies too), the settings file by bash and by Django's
deployment checks. Each tool is a Debian package (.ci/run installs them); a test is skipped, saying
which, only when its tool is not installed."""

from __future__ import annotations

import configparser
import os
import re
import secrets
import shlex
import subprocess
import sys

import pytest

from kap.cli import build_parser
from tests.children import KAP, ROOT
from tests.deploy.support import DEPLOY, README, caddy_env, nginx_config, tool

SYSTEMD = DEPLOY / "systemd"
SERVICES = sorted(SYSTEMD.glob("*.service"))
TIMERS = sorted(SYSTEMD.glob("*.timer"))
ENV_EXAMPLE = DEPLOY / "kap.env.example"
ENV_FILE = "/etc/kap/kap.env"
APP_KAP = "/opt/kap/.venv/bin/kap"


def unit(path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_there_are_units_for_the_app_servers_the_worker_and_the_backups():
    assert [p.name for p in SERVICES] == [
        "kap-backup.service",
        "kap-web.service",
        "kap-worker.service",
    ]
    assert [p.name for p in TIMERS] == ["kap-backup.timer"]
    timer = unit(TIMERS[0])
    assert (SYSTEMD / timer["Timer"]["Unit"]).exists()
    assert timer["Timer"]["Persistent"] == "true" and timer["Timer"]["OnCalendar"]


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_service_runs_a_kap_command_as_kap_sandboxed(path):
    service = unit(path)["Service"]
    assert (service["User"], service["Group"]) == ("kap", "kap")
    assert service["EnvironmentFile"] == ENV_FILE
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "true" and service["PrivateTmp"] == "true"
    assert service["ProtectSystem"] == "strict" and service["ProtectHome"] == "true"
    assert "/var/lib/kap" in service["ReadWritePaths"].split()
    assert service["CapabilityBoundingSet"] == ""
    # The command is one the `kap` of today takes, as written.
    command = shlex.split(service["ExecStart"])
    assert command[0] == APP_KAP
    build_parser().parse_args(command[1:])
    if command[1] == "backup":
        assert command[2] in service["ReadWritePaths"].split()


def test_the_units_pass_systemd_analyze_verify(tmp_path):
    systemd_analyze = tool("systemd-analyze")
    if systemd_analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd): units not verified")
    # `verify` wants the programs and files the units name to exist: the same units, with this
    # checkout's kap and a settings file in place of /opt/kap's and /etc/kap's.
    env_file = tmp_path / "kap.env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    copies = []
    for path in SERVICES + TIMERS:
        text = path.read_text().replace(APP_KAP, str(KAP)).replace(ENV_FILE, str(env_file))
        copy = tmp_path / path.name
        copy.write_text(text)
        copies.append(str(copy))
    result = subprocess.run(
        [systemd_analyze, "verify", *copies],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
        timeout=120,
    )
    output = result.stdout + result.stderr
    # Unknown keys or sections are only warnings for systemd, but a unit that says
    # ProtectSystm= is not protected: anything said about our units fails the test.
    about_ours = [
        line
        for line in output.splitlines()
        if str(tmp_path) in line or any(p.name in line for p in SERVICES + TIMERS)
    ]
    assert result.returncode == 0 and not about_ours, output


def test_the_nginx_site_passes_nginx_t(tmp_path):
    nginx = tool("nginx")
    if nginx is None:
        pytest.skip(
            "nginx is not installed (Debian package nginx): deploy/nginx/kap.conf not tested"
        )
    config = nginx_config(tmp_path, upstreams=None, ports=None)
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_caddyfile_passes_caddy_validate(tmp_path):
    caddy = tool("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian package caddy): deploy/Caddyfile not tested")
    result = subprocess.run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=caddy_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr
    # Caddy warns about a directive it would ignore or that does nothing; there should be none.
    warnings = [line for line in result.stderr.splitlines() if '"level":"warn"' in line]
    assert not warnings, warnings


# --- The settings file ---------------------------------------------------------------------------

VARIABLE = re.compile(r"\b(KAP_[A-Z0-9_]+|DATABASE_URL)\b")
LINE = re.compile(r'^(#\s*)?([A-Z][A-Z0-9_]*)=("[^"$`\\]*"|[^\s"\'$`\\]*)$')


def env_lines() -> list[re.Match]:
    out = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := LINE.match(line):
            out.append(match)
        else:
            assert not line or line.startswith("#"), f"not VARIABLE=value: {line!r}"
    return out


def test_the_settings_file_names_every_variable_the_readme_names():
    in_readme = set(VARIABLE.findall(README.read_text()))
    in_file = {m.group(2) for m in env_lines()}
    assert in_readme - in_file == set(), "add them to deploy/kap.env.example"
    assert "..." not in ENV_EXAMPLE.read_text()
    assert "…" not in ENV_EXAMPLE.read_text()


def test_the_settings_file_reads_the_same_in_bash_as_in_systemd(tmp_path):
    """systemd's EnvironmentFile= takes VARIABLE=value and VARIABLE="value with spaces"; bash
    (`set -a; . FILE`), as deploy/setup-clinic.sh and README "Upgrading" read it, must get the
    same values."""
    expected = {m.group(2): m.group(3).strip('"') for m in env_lines() if not m.group(1)}
    assert expected["KAP_SITE_NAME"] == "Example Clinic"  # quoted, with a space
    shown = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; set +a; env -0', "_", str(ENV_EXAMPLE)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
    assert {name: got.get(name) for name in expected} == expected


def new_key() -> str:
    """A KAP_ENCRYPTION_KEYS value of one new key, as `kap keys generate` prints it."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kap.lib.crypto import new_key_id

    return f"{new_key_id()}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def test_the_settings_file_passes_djangos_deployment_checks(tmp_path):
    """With the two secrets the set-up script fills in, the template as it is passes
    `check --deploy` (HTTPS, cookies, hosts, e-mail)."""
    values = {m.group(2): m.group(3).strip('"') for m in env_lines() if not m.group(1)}
    env = {k: v for k, v in os.environ.items() if not VARIABLE.fullmatch(k)}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(values)
    env.update(
        KAP_DATA_DIR=str(tmp_path),
        KAP_SECRET_KEY=secrets.token_urlsafe(50),
        KAP_ENCRYPTION_KEYS=new_key(),
        DJANGO_SETTINGS_MODULE="kap.settings",
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
