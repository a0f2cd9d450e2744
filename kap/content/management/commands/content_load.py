from django.core.management.base import BaseCommand, CommandError

from kap.content.loader import PackInvalid
from kap.content.sync import load_pack


class Command(BaseCommand):
    help = "Load a content pack. Loading the same pack again changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, path, **options):
        try:
            result = load_pack(path)
        except PackInvalid as e:
            for err in e.errors:
                self.stderr.write(str(err))
            raise CommandError(f"{path}: not loaded; nothing was changed") from None
        if not result.changed:
            self.stdout.write(f"{result.pack}: already loaded, nothing to do")
        else:
            added = ", ".join(result.new_instruments) or "none"
            self.stdout.write(f"{result.pack}: loaded (new instruments: {added})")
