from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from . import signals
        from .forms import AdminLoginForm

        signals.connect()
        # The admin's sign-in page counts wrong passwords like ours (accounts.services).
        admin.site.login_form = AdminLoginForm
