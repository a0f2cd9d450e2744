"""Key rotation: re-encrypt every encrypted value under the current key, then drop old keys.

Which columns are encrypted is found from the models (every EncryptedTextField and
EncryptedJSONField of every installed model), never from a list kept by hand. Values are read and
written as raw column text, so a value already under the current key is recognised by its
``enc1:<key id>:`` prefix and skipped without decrypting it: a pass is idempotent, and a pass that
stopped half-way (a crash, a damaged value) is finished by running it again.

Two ways to rotate. `kap keys rotate` does it all at once, for a single server (or with the app
stopped). A clinic with several app servers stages it, and no server ever meets a value it cannot
read: `kap keys add` (a new key, readable but not yet used for writing; copy the key file to every
server), `kap keys use KEY_ID` (write new values with it; copy the file again), `kap keys
reencrypt` (rewrite old values under it, resumable), `kap keys retire` (drop the keys no value
uses any more). Servers read a changed key file by themselves (kap.lib.crypto).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connections, transaction

from kap.lib import crypto
from kap.lib.fields import EncryptedJSONField, EncryptedTextField
from kap.ops.models import KeyCanary

ENCRYPTED_FIELDS = (EncryptedTextField, EncryptedJSONField)


class RotationError(Exception):
    """Rotation stopped; the message names the table, row and column and says what to do."""


@dataclass(frozen=True)
class EncryptedTable:
    """One table and its encrypted columns."""

    label: str  # app_label.ModelName
    table: str
    pk: str
    columns: tuple[str, ...]
    fields: tuple[str, ...]


def encrypted_tables() -> list[EncryptedTable]:
    found: dict[str, EncryptedTable] = {}
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or opts.swapped:
            continue
        enc = [f for f in opts.local_concrete_fields if isinstance(f, ENCRYPTED_FIELDS)]
        if not enc or opts.db_table in found:
            continue
        found[opts.db_table] = EncryptedTable(
            label=opts.label,
            table=opts.db_table,
            pk=opts.pk.column,
            columns=tuple(f.column for f in enc),
            fields=tuple(f.name for f in enc),
        )
    return sorted(found.values(), key=lambda t: t.table)


def encrypted_columns() -> list[tuple[str, str]]:
    return [(t.table, c) for t in encrypted_tables() for c in t.columns]


def _key_id(value: str) -> str | None:
    """The key id of a raw stored value, or None if it is not an `enc1:` value at all."""
    parts = value.split(":", 2)
    if len(parts) != 3 or parts[0] != crypto.PREFIX:
        return None
    return parts[1]


def _rows(using: str, table: EncryptedTable, chunk: int = 2000) -> Iterator[tuple]:
    connection = connections[using]
    q = connection.ops.quote_name
    cols = ", ".join(q(c) for c in table.columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {q(table.pk)}, {cols} FROM {q(table.table)}")
        while rows := cursor.fetchmany(chunk):
            yield from rows


def key_usage(using: str = "default") -> dict[str, Counter]:
    """{table: Counter({key id: number of values})} over every encrypted column; values that are
    not encrypted at all are counted under the key id "(not encrypted)"."""
    usage: dict[str, Counter] = {}
    for table in encrypted_tables():
        counts: Counter = Counter()
        for row in _rows(using, table):
            for value in row[1:]:
                if value is not None:
                    counts[_key_id(value) or "(not encrypted)"] += 1
        if counts:
            usage[table.table] = counts
    return usage


def values_not_under(key_id: str, using: str = "default") -> dict[str, int]:
    """{table: number of values} that are not (yet) encrypted with `key_id`."""
    out = {}
    for table, counts in key_usage(using).items():
        n = sum(c for k, c in counts.items() if k != key_id)
        if n:
            out[table] = n
    return out


def count_rows(using: str = "default") -> int:
    connection = connections[using]
    q = connection.ops.quote_name
    total = 0
    with connection.cursor() as cursor:
        for table in encrypted_tables():
            cursor.execute(f"SELECT COUNT(*) FROM {q(table.table)}")
            total += cursor.fetchone()[0]
    return total


@dataclass
class PassResult:
    rows: int = 0  # rows looked at
    rewritten: int = 0  # values re-encrypted
    skipped_current: int = 0  # values already under the current key
    changed_meanwhile: int = 0  # rows the app changed between our read and our write (left as is)
    per_table: Counter = field(default_factory=Counter)


def reencrypt_all(
    *,
    using: str = "default",
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> PassResult:
    """Re-encrypt every value that is not under the current key, in batches of rows, one
    transaction per batch. Stops with RotationError at the first value that does not decrypt; that
    batch is rolled back, earlier batches stay done (and stay readable: old keys are kept)."""
    ring = crypto.keyring()
    current = ring.current
    connection = connections[using]
    q = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    result = PassResult()
    for table in encrypted_tables():
        cols = ", ".join(q(c) for c in table.columns)
        last = None
        while True:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                # Read and write in one transaction, with the rows locked (PostgreSQL) or the
                # database's write lock held (SQLite: transactions are IMMEDIATE): an edit the
                # app makes meanwhile is never overwritten with the older text.
                where = f" WHERE {q(table.pk)} > %s" if last is not None else ""
                cursor.execute(
                    f"SELECT {q(table.pk)}, {cols} FROM {q(table.table)}{where}"
                    f" ORDER BY {q(table.pk)} LIMIT %s{lock}",
                    [*([last] if last is not None else []), batch_size],
                )
                rows = cursor.fetchall()
                if not rows:
                    break
                for pk, *values in rows:
                    changes = {}
                    for column, name, value in zip(
                        table.columns, table.fields, values, strict=True
                    ):
                        if value is None:
                            continue
                        key_id = _key_id(value)
                        if key_id == current:
                            result.skipped_current += 1
                            continue
                        where_row = f"{table.table} row {table.pk}={pk} ({table.label}.{name})"
                        if key_id is None:
                            raise RotationError(
                                f"{where_row} holds a value that is not encrypted text;"
                                " nothing was changed for this row"
                            )
                        try:
                            plain = crypto.decrypt(value)
                        except (crypto.DecryptionError, crypto.KeyError_) as e:
                            raise RotationError(
                                f"{where_row} cannot be decrypted: {e}. Nothing was changed for"
                                " this row. Restore it from a backup (or, if its text is lost,"
                                " clear it), then run `kap keys rotate` again to finish: values"
                                " already re-encrypted stay readable, the old keys are kept."
                            ) from None
                        changes[column] = (value, crypto.encrypt(plain))
                    if changes:
                        sets = ", ".join(f"{q(c)} = %s" for c in changes)
                        same = " AND ".join(f"{q(c)} = %s" for c in changes)
                        cursor.execute(
                            f"UPDATE {q(table.table)} SET {sets} WHERE {q(table.pk)} = %s"
                            f" AND {same}",
                            [
                                *(new for _, new in changes.values()),
                                pk,
                                *(old for old, _ in changes.values()),
                            ],
                        )
                        if cursor.rowcount == 1:
                            result.rewritten += len(changes)
                            result.per_table[table.table] += len(changes)
                        else:
                            result.changed_meanwhile += 1
                last = rows[-1][0]
            result.rows += len(rows)
            if progress is not None:
                progress(len(rows))
    return result


# --- Keys -----------------------------------------------------------------------------------------


def new_key() -> tuple[str, bytes]:
    return crypto.new_key()


def add_current_key(key_id: str, key: bytes) -> None:
    """Make a new key current in the key file, keeping every old key (file keyrings only)."""
    ring = crypto.keyring()
    crypto.write_keyring(crypto.keys_path(), key_id, {**ring.keys, key_id: key})
    crypto.reset_keyring_cache()


def env_line(key_id: str, key: bytes) -> str:
    """The KAP_ENCRYPTION_KEYS value with a new key first (current) and the old keys after it."""
    ring = crypto.keyring()
    return f"{crypto.ENV_VAR}={crypto.env_value({key_id: key, **ring.keys})}"


def _ordered(current: str, keys: dict[str, bytes]) -> dict[str, bytes]:
    """The keys with `current` first (the order KAP_ENCRYPTION_KEYS gives them in)."""
    return {current: keys[current], **{k: v for k, v in keys.items() if k != current}}


def add_key() -> tuple[str, crypto.Keyring]:
    """Stage 1: a new key that every server can read but none writes with yet. With a key file
    it is added there; with KAP_ENCRYPTION_KEYS nothing changes here (the caller prints the new
    value). Returns the new key's id and the keyring to distribute."""
    ring = crypto.keyring()
    key_id, key = new_key()
    keys = {**_ordered(ring.current, ring.keys), key_id: key}
    new_ring = crypto.Keyring(ring.current, keys, ring.source)
    if ring.source != crypto.ENV_VAR:
        crypto.write_keyring(crypto.keys_path(), ring.current, keys)
        crypto.reset_keyring_cache()
    return key_id, new_ring


