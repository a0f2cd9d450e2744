"""`kap backup PATH`: the whole database in one file, consistent even while the app is writing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from kap.ops import backup
from kap.ops.housekeeping import record_outcome


class Command(BaseCommand):
    help = (
        "Back the database up into PATH (a directory: a dated file in it). SQLite: one consistent"
        " file, safe while the app runs. PostgreSQL: pg_dump --format=custom."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, path, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        db = connections["default"].settings_dict
        vendor = connections["default"].vendor
        dest = Path(path).expanduser()
        if dest.is_dir():
            dest = dest / backup.dated_name(vendor)
        if not dest.parent.is_dir():
            raise CommandError(f"the folder {dest.parent} does not exist")
        dest = dest.resolve()
        try:
            if vendor == "sqlite":
                src = Path(db["NAME"]).resolve()
                if src == dest:
                    raise CommandError("the backup cannot be the live database file itself")
                with Progress(
                    TextColumn("Backing up"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    task = bar.add_task("backup", total=None)
                    info = backup.backup_sqlite(
                        src,
                        dest,
                        progress=lambda done, total: bar.update(task, completed=done, total=total),
                    )
                size = info.size
            elif vendor == "postgresql":
                with Progress(
                    SpinnerColumn(),
                    TextColumn(f"Backing up {db['NAME']} with pg_dump"),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    bar.add_task("pg_dump", total=None)
                    size = backup.backup_postgres(db, dest)
            else:
                raise CommandError(f"backups of a {vendor} database are not supported")
        except backup.BackupError as e:
            record_outcome("backup", ok=False, message=f"backup not made: {e}")
            raise CommandError(f"backup not made: {e}") from None
        record_outcome("backup", ok=True, message=f"{dest.name}, {size / 1e6:.1f} MB")
        console.print(f"Backup written to {dest} ({size / 1e6:.1f} MB).")
        console.print(backup.KEY_REMINDER)
