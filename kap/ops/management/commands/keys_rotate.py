"""`kap keys rotate [--drop-old]`: a new encryption key, and every encrypted value rewritten
under it. Safe to stop and run again: values already under the current key are skipped."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console

from kap.lib import crypto
from kap.ops import rotation
from kap.ops.keys import KeyProblem, verify_keys
from kap.ops.progress import reencrypt_with_bar


class Command(BaseCommand):
    help = (
        "Make a new encryption key current and re-encrypt every encrypted value with it (old keys"
        " are kept so nothing becomes unreadable). If an earlier run stopped half-way, this run"
        " finishes it instead of making another key. --drop-old: afterwards, remove the old keys."
        " Run it with the app stopped, or restart the app right after."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--drop-old",
            action="store_true",
            help="after a complete pass, remove the old keys (refused while any value uses them)",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, drop_old=False, batch_size=500, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        crypto.reset_keyring_cache()
        self._verify()  # the keys in hand are the right ones, before anything is rewritten
        ring = crypto.keyring()
        pending = rotation.values_not_under(ring.current)
        from_env = ring.source == crypto.ENV_VAR

        if pending:
            n = sum(pending.values())
            console.print(
                f"Finishing an earlier rotation: {n} value(s) are not yet under the current key"
                f" {ring.current}; re-encrypting them (no new key is made)."
            )
        elif from_env and not drop_old:
            key_id, key = rotation.new_key()
            console.print(
                f"The keys come from {crypto.ENV_VAR}, which kap cannot change. The new key"
                f" {key_id} is below, first (current), followed by the keys in use now:\n"
            )
            console.print(rotation.env_line(key_id, key), soft_wrap=True)
            console.print(
                f"\nSet this as {crypto.ENV_VAR} on every app server and restart them, then run"
                " `kap keys rotate` again to re-encrypt everything under the new key. Nothing was"
                " changed yet. Keep a copy of the new value somewhere safe: without it, text"
                " written after the change cannot be read."
            )
            return
        elif not from_env:
            key_id, key = rotation.new_key()
            old = sorted(ring.keys)
            rotation.add_current_key(key_id, key)
            self._verify()  # writes the new key's canary
            console.print(
                f"New key {key_id} is now current in {crypto.keys_path()} (old keys kept:"
                f" {', '.join(old)})."
            )

        ring = crypto.keyring()
        total = rotation.count_rows()
        result = reencrypt_with_bar(
            console,
            current=ring.current,
            total=total,
            batch_size=batch_size,
            stopped="key rotation stopped",
        )
        if result.changed_meanwhile:
            console.print(
                f"{result.changed_meanwhile} row(s) were edited by the app during the pass and"
                " were left as saved; run `kap keys rotate` again to finish them."
            )
        if drop_old:
            try:
                dropped = rotation.drop_old_keys()
            except rotation.RotationError as e:
                raise CommandError(str(e)) from None
            self._verify()
            if dropped:
                console.print(f"Removed the old key(s) {', '.join(dropped)} from the key file.")
                console.print(
                    "Backups made before this rotation need the old key(s): keep the old copy"
                    " of the key file with them."
                )
            else:
                console.print("There were no old keys to remove.")
        if not from_env:
            console.print(
                f"Copy the key file {crypto.keys_path()} somewhere safe, away from the database"
                " and its backups: text written from now on can only be read with it."
                " A running app reads the changed file within a second, without a restart."
            )

    def _verify(self) -> None:
        try:
            verify_keys()
        except KeyProblem as e:
            raise CommandError(f"key rotation not started: {e}") from None
