from django.conf import settings
from django.core.management.base import BaseCommand

from kap.journal import reminders
from kap.journal.tasks import enqueue_reminders


class Command(BaseCommand):
    help = "Queue the e-mail reminder check for `kap worker`, or with --now run it here."

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="send due reminders now")

    def handle(self, *, now: bool, **options):
        if not settings.SMTP_HOST:
            self.stdout.write("E-mail is not set up (KAP_SMTP_HOST), so there is nothing to send.")
            return
        if now:
            sent = reminders.send_due_reminders()
            self.stdout.write(f"Sent {sent} reminder{'s' if sent != 1 else ''}.")
        else:
            enqueue_reminders()
            self.stdout.write("Queued the reminder check; `kap worker` will send what is due.")
