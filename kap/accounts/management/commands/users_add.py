import getpass
import sys

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kap.accounts.models import Role, User


class Command(BaseCommand):
    help = "Add an account. The password is read from a prompt, or from stdin when piped."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.CLIENT)
        parser.add_argument("--name", default="")

    def handle(self, email, role, name, **options):
        email = email.strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"an account for {email} already exists")
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
        User.objects.create_user(email, password, display_name=name, role=role)
        self.stdout.write(f"Added {role} {email}")
