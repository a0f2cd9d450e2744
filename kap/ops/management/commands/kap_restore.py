"""`kap restore PATH`: put a backup made by `kap backup` back, then check that it can be read."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from kap.lib import crypto
from kap.ops import backup
from kap.ops.keys import KeyProblem, verify_keys
from kap.ops.rotation import encrypted_columns


class Command(BaseCommand):
    help = (
        "Restore the database from a backup made by `kap backup`. Refuses to replace a database"
        " that holds data unless --force (a copy of it is kept first). Stop the app before."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that already holds data (a copy of it is kept first)",
        )

    def handle(self, path, force=False, **options):
        self.console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        src = Path(path).expanduser().resolve()
        vendor = connections["default"].vendor
        try:
            if vendor == "sqlite":
                self._restore_sqlite(src, force)
            elif vendor == "postgresql":
                self._restore_postgres(src, force)
            else:
                raise CommandError(f"restoring a {vendor} database is not supported")
        except backup.BackupError as e:
            raise CommandError(f"nothing was restored: {e}") from None
        self._verify(vendor)

    # --- SQLite -----------------------------------------------------------------------------------

    def _restore_sqlite(self, src: Path, force: bool) -> None:
        live = Path(connections["default"].settings_dict["NAME"]).resolve()
        if src == live:
            raise CommandError("that is the live database file itself, not a backup")
        backup.check_kap_sqlite(src)
        self._check_keys_for(
            backup.sqlite_key_ids(src, encrypted_columns()), backup.sqlite_canaries(src), src
        )
        connections.close_all()
        held = backup.sqlite_data_rows(live, backup.data_tables())
        kept = None
        if held:
            self._refuse_unless(force, held, live)
            kept = live.with_name(f"{live.name}.before-restore-{_stamp()}")
            backup.backup_sqlite(live, kept)
        with _BarContext(self.console) as (bar, task):
            backup.restore_sqlite(
                src,
                live,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        self.console.print(f"Restored {live} from {src}.")
        if kept:
            self.console.print(f"The database it replaced is kept at {kept}.")

    def _check_keys_for(self, key_ids: set[str], canaries: list[tuple], src: Path) -> None:
        """Before anything is replaced: every key the backup's text was written with is here,
        and each key's check value in the backup decrypts with the key of that id here."""
        if not key_ids:
            return
        if not (os.environ.get(crypto.ENV_VAR) or crypto.keys_path().exists()):
            raise CommandError(
                f"nothing was restored: there is no key file at {crypto.keys_path()} (and"
                f" {crypto.ENV_VAR} is not set). The text in this backup was written with key(s)"
                f" {', '.join(sorted(key_ids))}: copy the key file kept with the backup to"
                f" {crypto.keys_path()}, then run `kap restore` again"
            )
        try:
            ring = crypto.keyring()
        except (crypto.KeyError_, ValueError, KeyError) as e:
            raise CommandError(f"nothing was restored: the keys cannot be read: {e}") from None
        missing = sorted(k for k in key_ids if k not in ring.keys)
        if missing:
            raise CommandError(
                f"nothing was restored: the text in {src.name} was written with key(s)"
                f" {', '.join(missing)}, which are not in {ring.source} (it holds"
                f" {', '.join(sorted(ring.keys))}). Put the key file kept with this backup in"
                " place (or add its keys), then run `kap restore` again"
            )
        for key_id, value in canaries:
            try:
                crypto.decrypt(value)
            except (crypto.DecryptionError, crypto.KeyError_):
                raise CommandError(
                    f"nothing was restored: key {key_id!r} in {ring.source} is not the key this"
                    " backup was written with (its check value does not decrypt). Put the key"
                    " file kept with this backup in place, then run `kap restore` again"
                ) from None

    # --- PostgreSQL -------------------------------------------------------------------------------

    def _restore_postgres(self, src: Path, force: bool) -> None:
        db = connections["default"].settings_dict
        backup.check_pg_dump(src)
        # The keys first: a backup that cannot be read here replaces nothing.
        self._check_keys_for(*backup.pg_dump_keys(src, encrypted_columns()), src)
        held = self._pg_data_rows()
        kept = None
        if held:
            self._refuse_unless(force, held, db["NAME"])
            kept = Path(settings.DATA_DIR) / f"{db['NAME']}.before-restore-{_stamp()}.dump"
            backup.backup_postgres(db, kept)
        _close_all()
        with self.console.status(f"Restoring {db['NAME']} with pg_restore ..."):
            backup.restore_postgres(db, src)
        self.console.print(f"Restored the database {db['NAME']} from {src}.")
        if kept:
            self.console.print(f"The database it replaced is kept at {kept}.")

    def _pg_data_rows(self) -> dict[str, int]:
        connection = connections["default"]
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            present = set(connection.introspection.table_names(cursor))
            counts = {}
            for table in backup.data_tables():
                if table in present:
                    cursor.execute(f"SELECT COUNT(*) FROM {q(table)}")
                    if n := cursor.fetchone()[0]:
                        counts[table] = n
        return counts

    # --- Both -------------------------------------------------------------------------------------

    def _refuse_unless(self, force: bool, held: dict[str, int], where) -> None:
        if force:
            return
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(held.items())[:6])
        raise CommandError(
            f"nothing was restored: the database {where} already holds data ({listed}"
            f"{', ...' if len(held) > 6 else ''}). Restoring replaces all of it. Run"
            " `kap restore --force PATH` to replace it; a copy of it is kept first"
        )

    def _verify(self, vendor: str) -> None:
        _close_all()
        crypto.reset_keyring_cache()
        problems = []
        try:
            verify_keys()
            keys = "ok"
        except KeyProblem as e:
            keys = "FAILED"
            problems.append(str(e))
        integrity = "(PostgreSQL: not applicable)"
        if vendor == "sqlite":
            result = backup.integrity_check(Path(connections["default"].settings_dict["NAME"]))
            integrity = "ok" if result == ["ok"] else "FAILED"
            if result != ["ok"]:
                problems.append("integrity check: " + "; ".join(result[:5]))
        counts = backup.table_counts()
        table = Table(title="Rows per table", show_edge=False)
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, n in counts.items():
            table.add_row(name, str(n))
        self.console.print(table)
        self.console.print(f"Encryption keys: {keys}. Integrity check: {integrity}.")
        self.console.print(
            f"{sum(counts.values())} rows in {len(counts)} tables."
            " Start the app with `kap serve`; it brings the database schema up to date."
        )
        if problems:
            raise CommandError("the restored database has problems: " + " / ".join(problems))


class _BarContext:
    def __init__(self, console):
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("Restoring"),
            BarColumn(),
            DownloadColumn(),
            console=console,
        )

    def __enter__(self):
        self.progress.__enter__()
        return self.progress, self.progress.add_task("restore", total=None)

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _close_all() -> None:
    for conn in connections.all(initialized_only=True):
        conn.close()
        if hasattr(conn, "close_pool"):
            conn.close_pool()
