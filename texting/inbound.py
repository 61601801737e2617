"""Provider events as texting sees them (registered in TextingConfig.ready()).

Today: an inbound SMS lands on the sender's contact record. Delivery receipts park until
the send engine's Message table exists to match them against (see providers.services
.rematch_parked, which the send engine calls once it knows a provider message id).
"""

from contacts.phones import try_normalize_phone
from contacts.services import contact_for_phone, engagement_record
from phone_numbers.selectors import number_owner
from providers.base import WebhookEvent
from providers.hooks import EventOutcome, UnprocessableEvent

from .receipts import apply_receipt

DELIVERY_EVENTS = frozenset({"message.sent", "message.finalized"})


def handle_provider_event(event: WebhookEvent) -> str:
    if event.event_type == "message.received":
        return inbound_message_record(event)
    if event.event_type in DELIVERY_EVENTS:
        return apply_receipt(event)
    return EventOutcome.PROCESSED  # events we do not act on (10dlc.*, message.read, ...)


def inbound_message_record(event: WebhookEvent) -> str:
    owner = number_owner(e164=event.to_number)
    if owner is None:
        raise UnprocessableEvent(f"no account owns {event.to_number or '(no to number)'}")
    sender = try_normalize_phone(event.from_number)
    if sender is None:
        raise UnprocessableEvent(f"the sender {event.from_number!r} is not a phone number")
    contact, _ = contact_for_phone(account=owner.account, phone=sender)
    engagement_record(
        contact=contact,
        type="sms_received",
        at=event.occurred_at,
        data={
            "text": event.text,
            "provider_message_id": event.message_id,
            "to": event.to_number,
            "media": event.media,
        },
    )
    return EventOutcome.PROCESSED