def use_key(key_id: str) -> crypto.Keyring:
    """Stage 2: make a key of the ring current (new values are written with it). Raises
    RotationError, changing nothing, for a key that is not in the ring. With a key file the file
    is changed; with KAP_ENCRYPTION_KEYS the caller prints the reordered value."""
    ring = crypto.keyring()
    if key_id not in ring.keys:
        raise RotationError(
            f"there is no key {key_id!r} in {ring.source} (it holds {', '.join(sorted(ring.keys))});"
            " nothing was changed. Add one with `kap keys add` first"
        )
    new_ring = crypto.Keyring(key_id, _ordered(key_id, ring.keys), ring.source)
    if ring.source != crypto.ENV_VAR and ring.current != key_id:
        crypto.write_keyring(crypto.keys_path(), key_id, new_ring.keys)
        crypto.reset_keyring_cache()
    return new_ring


@dataclass
class Retirement:
    dropped: list[str]  # keys removed (with a key file) or to remove (KAP_ENCRYPTION_KEYS)
    still_used: dict[str, int]  # old key id -> number of values still written with it
    ring: crypto.Keyring  # the keys left


def retire_unused_keys(using: str = "default") -> Retirement:
    """Stage 4: drop every key but the current one that no encrypted value uses any more (their
    canaries first, so a crash between the two steps leaves a key file that still starts). Keys
    still in use are kept and counted. With KAP_ENCRYPTION_KEYS nothing is written: the caller
    prints the value without the dropped keys."""
    ring = crypto.keyring()
    used: Counter = Counter()
    for counts in key_usage(using).values():
        used.update(counts)
    old = [k for k in ring.keys if k != ring.current]
    unused = [k for k in old if not used.get(k)]
    still = {k: used[k] for k in old if used.get(k)}
    left = {k: v for k, v in ring.keys.items() if k not in unused}
    new_ring = crypto.Keyring(ring.current, _ordered(ring.current, left), ring.source)
    if unused:
        with transaction.atomic(using=using):
            KeyCanary.objects.using(using).filter(key_id__in=unused).delete()
        if ring.source != crypto.ENV_VAR:
            crypto.write_keyring(crypto.keys_path(), ring.current, new_ring.keys)
            crypto.reset_keyring_cache()
    return Retirement(dropped=unused, still_used=still, ring=new_ring)


