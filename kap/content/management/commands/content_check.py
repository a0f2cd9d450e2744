from django.core.management.base import BaseCommand, CommandError

from kap.content.loader import PackInvalid, read_pack
from kap.content.translations import untranslated


class Command(BaseCommand):
    help = "Validate a content pack and report every problem with its file, field and reason."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, path, **options):
        try:
            bundle = read_pack(path)
        except PackInvalid as e:
            for err in e.errors:
                self.stderr.write(str(err))
            raise CommandError(f"{path}: {len(e.errors)} problem(s) found") from None
        s = bundle.spec
        self.stdout.write(
            f"{s.key} v{s.version}: OK — {len(bundle.pages)} pages,"
            f" {len(bundle.instruments)} instruments, {len(s.safety_rules)} safety rules"
        )
        pages = {ref.slug: ref.file for ref in s.pages}
        for lang, text in bundle.translations.items():
            left = untranslated(s, pages, bundle.instruments, text)
            state = f"{len(left)} text(s) shown in {s.language}" if left else "complete"
            self.stdout.write(f"  {lang}: {state} ({text.review})")
            for where in left:
                self.stdout.write(f"    {where}")
