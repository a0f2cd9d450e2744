"""The clinic manual, run: README "Running it for a clinic" step 2 is deploy/setup-clinic.sh, line
for line, and the script is run here as the README shows it (only the machine's own names
changed: the database server, a throwaway database and role, where the files go) against
PostgreSQL, then checked: the database owned by its role, every migration applied, the deployment
checks passed, the clinic and its first admin made, the settings file complete, the keys in the
key file (private), not in the settings; a second run keeps every secret and makes nothing twice. Bad input is refused before anything is changed."""

from __future__ import annotations

import base64
import getpass
import json
import os
import re
import shlex
import stat
import subprocess

import pytest

from tests.children import ROOT
from tests.deploy.support import (
    README,
    admin_sql,
    kap_has,
    postgres_server,
    readme_section,
    shell_lines,
    throwaway_names,
)

SCRIPT = ROOT / "deploy" / "setup-clinic.sh"
CLINIC_SECTION = "Running it for a clinic"
SET_UP_STEP = "2. Set up the database and the clinic"


def set_up_step() -> str:
    assert f"### {SET_UP_STEP}" in readme_section(CLINIC_SECTION)
    return readme_section(SET_UP_STEP, level=3)


def readme_invocation() -> list[str]:
    """The README's example run of the script, as arguments."""
    (line,) = [line for line in shell_lines(set_up_step()) if "setup-clinic.sh" in line]
    argv = shlex.split(line)
    assert argv[0] == "deploy/setup-clinic.sh"
    return argv[1:]


def script_lines() -> list[str]:
    return [line.strip() for line in SCRIPT.read_text().splitlines()]


def test_the_readmes_set_up_steps_are_the_scripts_lines_in_order():
    steps = [
        line
        for line in shell_lines(set_up_step())
        if "setup-clinic.sh" not in line and line != "cd /opt/kap"
    ]
    lines = script_lines()
    at = [lines.index(step) if step in lines else -1 for step in steps]
    assert -1 not in at, [s for s, i in zip(steps, at, strict=True) if i < 0]
    assert at == sorted(at), "the README shows the steps in another order than the script"
    # The steps the issue asks for, each in the README and so in the script.
    commands = " | ".join(steps)
    for needed in (
        "createuser ",
        'createdb -h "$DB_HOST" -p "$DB_PORT" -U "$DB_SUPERUSER" -O "$DB_USER"',
        "secrets.token_urlsafe",
        "kap keys generate",
        "kap setup",
        "kap manage check --deploy --fail-level WARNING",
        'kap clinic create "$CLINIC_NAME" --admin "$ADMIN_EMAIL"',
    ):
        assert needed in commands
    assert "kap keys rotate" not in commands
    # The first key goes into the key file (re-read by running servers), not the environment
    # (read once: every stage of a rotation would need every server restarted).
    assert 'write_key_file "$DATA_DIR/keys"' in commands
    assert "KAP_ENCRYPTION_KEYS" not in commands
    assert lines.index("kap setup") < lines.index(
        'kap clinic create "$CLINIC_NAME" --admin "$ADMIN_EMAIL"'
    )


def test_the_clinic_section_names_only_files_and_units_that_exist():
    text = readme_section(CLINIC_SECTION) + readme_section("Upgrading")
    for path in set(re.findall(r"(?<![\w/])deploy/[\w./-]*\w", text)):
        assert (ROOT / path).exists(), path
    for name in set(re.findall(r"\bkap-[\w-]+\.(?:service|timer)\b", text)):
        assert (ROOT / "deploy" / "systemd" / name).exists(), name
    assert "..." not in text and "…" not in text
    assert readme_invocation()  # the example run is there


def test_the_deploy_files_point_to_readme_sections_that_exist():
    headings = re.findall(r"^#+ (.+)$", README.read_text(), flags=re.MULTILINE)
    for path in sorted(p for p in (ROOT / "deploy").rglob("*") if p.is_file()):
        for title in re.findall(r'README "([^"]+)"', path.read_text()):
            assert any(h.startswith(title) for h in headings), f"{path.name}: README {title!r}"


def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # As on a clinic's server: not with the test run's async switch (check --deploy refuses it).
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**base, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (["--admin", ""], "missing: ADMIN_EMAIL"),
        (["--admin", "not-an-address"], "--admin: not an e-mail address"),
        (["--host", "https://kap.example.org"], "--host: a host name"),
        (["--clinic", 'The "Best" Clinic'], "CLINIC_NAME may not contain"),
        (["--db-name", "kap; drop"], "--db-name: lower-case letters"),
        (["--no-such-option", "x"], "unknown option: --no-such-option"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(tmp_path, change, message):
    env_file = tmp_path / "etc" / "kap.env"
    result = run_script(
        *readme_invocation(),
        "--env-file",
        str(env_file),
        "--data-dir",
        str(tmp_path / "data"),
        "--app-dir",
        str(ROOT),
        "--run-as",
        getpass.getuser(),
        *change,
    )
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "1. PostgreSQL" not in result.stdout
    assert not env_file.exists() and not (tmp_path / "data").exists()


@pytest.fixture
def postgres():
    conninfo = postgres_server()
    if conninfo is None:
        pytest.skip(
            "no PostgreSQL server answers (DATABASE_URL's, or 127.0.0.1:5432 as postgres):"
            " deploy/setup-clinic.sh not run"
        )
    return conninfo


def script_env(conninfo: dict) -> dict[str, str]:
    env = {"PGPASSWORD": conninfo["password"]} if conninfo["password"] else {}
    return {**env, "PGCONNECT_TIMEOUT": "10"}


def machine_args(conninfo: dict, name: str, tmp_path) -> list[str]:
    """What differs between the README's clinic and this machine."""
    return [
        *("--db-host", conninfo["host"], "--db-port", str(conninfo["port"])),
        *("--db-superuser", conninfo["user"], "--db-sslmode", "prefer"),
        *("--db-name", name, "--db-user", name),
        *("--env-file", str(tmp_path / "etc" / "kap.env")),
        *("--data-dir", str(tmp_path / "data"), "--app-dir", str(ROOT)),
        *("--run-as", getpass.getuser()),
    ]


def read_env_file(path) -> dict[str, str]:
    shown = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; set +a; env -0', "_", str(path)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        k: v
        for k, v in (item.split("=", 1) for item in shown.split("\0") if "=" in item)
        if k.startswith("KAP_") or k == "DATABASE_URL"
    }


