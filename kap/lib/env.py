"""Tiny helpers for reading settings from the environment (healthchecks style)."""

import os


def envbool(name: str, default: str = "False") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: str) -> int:
    return int(os.environ.get(name, default))


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)
