"""`kap clinic create NAME --admin EMAIL`: a clinic and its first admin, who chooses a password
through the one-time link printed here."""

from django.core.management.base import BaseCommand, CommandError

from kap.accounts import onboarding


class Command(BaseCommand):
    help = "Create a clinic and its first admin; prints a one-time link to choose a password."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the clinic's name")
        parser.add_argument("--admin", required=True, metavar="EMAIL", help="the first admin")
        parser.add_argument("--admin-name", default="", help="the admin's name (optional)")

    def handle(self, name, admin, admin_name, **options):
        try:
            clinic, user = onboarding.create_clinic(
                name=name, admin_email=admin, admin_name=admin_name
            )
        except onboarding.Refused as e:
            raise CommandError(f"{e}; nothing was changed") from None
        self.stdout.write(
            f"Created the clinic {clinic.name!r} (id {clinic.pk}) and its admin {user.email}.\n"
            f"Give this one-time link to {user.email}, to choose a password; it works once, "
            f"for {onboarding.link_lifetime()}:\n\n"
            f"    {onboarding.set_password_link(user)}\n\n"
            "If it expires, they use “Forgot your password?” on the login page. At their first "
            "login they set up a second factor (an authenticator app)."
        )
