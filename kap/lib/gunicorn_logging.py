"""Gunicorn access logs without secrets: tokens in calendar-feed and invitation paths are
redacted, and query strings (which may hold search words) are left out."""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

SECRET_PATHS = re.compile(r"/(calendar|invite)/[^/?\s]+")


def redact(text: str) -> str:
    return SECRET_PATHS.sub(lambda m: f"/{m.group(1)}/[redacted]", text or "")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact(atoms.get("U") or "")
        atoms["q"] = ""
        atoms["r"] = redact((atoms.get("r") or "").split("?")[0])
        atoms["f"] = redact((atoms.get("f") or "-").split("?")[0])
        return atoms
