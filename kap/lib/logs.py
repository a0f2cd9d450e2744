"""The log's shape: one stream, plain lines or JSON lines (KAP_LOG_FORMAT=json), each carrying the
request id and the client's address of the request being served, and never a secret.

- `request_context` (set by kap.ops.middleware.RequestIdMiddleware) holds the request id and the
  client's address in context variables; `RequestContextFilter` copies them onto every record.
- `RedactingFilter`, on every handler (settings.LOGGING, where Django's own loggers are sent to
  those handlers too), rewrites each record with the tokens in paths (calendar feeds, invitations,
  password-reset links) redacted: its message, traceback and the request it carries. And
  `PlainFormatter` and `JsonFormatter` redact whatever they write once more.
- gunicorn's access log goes through the same handlers (kap.lib.gunicorn_logging), without query
  strings.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from kap.lib.addresses import client_ip

# Every route with a secret in its path (kap/*/urls*.py: the parameters named code, token or
# uidb64; tests/security/test_log_redaction.py fails when one is not covered): the calendar feed
# (/calendar/<token>.ics), an invitation (/invite/<code>/), a password reset
# (/reset/<uidb64>/<token>/). Letter case is ignored: a mistyped /INVITE/<code>/ is a secret too.
_SEGMENT = r"[^/?#\s\"'<>]+"
SECRET_PATHS = re.compile(rf"/(calendar|invite)/{_SEGMENT}|/(reset)/{_SEGMENT}/{_SEGMENT}", re.I)
# A proxy's request id is kept if it looks like one (a UUID, a hex or base64url token); anything
# else (too long, spaces, quotes, newlines) is replaced by our own.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

_request_id: ContextVar[str] = ContextVar("kap_request_id", default="-")
_client: ContextVar[str] = ContextVar("kap_client", default="-")

# Fields a record may carry (as `extra=`) that the JSON lines include when present.
FIELDS = ("client", "method", "path", "status", "bytes", "duration_ms")


def _redacted(match: re.Match) -> str:
    if match.group(2):
        return f"/{match.group(2)}/[redacted]/[redacted]"
    return f"/{match.group(1)}/[redacted]"


def redact(text: str) -> str:
    """Tokens in calendar-feed, invitation and password-reset paths become "[redacted]"."""
    return SECRET_PATHS.sub(_redacted, text or "")


def strip_query(path: str) -> str:
    return (path or "").split("?", 1)[0]


def request_id_from(header: str | None) -> str:
    if header and REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def client_address(meta: Mapping) -> str:
    """The client's address for a log line (kap.lib.addresses), "-" when there is none."""
    return client_ip(meta) or "-"


@contextmanager
def request_context(request_id: str, client: str) -> Iterator[None]:
    tokens = _request_id.set(request_id), _client.set(client)
    try:
        yield
    finally:
        _request_id.reset(tokens[0])
        _client.reset(tokens[1])


def current_request_id() -> str:
    return _request_id.get()


class RequestContextFilter(logging.Filter):
    """Puts the current request's id and client address on each record (unless it has them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a 4xx/5xx response once the middleware has returned (the context is gone
        # by then) with the request on the record: its id is on the request.
        request = getattr(record, "request", None)
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
            if record.request_id == "-":
                record.request_id = getattr(request, "request_id", "-")
        if not hasattr(record, "client"):
            record.client = _client.get()
            if record.client == "-" and hasattr(request, "META"):
                record.client = client_address(request.META)
        return True


class RedactingFilter(logging.Filter):
    """Rewrites a record with no token left in it, for every handler and formatter after it: the
    message (rendered once, redacted, its arguments dropped), the traceback and stack, the
    access-log fields, and the request Django attaches (a copy, its path redacted and its cookies
    left out; the request being served is not touched)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # (a malformed record: the handler reports it, as logging does)
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for field in FIELDS:
            if isinstance(value := getattr(record, field, None), str):
                setattr(record, field, redact(value))
        request = getattr(record, "request", None)
        if (
            hasattr(request, "path")
            and hasattr(request, "META")
            and not getattr(request, "_kap_redacted", False)
        ):
            record.request = _redacted_request(request)
        return True


def _redacted_request(request):
    safe = copy.copy(request)
    safe._kap_redacted = True
    safe.path = redact(request.path)
    safe.path_info = redact(getattr(request, "path_info", ""))
    safe.META = {
        key: redact(value) if isinstance(value, str) else value
        for key, value in request.META.items()
        if key != "HTTP_COOKIE"
    }
    safe.__dict__.pop("COOKIES", None)  # (read again from the META above: none)
    return safe


class PlainFormatter(logging.Formatter):
    def __init__(self, fmt: str | None = None, datefmt: str | None = None, style: str = "%"):
        super().__init__(
            fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
            datefmt,
            style,
        )

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, and the
    access-log fields when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", "-"),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None and value != "-":
                out[field] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)
