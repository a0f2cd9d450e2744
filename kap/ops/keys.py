"""Start-up check that the encryption keys in use are the ones the data was written with."""

from __future__ import annotations

from django.db import transaction

from kap.lib import crypto
from kap.ops.models import KeyCanary

CANARY_TEXT = "kap-companion key check"


class KeyProblem(Exception):
    pass


def verify_keys() -> None:
    """Raise KeyProblem with a clear message when a key is missing or wrong; else make sure the
    current key has a canary, so that a later start with another key is caught."""
    try:
        ring = crypto.keyring()
        for canary in KeyCanary.objects.all():
            if crypto.decrypt(canary.value) != CANARY_TEXT:
                raise KeyProblem(f"key {canary.key_id!r} decrypts to the wrong text")
        with transaction.atomic():
            if not KeyCanary.objects.filter(key_id=ring.current).exists():
                KeyCanary.objects.create(key_id=ring.current, value=crypto.encrypt(CANARY_TEXT))
    except (crypto.KeyError_, crypto.DecryptionError) as e:
        raise KeyProblem(f"Encrypted data cannot be read: {e}") from None