def test_the_readmes_clinic_set_up_runs_on_postgresql(postgres, tmp_path):
    from django.db.migrations.loader import MigrationLoader

    not_yet = []
    if not kap_has("clinic", "create"):
        not_yet.append("`kap clinic create` (the clinic and its admin are not checked)")
    argv = readme_invocation()
    values = dict(zip(argv[::2], argv[1::2], strict=True))
    clinic, admin, host = values["--clinic"], values["--admin"], values["--host"]
    env_file = tmp_path / "etc" / "kap.env"
    key_file = tmp_path / "data" / "keys"

    with throwaway_names(postgres, "kap_clinic") as name:
        args = [*argv, *machine_args(postgres, name, tmp_path)]
        result = run_script(*args, env=script_env(postgres))
        output = result.stdout + result.stderr
        clinic_step_missing = any("kap clinic create" in s for s in not_yet)
        if clinic_step_missing:
            assert result.returncode != 0 and "6. The clinic" in result.stdout, output
        else:
            assert result.returncode == 0, output

        # The database, owned by the new role, and so are its tables.
        ((owner,),) = admin_sql(
            postgres, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
        )
        assert owner == name
        tables = admin_sql(
            postgres,
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'",
            dbname=name,
        )
        assert len(tables) > 20 and {o for _, o in tables} == {name}

        # Every migration on disk is applied.
        applied = set(admin_sql(postgres, "SELECT app, name FROM django_migrations", dbname=name))
        on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
        assert on_disk - applied == set()
        assert "System check identified no issues" in result.stdout, output

        # The settings file: complete, private, and the one the app ran with.
        mode = stat.S_IMODE(env_file.stat().st_mode)
        assert mode == 0o640, oct(mode)
        settings = read_env_file(env_file)
        assert settings["DATABASE_URL"].startswith(f"postgres://{name}:")
        assert settings["DATABASE_URL"].endswith(f"/{name}?sslmode=prefer")
        assert len(settings["KAP_SECRET_KEY"]) >= 50
        # No keys in the settings file: they are in the key file, which the servers re-read by
        # themselves, so that a staged key rotation needs no restart.
        assert "KAP_ENCRYPTION_KEYS" not in settings
        assert settings["KAP_ALLOWED_HOSTS"] == host
        assert settings["KAP_BASE_URL"] == f"https://{host}"
        assert (settings["KAP_HTTPS"], settings["KAP_TRUSTED_PROXY"]) == ("True", "True")
        assert settings["KAP_OPEN_SIGNUP"] == "False"
        assert settings["KAP_SITE_NAME"] == clinic
        assert settings["KAP_FROM_EMAIL"] == f"{clinic} <{values['--from-email']}>"
        assert settings["KAP_SMTP_HOST"] == values["--smtp-host"]
        assert "..." not in env_file.read_text()

        # The key file: readable by the app's user only, holding one key, the current one.
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.stat().st_uid == os.getuid()  # --run-as: this user
        keys = json.loads(key_file.read_text())
        key_id = keys["current"]
        assert list(keys["keys"]) == [key_id]
        assert len(base64.b64decode(keys["keys"][key_id])) == 32
        # The key the database's data is under is that one (kap setup left its canary).
        assert admin_sql(
            postgres, "SELECT 1 FROM journal_keycanary WHERE key_id = %s", [key_id], dbname=name
        )

        if not clinic_step_missing:
            # The clinic and its first admin, with a one-time link on the console.
            ((clinic_id,),) = admin_sql(
                postgres, "SELECT id FROM accounts_clinic WHERE name = %s", [clinic], dbname=name
            )
            assert admin_sql(
                postgres,
                "SELECT role, clinic_id FROM accounts_user WHERE email = %s",
                [admin],
                dbname=name,
            ) == [("admin", clinic_id)]
            assert f"https://{host}/" in result.stdout

            # Again: nothing made twice, every secret kept.
            again = run_script(*args, env=script_env(postgres))
            assert again.returncode == 0, again.stdout + again.stderr
            assert "exists already" in again.stdout
            assert read_env_file(env_file) == settings
            assert json.loads(key_file.read_text()) == keys
            assert admin_sql(postgres, "SELECT count(*) FROM accounts_clinic", dbname=name) == [
                (1,)
            ]

    if not_yet:
        pytest.skip("not there yet, so not run: " + "; ".join(not_yet))


def test_a_database_owned_by_another_role_is_refused(postgres, tmp_path):
    with throwaway_names(postgres, "kap_clinic") as name:
        admin_sql(postgres, f'CREATE DATABASE "{name}"')  # owned by the superuser
        result = run_script(
            *readme_invocation(),
            *machine_args(postgres, name, tmp_path),
            env=script_env(postgres),
        )
        assert result.returncode == 1
        assert f"database {name} already exists, owned by" in result.stderr, result.stderr
        assert not admin_sql(postgres, "SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        assert not (tmp_path / "etc" / "kap.env").exists()
