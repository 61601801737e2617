"""Inbound SMS for tests: a Telnyx `message.received` envelope as the simulator builds
it, and the same stored and applied the way the webhook worker applies it."""

import uuid

from providers.services import webhook_event_process, webhook_event_store
from providers.simulator import events


def inbound(from_: str, to: str, text: str, *, message_id: str | None = None) -> dict:
    return events.message_received(
        message_id=message_id or str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        from_=from_,
        to=to,
        text=text,
        parts=1,
        encoding="GSM-7",
    )


def text_in(from_: str, to: str, text: str, *, message_id: str | None = None) -> dict:
    """An inbound SMS, stored and applied like the webhook worker applies it; returns
    its envelope (`["data"]["payload"]["id"]` is the provider's message id)."""
    envelope = inbound(from_, to, text, message_id=message_id)
    assert webhook_event_process(event_pk=webhook_event_store(envelope=envelope)) == "processed"
    return envelope
