"""`kap keys use KEY_ID`: the second stage of a staged rotation. New values are written with the
key from now on (after `kap keys add` has put it on every server)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kap.lib import crypto
from kap.ops import rotation
from kap.ops.keys import KeyProblem, verify_keys


class Command(BaseCommand):
    help = (
        "Make KEY_ID (added with `kap keys add`) the current key: new values are encrypted with"
        " it. Then copy the key file to every server again and run `kap keys reencrypt`."
    )

    def add_arguments(self, parser):
        parser.add_argument("key_id")

    def handle(self, key_id, **options):
        crypto.reset_keyring_cache()
        try:
            verify_keys()
            ring = rotation.use_key(key_id.strip())
        except KeyProblem as e:
            raise CommandError(f"the current key was not changed: {e}") from None
        except rotation.RotationError as e:
            raise CommandError(str(e)) from None
        if ring.source == crypto.ENV_VAR:
            self.stdout.write(
                f"The keys come from {crypto.ENV_VAR}, which kap cannot change. Set this value on"
                f" every app server and the worker, and restart them ({ring.current} first: the"
                " current key):\n"
            )
            self.stdout.write(f"{crypto.ENV_VAR}={crypto.env_value(ring.keys)}\n")
            self.stdout.write("Then run `kap keys reencrypt` (with the new value set).")
            return
        try:
            verify_keys()  # writes the new current key's check value
        except KeyProblem as e:
            raise CommandError(str(e)) from None
        self.stdout.write(
            f"Key {ring.current} is now current in {crypto.keys_path()}. Copy this key file to"
            " every app server and the worker again (they read it without a restart), then run"
            " `kap keys reencrypt` to rewrite older values under it."
        )
