"""Gunicorn's access log, through the app's own logging (kap.lib.logs): the same stream and
format (plain or JSON lines) as everything else, with the request id the app set on the response
and the client's address from a trusted proxy. Tokens in calendar-feed and invitation paths are
redacted, and query strings (which may hold search words or tokens) are left out."""

from __future__ import annotations

import logging

from gunicorn.glogging import Logger

from kap.lib.logs import client_address, redact, strip_query

__all__ = ["RedactingLogger", "redact"]


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        # Run by `kap serve`, the app's logging is set up before gunicorn starts: gunicorn's own
        # handlers go, and its error and access logs flow into the app's handlers (one stream).
        if logging.getLogger().handlers:
            for log in (self.error_log, self.access_log):
                for handler in list(log.handlers):
                    if getattr(handler, "_gunicorn", False):
                        log.removeHandler(handler)
                log.propagate = True

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["h"] = client_address(environ)
        atoms["U"] = redact(atoms.get("U") or "")
        atoms["q"] = ""
        atoms["r"] = redact(strip_query(atoms.get("r") or ""))
        atoms["f"] = redact(strip_query(atoms.get("f") or "-"))
        # Request and response headers and the environ may hold cookies, tokens and the query
        # string: a format cannot name them.
        for key in [k for k in atoms if k.startswith("{")]:
            del atoms[key]
        return atoms

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        request_id = "-"
        for name, value in getattr(resp, "headers", None) or []:
            if name.lower() == "x-request-id":
                request_id = value
        extra = {
            "request_id": request_id,
            "client": atoms["h"],
            "method": atoms.get("m"),
            "path": atoms["U"],
            "status": _int(atoms.get("s")),
            "bytes": atoms.get("B"),
            "duration_ms": atoms.get("M"),
        }
        try:
            self.access_log.info(
                self.cfg.access_log_format, self.atoms_wrapper_class(atoms), extra=extra
            )
        except Exception:
            self.error("The access log line could not be written")


def _int(value) -> int | str | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
