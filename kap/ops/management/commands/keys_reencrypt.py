"""`kap keys reencrypt`: the third stage of a staged rotation. Every value not yet under the
current key is rewritten under it, with a progress bar; safe to stop and run again."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console

from kap.lib import crypto
from kap.ops import rotation
from kap.ops.keys import KeyProblem, verify_keys
from kap.ops.progress import reencrypt_with_bar


class Command(BaseCommand):
    help = (
        "Re-encrypt every value that is not under the current key (no new key is made). Safe"
        " while the app runs, and to stop and run again: values already done are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, batch_size=500, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        crypto.reset_keyring_cache()
        try:
            verify_keys()
        except KeyProblem as e:
            raise CommandError(f"nothing was re-encrypted: {e}") from None
        ring = crypto.keyring()
        pending = rotation.values_not_under(ring.current)
        if not pending:
            console.print(f"Every value is already under the current key {ring.current}.")
            return
        console.print(
            f"{sum(pending.values())} value(s) are not yet under {ring.current}; re-encrypting them."
        )
        reencrypt_with_bar(
            console,
            current=ring.current,
            total=rotation.count_rows(),
            batch_size=batch_size,
            stopped="re-encryption stopped",
        )
        left = rotation.values_not_under(ring.current)
        if left:
            console.print(
                f"{sum(left.values())} value(s) were written meanwhile with another key (a server"
                " that does not use the new key yet?): run `kap keys reencrypt` again once every"
                " server has the current key file."
            )
        else:
            console.print("Done. `kap keys retire` now removes the keys no value uses.")
