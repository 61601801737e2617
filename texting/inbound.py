"""Provider events as texting sees them (registered in TextingConfig.ready()).

An inbound SMS lands on the sender's contact record as `sms_received`, attributed to the
campaign it answers: the campaign of the most recent message this account sent that
person from the number they wrote to (texting.selectors.message_replied_to). That id is
what the Status tab's `replied` counts. Its keyword (STOP, HELP, START; see
compliance.keywords) is applied right then, in the same transaction, before anything
else sees the message (texting.keywords). The text itself is stored as an inbound
`Message` row (`inbound_message_store`), and the inbound-message hook (texting.hooks;
conversations files it in its thread) runs last, in the same transaction. Delivery
receipts go to texting.receipts; ones for messages we do not know yet park
(providers.services.rematch_parked).

Applied once: the provider event is stored and applied once (providers.services, by
its event id), and a message the provider sends again under a new event id is
recognised by its message id on the contact's history and not applied again.
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from compliance.keywords import classify
from contacts.models import Contact, EventType
from contacts.phones import try_normalize_phone
from contacts.selectors import inbound_already_recorded
from contacts.services import contact_for_phone, contact_lock, engagement_record
from phone_numbers.selectors import number_owner
from providers.base import WebhookEvent
from providers.hooks import EventOutcome, UnprocessableEvent

from . import hooks, live
from .keywords import inbound_keyword_apply
from .models import Direction, Message, MessageStatus
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
    contact, contact_created = contact_for_phone(account=owner.account, phone=sender)
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
        message = inbound_message_store(
            event=event, account=owner.account, contact=contact, our_number=owner.e164
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
        # The conversation (an app above) files it in its thread (texting.hooks).
        hooks.inbound_message_stored(
            hooks.InboundMessage(
                message=message, contact_created=contact_created, campaign_id=campaign_id
            )
        )
    live.campaign_changed(campaign_id)  # `replied`, `opted out` may have moved (after commit)
    return EventOutcome.PROCESSED


def inbound_message_store(
    *, event: WebhookEvent, account: Account, contact: Contact, our_number: str
) -> Message:
    """The inbound SMS as a `Message` row (direction inbound, status received), stamped
    with when the provider says it arrived. No campaign: the campaign it answers is on
    the `sms_received` history event (what `replied` counts) and on the conversation;
    the row stays out of the campaign's counts and its one-per-contact constraint. The
    provider's message id is unique, so a copy racing this one rolls back."""
    message = Message.objects.create(
        account=account,
        campaign=None,
        contact=contact,
        direction=Direction.INBOUND,
        from_number=contact.phone,
        to_number=our_number,
        body=event.text or "",
        segments=max(1, int(event.parts or 1)),
        status=MessageStatus.RECEIVED,
        send_after=event.occurred_at or timezone.now(),
        provider_message_id=event.message_id or None,
        media=list(event.media) or None,
    )
    if event.occurred_at is not None:
        # created_at is auto_now_add: the thread orders by when it was written to us.
        Message.objects.filter(pk=message.pk).update(created_at=event.occurred_at)
        message.created_at = event.occurred_at
    return message
