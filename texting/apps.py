from django.apps import AppConfig


class TextingConfig(AppConfig):
    name = "texting"

    def ready(self) -> None:
        # providers cannot import texting; texting tells it who applies provider events.
        from compliance.hooks import (
            register_confirmation_needed,
            register_opted_in,
            register_phones_released,
            register_phones_suppressed,
        )
        from providers.hooks import register_event_handler

        from .dispatch import opt_out_unmark
        from .inbound import handle_provider_event
        from .suppression import dnc_marks_clear, messages_stop_to_phones

        register_event_handler(handle_provider_event)
        # compliance cannot import texting; a phone put on the DNC list stops what waits.
        register_phones_suppressed(messages_stop_to_phones)
        register_phones_released(dnc_marks_clear)
        # A consent record opted a contact back in: the dispatcher's opt-out mark goes.
        register_opted_in(opt_out_unmark)
        # A double opt-in made a contact pending: they are asked to reply YES.
        from .keywords import confirmation_request_queue

        register_confirmation_needed(confirmation_request_queue)
        # contacts cannot import texting; the audience filter language's fields over
        # message history come from here.
        from contacts.filters import register_history_field

        from .audience import (
            messaged_field_check,
            messaged_field_matches,
            replied_field_check,
            replied_field_matches,
        )

        register_history_field(
            "replied_to_campaign", check=replied_field_check, matches=replied_field_matches
        )
        register_history_field(
            "messaged_within_hours", check=messaged_field_check, matches=messaged_field_matches
        )
