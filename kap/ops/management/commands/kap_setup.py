"""`kap setup`: bring the database up to date, check the encryption keys, load the built-in guide."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from kap.content.sync import ensure_default_pack
from kap.ops.keys import KeyProblem, verify_keys


class Command(BaseCommand):
    help = "Bring the database up to date and load the built-in guide (quick when nothing changed)."

    def handle(self, **options):
        call_command("migrate", interactive=False, verbosity=0)
        try:
            verify_keys()
        except KeyProblem as e:
            raise CommandError(str(e)) from None
        result = ensure_default_pack()
        if result and result.changed:
            self.stdout.write(f"Loaded the guide: {result.pack}")
