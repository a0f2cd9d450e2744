"""Shared by the reliability tests: run the app in child processes against a real data dir, and
read SQLite files raw (every row of every table, as stored)."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def sqlite_dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (schema too), as raw tuples ordered by primary key."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: dict[str, list[tuple]] = {
            "(schema)": list(
                conn.execute(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
                )
            )
        }
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            info = list(conn.execute(f'PRAGMA table_info("{table}")'))
            pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
            order = ", ".join(f'"{c}"' for c in pk) or "rowid"
            out[table] = list(conn.execute(f'SELECT * FROM "{table}" ORDER BY {order}'))
        return out
    finally:
        conn.close()


def integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


class RawKeys:
    """Decrypts stored values with a data dir's key file, without Django (for checks from the
    test process against another data dir)."""

    def __init__(self, keys_file: Path):
        data = json.loads(keys_file.read_text())
        self.current = data["current"]
        self.keys = {k: base64.b64decode(v) for k, v in data["keys"].items()}

    def decrypt(self, value: str) -> str:
        prefix, key_id, b64 = value.split(":", 2)
        blob = base64.b64decode(b64)
        aad = f"{prefix}:{key_id}".encode()
        return AESGCM(self.keys[key_id]).decrypt(blob[:12], blob[12:], aad).decode()
