from django.core.management.base import BaseCommand, CommandError

from kap.care.audit import verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; exit 1 naming each edited or deleted row."

    def handle(self, **options):
        count, problems = verify()
        for p in problems:
            self.stderr.write(str(p))
        if problems:
            raise CommandError(f"audit trail: {len(problems)} problem(s) in {count} rows")
        self.stdout.write(f"audit trail OK: {count} rows, chain intact")
