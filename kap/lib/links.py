"""Whole addresses of pages here, for what leaves the page: an invitation to pass on, a private
calendar address, the links inside a calendar feed or an e-mail.

KAP_BASE_URL, when it is set, is the address people reach the app at: every link uses it, with a
request or without (a proxy that forwards a different Host cannot then put a wrong address in an
invitation). When it is not set (a laptop, `make run PORT=8123`, a first try behind a proxy), a
link made while answering a request uses the address that request came to: its Host, which
Django has checked against KAP_ALLOWED_HOSTS, and its scheme, which is https behind
KAP_TRUSTED_PROXY when the proxy's X-Forwarded-Proto says so. With no request (the worker's
e-mails) there is only KAP_BASE_URL, or its default: a server that sends e-mail sets it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

# KAP_BASE_URL's default (kap/settings.py): the same address set on purpose counts as unset, which
# changes nothing for anyone who reaches the app at that address.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def configured_base_url() -> str | None:
    """KAP_BASE_URL without a trailing slash, or None when it is not set."""
    url = settings.BASE_URL.rstrip("/")
    return None if url == DEFAULT_BASE_URL else url


def base_url(request: HttpRequest | None = None) -> str:
    """This site's address, e.g. "https://kap.example.org" (no trailing slash)."""
    if (url := configured_base_url()) is not None:
        return url
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return DEFAULT_BASE_URL


def absolute(path: str, request: HttpRequest | None = None) -> str:
    """The whole address of `path` (from reverse(), so it starts with "/")."""
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not a path from the site's root")
    return base_url(request) + path