def drop_old_keys(using: str = "default") -> list[str]:
    """Remove every key but the current one. Refuses (RotationError) while any value still uses
    an old key. The old keys' canaries go first, so a crash between the two steps leaves a key
    file that still starts. Returns the ids dropped. With KAP_ENCRYPTION_KEYS, the environment
    cannot be edited from here: the canaries go and RotationError says what to remove."""
    ring = crypto.keyring()
    old = sorted(k for k in ring.keys if k != ring.current)
    left = values_not_under(ring.current, using)
    if left:
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(left.items()))
        raise RotationError(
            f"not dropping the old keys: values still use them in {listed}."
            " Run `kap keys rotate` again to finish re-encrypting them"
        )
    with transaction.atomic(using=using):
        KeyCanary.objects.using(using).exclude(key_id=ring.current).delete()
    if not old:
        return []
    if ring.source == crypto.ENV_VAR:
        raise RotationError(
            f"the keys come from {crypto.ENV_VAR}, which kap cannot change. No value uses the"
            f" old key(s) {', '.join(old)} any more: remove them from {crypto.ENV_VAR} on every"
            f" app server, keeping only the entry that starts with '{ring.current}:', and restart"
        )
    crypto.write_keyring(crypto.keys_path(), ring.current, {ring.current: ring.keys[ring.current]})
    crypto.reset_keyring_cache()
    return old
