from django.core.management.base import BaseCommand, CommandError

from accounts.services import AccountError, account_create


class Command(BaseCommand):
    help = "Create an account (tenant) with its first admin user."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin", required=True, help="username of the first admin")
        parser.add_argument("--password", help="password (required when the user is new)")

    def handle(self, *args, slug, name, admin, password, **options):
        try:
            account = account_create(
                slug=slug, name=name, admin_username=admin, admin_password=password
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Created account '{account.slug}' with admin '{admin}'.")
        )
