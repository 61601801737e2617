from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self) -> None:
        from accounts.hooks import register_timezone_changed

        from .services import contacts_follow_account_timezone

        register_timezone_changed(contacts_follow_account_timezone)
