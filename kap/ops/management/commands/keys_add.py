"""`kap keys add`: the first stage of a rotation without downtime. A new key that every app server
can read, but that nothing is written with yet."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kap.lib import crypto
from kap.ops import rotation
from kap.ops.keys import KeyProblem, verify_keys


class Command(BaseCommand):
    help = (
        "Add a new encryption key, readable everywhere but not yet current. Then copy the key file"
        " to every app server (they read it without a restart) and run `kap keys use KEY_ID`."
    )

    def handle(self, **options):
        crypto.reset_keyring_cache()
        try:
            verify_keys()  # the keys in hand are the right ones, before anything is added
        except KeyProblem as e:
            raise CommandError(f"no key was added: {e}") from None
        key_id, ring = rotation.add_key()
        if ring.source == crypto.ENV_VAR:
            self.stdout.write(
                f"The keys come from {crypto.ENV_VAR}, which kap cannot change. Set this value on"
                " every app server and the worker, and restart them (the new key comes last: it"
                " is readable but not used for writing yet):\n"
            )
            self.stdout.write(f"{crypto.ENV_VAR}={crypto.env_value(ring.keys)}\n")
        else:
            self.stdout.write(
                f"Added key {key_id} to {crypto.keys_path()}; the current key is still"
                f" {ring.current}.\nCopy this key file to every app server and the worker (same"
                " path, mode 0600): running servers read it within a second, no restart needed."
            )
        self.stdout.write(
            f"Once every server has it (each one's /readyz answers ok), run `kap keys use {key_id}`."
        )
