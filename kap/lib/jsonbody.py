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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# A JSON body sent by one of the app's own pages is small and flat.
MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32


class BadJson(ValueError):
    """Input that is not acceptable JSON; `reason` reads after "it is", e.g. "not UTF-8 text"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _refuse_constant(name: str):
    raise BadJson(_("not standard JSON (%(name)s is not a JSON number)") % {"name": name})


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return ngettext("%(count)s byte", "%(count)s bytes", limit) % {"count": limit}


def _larger(limit: int) -> str:
    return _("larger than %(size)s") % {"size": _size(limit)}


def _nested(depth: int) -> str:
    return _("nested more than %(depth)s levels deep") % {"depth": depth}


def _check_tree(data: Any, max_depth: int) -> None:
    """Depth and text of an already parsed value, without recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise BadJson(_nested(max_depth))
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > max_depth:
                raise BadJson(_nested(max_depth))
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson(_("not valid JSON text (a string holds a lone surrogate escape)")) from None


def parse_json(raw: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """The value in `raw` (UTF-8, a BOM allowed), or BadJson saying why it cannot be read."""
    if len(raw) > max_bytes:
        raise BadJson(_larger(max_bytes))
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadJson(_("not UTF-8 text")) from None
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as e:
        raise BadJson(
            _("not valid JSON (%(error)s at line %(line)s, column %(column)s)")
            % {"error": e.msg, "line": e.lineno, "column": e.colno}
        ) from None
    except RecursionError:
        raise BadJson(_nested(max_depth)) from None
    except BadJson:
        raise
    except ValueError:  # an integer with more digits than Python converts (4,300)
        raise BadJson(_("not acceptable JSON (a number has too many digits)")) from None
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
        raise BadJson(_larger(max_bytes))
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadJson(_larger(max_bytes)) from None
    return parse_json(body, max_bytes=max_bytes, max_depth=max_depth)
