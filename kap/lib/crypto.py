"""Encryption of what people write: AES-256-GCM, one key id prefix per value, keys outside the DB.

A stored value looks like ``enc1:<key id>:<base64 of nonce + ciphertext + tag>``. The keyring is
read from ``KAP_ENCRYPTION_KEYS`` ("id:base64key,id:base64key", the first one current) or from
``KAP_DATA_DIR/keys`` (JSON, mode 0600, created on first run). Old keys stay in the ring so that
values written with them can still be read until ``kap keys rotate`` rewrites them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1"
ENV_VAR = "KAP_ENCRYPTION_KEYS"


class KeyError_(Exception):
    """The key needed is missing, or the one present is not the one the data was written with."""


class DecryptionError(Exception):
    """A stored value is damaged or was written with another key: never returned as text."""


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, bytes]
    source: str

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return AESGCM(self.keys[key_id])
        except KeyError:
            raise KeyError_(
                f"encryption key {key_id!r} is not in {self.source}; restore the key file from"
                " the backup made with this database (without it the text cannot be read)"
            ) from None


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def keys_path() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "keys"


def _parse_env(value: str) -> Keyring:
    keys: dict[str, bytes] = {}
    order = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        key_id, _, b64 = part.partition(":")
        raw = base64.b64decode(b64)
        if len(raw) != 32:
            raise KeyError_(f"{ENV_VAR}: key {key_id!r} must be 32 bytes (base64), got {len(raw)}")
        keys[key_id] = raw
        order.append(key_id)
    if not order:
        raise KeyError_(f"{ENV_VAR} is set but holds no key")
    return Keyring(order[0], keys, ENV_VAR)


def _read_file(path: Path) -> Keyring:
    data = json.loads(path.read_text())
    keys = {k: base64.b64decode(v) for k, v in data["keys"].items()}
    if data["current"] not in keys:
        raise KeyError_(f"{path}: current key {data['current']!r} is not in the file")
    return Keyring(data["current"], keys, str(path))


def write_keyring(path: Path, current: str, keys: dict[str, bytes]) -> None:
    """Write the key file atomically, readable by its owner only."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "current": current,
                "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
            },
            f,
        )
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    if value := os.environ.get(ENV_VAR):
        return _parse_env(value)
    path = keys_path()
    if not path.exists():
        key_id = new_key_id()
        write_keyring(path, key_id, {key_id: AESGCM.generate_key(bit_length=256)})
    return _read_file(path)


def reset_keyring_cache() -> None:
    keyring.cache_clear()


def encrypt(text: str) -> str:
    ring = keyring()
    nonce = os.urandom(12)
    aad = f"{PREFIX}:{ring.current}".encode()
    sealed = ring.cipher(ring.current).encrypt(nonce, text.encode("utf-8"), aad)
    return f"{PREFIX}:{ring.current}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(value: str) -> str:
    try:
        prefix, key_id, b64 = value.split(":", 2)
    except ValueError:
        raise DecryptionError("not an encrypted value") from None
    if prefix != PREFIX:
        raise DecryptionError("not an encrypted value")
    ring = keyring()
    blob = base64.b64decode(b64)
    try:
        plain = ring.cipher(key_id).decrypt(blob[:12], blob[12:], f"{PREFIX}:{key_id}".encode())
    except InvalidTag:
        raise DecryptionError(
            f"a value written with key {key_id!r} does not decrypt: it was changed, or the key in"
            f" {ring.source} is not the one it was written with"
        ) from None
    return plain.decode("utf-8")
