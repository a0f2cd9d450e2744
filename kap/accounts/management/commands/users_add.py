import getpass
import sys

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kap.accounts.models import Clinic, Role, User


class Command(BaseCommand):
    help = "Add an account. The password is read from a prompt, or from stdin when piped."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.CLIENT)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--clinic", default="", help="therapists and admins: the clinic's id or exact name"
        )

    def handle(self, email, role, name, clinic, **options):
        email = email.strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"an account for {email} already exists")
        found = _clinic(clinic, role)
        if sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if getpass.getpass("Password again: ") != password:
                raise CommandError("the two passwords are not the same; nothing was changed")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("no password given; nothing was changed")
        user = User(email=email, display_name=name, role=role)
        try:
            password_validation.validate_password(password, user)
        except ValidationError as e:
            raise CommandError("password refused: " + " ".join(e.messages)) from None
        User.objects.create_user(email, password, display_name=name, role=role, clinic=found)
        self.stdout.write(f"Added {role} {email}")


def _clinic(given: str, role: str) -> Clinic | None:
    """Therapists and admins belong to a clinic (`--clinic`, by id or exact name); clients to
    none."""
    given = given.strip()
    if role == Role.CLIENT:
        if given:
            raise CommandError(
                "clients belong to no clinic (they link with therapists); leave out --clinic"
            )
        return None
    if not given:
        names = ", ".join(f"{c.pk}: {c.name}" for c in Clinic.objects.order_by("pk")[:20])
        raise CommandError(
            f"a {role} belongs to a clinic: add --clinic ID or --clinic NAME"
            + (f" (clinics: {names})" if names else " (none yet: `kap clinic create` makes one)")
        )
    matches = list(Clinic.objects.filter(pk=int(given))) if given.isdigit() else []
    matches = matches or list(Clinic.objects.filter(name__iexact=given)[:2])
    if not matches:
        raise CommandError(f"no clinic {given!r}; `kap clinic create` makes one")
    if len(matches) > 1:
        raise CommandError(f"more than one clinic is named {given!r}: give its id instead")
    return matches[0]
