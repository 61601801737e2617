"""Provider events as texting sees them (registered in TextingConfig.ready()).

An inbound SMS lands on the sender's contact record as `sms_received`, attributed to the
campaign it answers: the campaign of the most recent message this account sent that
person from the number they wrote to (texting.selectors.message_replied_to). That id is
what the Status tab's `replied` counts. Its keyword (STOP, HELP, START; see
compliance.keywords) is applied right then, in the same transaction, before anything
else sees the message (texting.keywords). Delivery receipts go to texting.receipts; ones
for messages we do not know yet park (providers.services.rematch_parked).

Applied once: the provider event is stored and applied once (providers.services, by
its event id), and a message the provider sends again under a new event id is
recognised by its message id on the contact's history and not applied again.
"""

from django.db import transaction

from compliance.keywords import classify
from contacts.models import EventType
from contacts.phones import try_normalize_phone
from contacts.selectors import inbound_already_recorded
from contacts.services import contact_for_phone, contact_lock, engagement_record
from phone_numbers.selectors import number_owner
from providers.base import WebhookEvent
from providers.hooks import EventOutcome, UnprocessableEvent

from . import live
from .keywords import inbound_keyword_apply
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
    keyword = classify(event.text)
    with transaction.atomic():
        if keyword is not None:
            # Keywords from one phone apply one after another (and the duplicate check
            # below cannot race a copy of this message).
            contact_lock(contact=contact)
        if inbound_already_recorded(contact=contact, provider_message_id=event.message_id):
            return EventOutcome.PROCESSED
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
        if keyword is not None:
            inbound_keyword_apply(
                account=owner.account,
                contact=contact,
                match=keyword,
                our_number=owner.e164,
                campaign_id=campaign_id,
                at=event.occurred_at,
                data=data,
            )
    live.campaign_changed(campaign_id)  # `replied`, `opted out` may have moved (after commit)
    return EventOutcome.PROCESSED
