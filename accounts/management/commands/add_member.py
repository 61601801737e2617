from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, Role
from accounts.services import AccountError, membership_add


class Command(BaseCommand):
    help = "Add a user to an account with a role (creates the user if needed)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="password (required when the user is new)")

    def handle(self, *args, slug, username, role, password, **options):
        account = Account.objects.filter(slug=slug).first()
        if account is None:
            raise CommandError(f"No account with slug '{slug}'.")
        try:
            membership_add(account=account, username=username, role=role, password=password)
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"'{username}' is now {role} of '{slug}'."))
