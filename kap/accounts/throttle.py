"""Throttling for what is not a login (logins are django-axes'): password-reset requests by
address and by client, set-up codes tried by client.

Counted in the database, so every app server sees the same counts. What is stored is a keyed
hash of the address, never the address itself.
"""

from __future__ import annotations

from datetime import timedelta

from axes.helpers import get_client_ip_address
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kap.accounts.models import ThrottleHit


def client_address(request: HttpRequest) -> str:
    """The client's address as the login throttle sees it (AXES_IPWARE_META_PRECEDENCE_ORDER:
    the proxy's X-Forwarded-For only behind a trusted proxy)."""
    return get_client_ip_address(request) or "unknown"


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
