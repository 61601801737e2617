from django.apps import AppConfig


class PhoneNumbersConfig(AppConfig):
    # The package cannot be called `numbers`: that would shadow the standard library's
    # `numbers` module (which `decimal` imports). The app label keeps the design's name.
    name = "phone_numbers"
    label = "numbers"
    verbose_name = "Numbers"
