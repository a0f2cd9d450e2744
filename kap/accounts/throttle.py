"""Throttling for what is not a login (logins are django-axes'): password-reset requests by
address and by client, set-up codes tried by client.

Counted in the database, so every app server sees the same counts. What is stored is a keyed
hash of the address, never the address itself.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kap.accounts.models import ThrottleHit
from kap.lib.addresses import request_ip


def client_address(request: HttpRequest) -> str:
    """The client's address as the login throttle sees it (kap.lib.addresses)."""
    return request_ip(request) or "unknown"


def login_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The account a sign-in attempt is for, as the login throttle counts it
    (AXES_USERNAME_CALLABLE): spelled as sign-in matches it (case-insensitively, trimmed), so
    that "Ana@Clinic.org" and "ana@clinic.org" share one count of failures."""
    source = credentials if credentials else getattr(request, "POST", {})
    value = source.get("username") if source else None
    return value.strip().lower() if isinstance(value, str) else value


def _key(scope: str, value: str) -> str:
    return salted_hmac(
        f"kap.accounts.throttle.{scope}", value.strip().lower(), algorithm="sha256"
    ).hexdigest()


def hit(scope: str, value: str, *, limit: int, per: timedelta) -> bool:
    """Count one attempt by `value` (an address) at `scope`. False when it is over `limit`
    attempts within `per`: the attempt is refused (and still counted)."""
    now = timezone.now()
    key = _key(scope, value)
    with transaction.atomic():
        # Old hits are of no further use; clearing them here keeps the table small.
        ThrottleHit.objects.filter(scope=scope, at__lte=now - per).delete()
        ThrottleHit.objects.create(scope=scope, key=key, at=now)
        return ThrottleHit.objects.filter(scope=scope, key=key, at__gt=now - per).count() <= limit


def allowed(scope: str, value: str, *, limit: int, per: timedelta) -> bool:
    """Whether `value` may try at `scope` now, without counting an attempt."""
    since = timezone.now() - per
    return (
        ThrottleHit.objects.filter(scope=scope, key=_key(scope, value), at__gt=since).count()
        < limit
    )
