from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # texting cannot import conversations; it tells us about every inbound message
        # (in the inbound transaction) and we file it in its thread.
        from texting.hooks import register_inbound_message

        from .services import conversation_from_hook

        register_inbound_message(conversation_from_hook)

        # Live inbox (conversations.live): every thread change, and delivery status
        # moving on outbound messages, pushed to the account's open pages.
        from texting.hooks import register_outbound_changed

        from . import live
        from .services import register_conversation_listener

        register_conversation_listener(live.on_conversation_event)
        register_outbound_changed(live.on_outbound_changed)
