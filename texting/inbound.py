"""Provider events as texting sees them (registered in TextingConfig.ready()).

An inbound SMS lands on the sender's contact record as `sms_received`, attributed to the
campaign it answers: the campaign of the most recent message this account sent that
person from the number they wrote to (texting.selectors.message_replied_to). That id is
what the Status tab's `replied` counts. Delivery receipts go to texting.receipts; ones
for messages we do not know yet park (providers.services.rematch_parked).
"""

from contacts.models import EventType
from contacts.phones import try_normalize_phone
from contacts.services import contact_for_phone, engagement_record
from phone_numbers.selectors import number_owner
from providers.base import WebhookEvent
from providers.hooks import EventOutcome, UnprocessableEvent

from . import live
from .receipts import apply_receipt
from .selectors import message_replied_to

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
    answered = message_replied_to(account=owner.account, phone=sender, our_number=owner.e164)
    campaign_id = answered.campaign_id if answered else None
    data = {
        "text": event.text,
        "provider_message_id": event.message_id,
        "to": event.to_number,
        "media": event.media,
    }
    if answered is not None:
        data["in_reply_to"] = answered.pk
    engagement_record(
        contact=contact,
        type=EventType.SMS_RECEIVED,
        at=event.occurred_at,
        campaign_id=campaign_id,
        data=data,
    )
    live.campaign_changed(campaign_id)  # `replied` may have moved (after commit; no-op for None)
    return EventOutcome.PROCESSED
