"""The client's network address: one rule for the login throttle (django-axes), the other
throttles, the audit trail and the logs.

Behind a trusted proxy (KAP_TRUSTED_PROXY), the last address of X-Forwarded-For: the one the
proxy itself added (deploy/ configs set it to the connecting address, dropping what the client
sent). Otherwise the connection's own address: X-Forwarded-For is whatever the sender wants it
to be. Anything that is not an IP address counts as none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from kap.lib.env import envbool


def trusted_proxy() -> bool:
    from django.conf import settings

    if settings.configured:
        return bool(getattr(settings, "TRUSTED_PROXY", False))
    return envbool("KAP_TRUSTED_PROXY")


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(meta: Mapping) -> str | None:
    """The client's address from a request's META or a WSGI environ, or None."""
    if trusted_proxy():
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded and (last := _ip(forwarded.split(",")[-1])):
            return last
    return _ip(meta.get("REMOTE_ADDR") or "")


def request_ip(request) -> str | None:
    """client_ip for a request (django-axes' AXES_CLIENT_IP_CALLABLE)."""
    return client_ip(request.META)
