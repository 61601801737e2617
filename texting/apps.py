from django.apps import AppConfig


class TextingConfig(AppConfig):
    name = "texting"

    def ready(self) -> None:
        # providers cannot import texting; texting tells it who applies provider events.
        from providers.hooks import register_event_handler

        from .inbound import handle_provider_event

        register_event_handler(handle_provider_event)
