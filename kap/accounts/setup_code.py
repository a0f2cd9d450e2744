"""The first-run set-up code: whoever can read the server console creates the first account.

While no account exists, `kap setup` and `kap serve` each print a fresh code (every printed code
works, so two servers starting together do not undo each other's). Only a hash is stored; a code
expires after SETUP_CODE_HOURS, and every code goes when the first account is created.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from kap.accounts.models import SetupCode, User

SETUP_CODE_HOURS = 24
# Enough printed codes for every server of a clinic; older ones are dropped.
KEEP = 10
# No 0/O, 1/I/L: a code is read off a console and typed.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_LENGTH = 3, 4


def normalise(code: str) -> str:
    """What a person typed, as it was printed: upper case, without spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def issue_if_needed() -> str | None:
    """A new set-up code if no account exists yet (print it on the console), else None."""
    if User.objects.exists():
        return None
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    code = "-".join(raw[i : i + GROUP_LENGTH] for i in range(0, len(raw), GROUP_LENGTH))
    now = timezone.now()
    with transaction.atomic():
        SetupCode.objects.filter(expires_at__lte=now).delete()
        SetupCode.objects.create(
            code_hash=_hash(code),
            created_at=now,
            expires_at=now + timedelta(hours=SETUP_CODE_HOURS),
        )
        old = SetupCode.objects.order_by("-created_at", "-pk").values_list("pk", flat=True)[KEEP:]
        SetupCode.objects.filter(pk__in=list(old)).delete()
    return code


def console_message(code: str, url: str) -> str:
    return (
        "\nNo account exists yet. To set up this installation, open\n"
        f"    {url.rstrip('/')}/setup/\n"
        f"and enter this one-time set-up code: {code}\n"
        f"(It works once, for {SETUP_CODE_HOURS} hours; `kap setup` prints a new one.)\n"
        'Or, on this console: kap clinic create "CLINIC NAME" --admin EMAIL\n'
    )


def is_valid(code: str) -> bool:
    return SetupCode.objects.filter(code_hash=_hash(code), expires_at__gt=timezone.now()).exists()


def use(code: str) -> bool:
    """Inside a transaction: take the code, if it is still valid and no account exists yet. All
    codes are gone afterwards."""
    # Every code's row is locked, not only this one's: two people with two printed codes wait
    # for each other, and the second finds no codes (and an account) when its turn comes.
    codes = list(SetupCode.objects.select_for_update().order_by("pk"))
    now, wanted = timezone.now(), _hash(code)
    if not any(c.code_hash == wanted and c.expires_at > now for c in codes):
        return False
    if User.objects.exists():
        return False
    SetupCode.objects.all().delete()
    return True
