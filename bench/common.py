"""Where the benchmark's data lives and the environment each process of it runs with.

Everything is kept apart from a real install: the SQLite database, keys and logs live under
KAP_BENCH_DIR (default bench/data, git-ignored), never ./data, and PostgreSQL databases are
named kap_bench_*. One secret key and one encryption keyring are made on first use and shared by
every process (seeders, app servers), so that two app servers can read what the seeder wrote.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
DATA = Path(os.environ.get("KAP_BENCH_DIR") or BENCH / "data").resolve()
PG_BASE = os.environ.get("KAP_BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
PYTHON = sys.executable

# target name -> (engine, PostgreSQL database name or None)
TARGETS = {
    "one-person": ("sqlite", None),
    "clinic": ("postgresql", "kap_bench_clinic"),
    "clinic-small": ("postgresql", "kap_bench_clinic_small"),
}
SMALL_CLINIC = 100
SEARCH_WORD = "lighthouse"  # planted in about one insight in forty; the search benchmark's query


def secrets_file() -> Path:
    return DATA / "secrets.json"


def bench_secrets() -> dict:
    """The shared secret key and encryption keyring, made once per KAP_BENCH_DIR."""
    path = secrets_file()
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        key_id = "kbench1"
        data = {
            "secret_key": secrets.token_urlsafe(50),
            "encryption_keys": f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}",
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
    return json.loads(path.read_text())


def data_dir(target: str) -> Path:
    return DATA / target


def database_url(target: str) -> str | None:
    engine, name = TARGETS[target]
    return f"{PG_BASE}/{name}" if engine == "postgresql" else None


def env_for(target: str, *, data_dir_override: Path | None = None, **extra: str) -> dict:
    """The environment of a process working on `target`'s database."""
    s = bench_secrets()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KAP_") or k.startswith("KAP_BENCH")
    }
    env.pop("DATABASE_URL", None)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        KAP_DATA_DIR=str(data_dir_override or data_dir(target)),
        KAP_SECRET_KEY=s["secret_key"],
        KAP_ENCRYPTION_KEYS=s["encryption_keys"],
        KAP_LOG_LEVEL="WARNING",
        KAP_OPEN_SIGNUP="False",
    )
    if url := database_url(target):
        env["DATABASE_URL"] = url
    env.update(extra)
    return env


def manifest_path(target: str) -> Path:
    return data_dir(target) / "manifest.json"


def read_manifest(target: str) -> dict | None:
    path = manifest_path(target)
    return json.loads(path.read_text()) if path.exists() else None
