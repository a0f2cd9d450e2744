"""`kap keys retire`: the last stage of a staged rotation. Keys that no value uses any more are
removed; keys still in use are kept and counted."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kap.lib import crypto
from kap.ops import rotation
from kap.ops.keys import KeyProblem, verify_keys


class Command(BaseCommand):
    help = (
        "Remove every key but the current one that no encrypted value uses. Run it once every"
        " server uses the current key and `kap keys reencrypt` has finished."
    )

    def handle(self, **options):
        crypto.reset_keyring_cache()
        try:
            verify_keys()
        except KeyProblem as e:
            raise CommandError(f"no key was retired: {e}") from None
        result = rotation.retire_unused_keys()
        for key_id, n in sorted(result.still_used.items()):
            self.stdout.write(
                f"Key {key_id} is kept: {n} value(s) still use it (run `kap keys reencrypt`)."
            )
        if not result.dropped:
            self.stdout.write("No key was retired.")
            return
        dropped = ", ".join(result.dropped)
        if result.ring.source == crypto.ENV_VAR:
            self.stdout.write(
                f"No value uses {dropped} any more. {crypto.ENV_VAR} cannot be changed from here:"
                " set this value on every app server and the worker, and restart them:\n"
            )
            self.stdout.write(f"{crypto.ENV_VAR}={crypto.env_value(result.ring.keys)}\n")
        else:
            self.stdout.write(
                f"Retired {dropped} from {crypto.keys_path()}. Copy this key file to every app"
                " server and the worker. Backups made before need the retired key(s): keep the"
                " old copy of the key file with them."
            )
