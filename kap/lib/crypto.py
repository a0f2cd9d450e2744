"""Encryption of what people write: AES-256-GCM, one key id prefix per value, keys outside the DB.

A stored value looks like ``enc1:<key id>:<base64 of nonce + ciphertext + tag>``. The keyring is
read from ``KAP_ENCRYPTION_KEYS`` ("id:base64key,id:base64key", the first one current) or from
``KAP_DATA_DIR/keys`` (JSON, mode 0600, created on first run). Old keys stay in the ring so that
values written with them can still be read until ``kap keys rotate`` rewrites them.

A running server notices a changed key file by itself (its modification time, checked on each use
of the keyring) and reads it again: a staged rotation (``kap keys add``, ``use``, ``reencrypt``,
``retire``) reaches every app server without a restart. ``KAP_ENCRYPTION_KEYS`` is read once per
value it holds: a process's environment cannot change, so with it a restart is needed.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "enc1"
ENV_VAR = "KAP_ENCRYPTION_KEYS"

log = logging.getLogger(__name__)


class KeyError_(Exception):
    """The key needed is missing, or the one present is not the one the data was written with."""


class DecryptionError(Exception):
    """A stored value is damaged or was written with another key: never returned as text."""


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, bytes]
    source: str
    # One AESGCM object per key, made on first use: an AESGCM is safe to share between threads,
    # and making one costs about as much as sealing a short value.
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def cipher(self, key_id: str) -> AESGCM:
        try:
            return self._ciphers[key_id]
        except KeyError:
            pass
        try:
            cipher = self._ciphers[key_id] = AESGCM(self.keys[key_id])
            return cipher
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
    global _checked_at
    _checked_at = float("-inf")  # this process wrote it: read it on the next use


def new_key() -> tuple[str, bytes]:
    """A fresh key id and 256-bit key."""
    return new_key_id(), AESGCM.generate_key(bit_length=256)


def env_value(keys: dict[str, bytes]) -> str:
    """The KAP_ENCRYPTION_KEYS value for these keys, in this order (the first one is current)."""
    return ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in keys.items())


# The keyring last read, and what it was read from: ("env", value) or ("file", path, mtime,
# inode, size). A key file replaced or edited since is read again on the next use.
_cached: tuple[tuple, Keyring] | None = None
_lock = threading.Lock()
# The key file is looked at again at most this often (seconds), and at once when a value names a
# key not in the ring: a stat for every value would cost more than the encryption itself.
RECHECK_SECONDS = 1.0
_checked_at = float("-inf")


def _file_signature(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return ("file", str(path), st.st_mtime_ns, st.st_ino, st.st_size)


def keyring(*, fresh: bool = False) -> Keyring:
    """The keys in use. Cheap to call for every value: the file is read again only when it has
    changed (a new key added, another made current, old ones retired) since it was last read,
    looked at once a second at most (or now, with `fresh`)."""
    global _cached, _checked_at
    cached = _cached
    now = time.monotonic()
    value = os.environ.get(ENV_VAR)
    if (
        not fresh
        and not value
        and cached is not None
        and cached[0][:2] == ("file", str(keys_path()))
        and now - _checked_at < RECHECK_SECONDS
    ):
        return cached[1]
    if value:
        signature: tuple | None = ("env", value)
    else:
        path = keys_path()
        signature = _file_signature(path)
        _checked_at = now
    if cached is not None and cached[0] == signature:
        return cached[1]
    with _lock:
        if value:
            ring = _parse_env(value)
        else:
            if signature is None:
                key_id, key = new_key()
                write_keyring(path, key_id, {key_id: key})
                signature = _file_signature(path)
            try:
                ring = _read_file(path)
            except (ValueError, KeyError, OSError, KeyError_) as e:
                # A key file caught half-copied (scp, an editor): keep the keys read last and
                # look again on the next use; with none read yet, there is nothing to fall back on.
                if cached is not None and cached[0][:2] == ("file", str(path)):
                    log.warning(
                        "The key file %s cannot be read (%s); still using the keys read before",
                        path,
                        type(e).__name__,
                    )
                    return cached[1]
                if isinstance(e, KeyError_):
                    raise
                raise KeyError_(f"the key file {path} cannot be read: {type(e).__name__}") from None
        _cached = (signature, ring)
        if signature is not None and signature[0] == "file":
            _checked_at = time.monotonic()
        return ring


def reset_keyring_cache() -> None:
    """Forget the keyring read last (the next use reads it again)."""
    global _cached, _checked_at
    _cached = None
    _checked_at = float("-inf")


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
    if key_id not in ring.keys:
        ring = keyring(fresh=True)  # a key just added to the file (a staged rotation)
    blob = base64.b64decode(b64)
    try:
        plain = ring.cipher(key_id).decrypt(blob[:12], blob[12:], f"{PREFIX}:{key_id}".encode())
    except InvalidTag:
        raise DecryptionError(
            f"a value written with key {key_id!r} does not decrypt: it was changed, or the key in"
            f" {ring.source} is not the one it was written with"
        ) from None
    return plain.decode("utf-8")
