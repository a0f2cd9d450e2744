"""`kap setup`: bring the database up to date, check the encryption keys, load the built-in guide."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from kap.accounts import setup_code
from kap.content.sync import ensure_default_pack
from kap.journal import word_index
from kap.ops.keys import KeyProblem, verify_keys
from kap.ops.locks import setup_lock

# Up to this many records, `kap setup` builds a missing search index itself (a few seconds).
INLINE_INDEX_RECORDS = 2_000


class Command(BaseCommand):
    help = "Bring the database up to date and load the built-in guide (quick when nothing changed)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-setup-code",
            action="store_true",
            help="print no first-run set-up code (`kap serve` prints its own)",
        )

    def handle(self, **options):
        # Two servers starting together: one migrates, the other waits, then finds nothing to do.
        with setup_lock():
            call_command("migrate", interactive=False, verbosity=0)
            try:
                verify_keys()
            except KeyProblem as e:
                raise CommandError(str(e)) from None
            result = ensure_default_pack()
            # Records made before the search index existed (or bulk-written): index them once,
            # here when there are few; else `kap search reindex` (with its progress bar) does it,
            # while the app serves: years of records take minutes, not for every start-up to wait.
            missing = word_index.needs_building()
            small = missing and word_index.records_count() <= INLINE_INDEX_RECORDS
            built = word_index.reindex_everyone() if small else None
        if missing and not small:
            self.stdout.write(
                "Search finds records written before this version once `kap search reindex`"
                " has run (it shows its progress; the app can serve meanwhile)."
            )
        if built:
            who = "1 person" if built[0] == 1 else f"{built[0]} people"
            self.stdout.write(f"Built the search index of {who}'s words.")
        if result and result.changed:
            self.stdout.write(f"Loaded the guide: {result.pack}")
        # While no account exists: the one-time code for /setup/ (kap.accounts.setup_code).
        if not options["no_setup_code"] and (code := setup_code.issue_if_needed()):
            self.stdout.write(setup_code.console_message(code, settings.BASE_URL))
