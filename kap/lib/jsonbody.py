"""Reading JSON that someone sent: a request body or an uploaded file, always through here.

`json.loads` alone answers some inputs with an exception no view expects: a RecursionError for
deeply nested arrays, a ValueError for a 5,000-digit number, and it accepts NaN, Infinity and
lone surrogates ("\\ud800") that later fail to encode or to store. `parse_json` turns every
such input into `BadJson`, whose `reason` completes the sentence "it is …", so each caller can
answer with a clear 400 (or a refusal on its page) and nothing is stored.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

# A JSON body sent by one of the app's own pages is small and flat.
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32


class BadJson(ValueError):
    """Input that is not acceptable JSON; `reason` reads after "it is", e.g. "not UTF-8 text"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str):
    raise BadJson(f"not standard JSON ({name} is not a JSON number)")


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


def _check_tree(data: Any, max_depth: int) -> None:
    """Depth and text of an already parsed value, without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise BadJson(f"nested more than {max_depth} levels deep")
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > max_depth:
                raise BadJson(f"nested more than {max_depth} levels deep")
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson("not valid JSON text (a string holds a lone surrogate escape)") from None


def parse_json(raw: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The value in `raw` (UTF-8, a BOM allowed), or BadJson saying why it cannot be read."""
    if len(raw) > max_bytes:
        raise BadJson(f"larger than {_size(max_bytes)}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadJson("not UTF-8 text") from None
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise BadJson(f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise BadJson(f"nested more than {max_depth} levels deep") from None
    except BadJson:
        raise
    except ValueError:  # an integer with more digits than Python converts (4,300)
        raise BadJson("not acceptable JSON (a number has too many digits)") from None
    _check_tree(data, max_depth)
    return data


def read_json(
    request: HttpRequest, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """The JSON body of a request, or BadJson (a body over `max_bytes` is never read whole)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise BadJson(f"larger than {_size(max_bytes)}")
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadJson(f"larger than {_size(max_bytes)}") from None
    return parse_json(body, max_bytes=max_bytes, max_depth=max_depth)
