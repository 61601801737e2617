"""Delivery receipts: message.sent / message.finalized move a message only forward."""

from django.utils import timezone

from contacts.models import Contact, EventType
from contacts.services import engagement_record
from providers.base import WebhookEvent
from providers.hooks import EventOutcome

from . import live
from .models import Message, MessageStatus

FAILED_STATUSES = frozenset({"delivery_failed", "sending_failed", "expired"})


def apply_receipt(event: WebhookEvent) -> str:
    message = Message.objects.filter(provider_message_id=event.message_id).first()
    if message is None:
        # The provider can answer before our worker stored its id: keep the event.
        return EventOutcome.PARKED
    now = timezone.now()
    fields: dict = {}
    history = None
    if event.cost is not None:
        fields["cost"] = event.cost
    if event.event_type == "message.sent":
        # `sent` only from states before it: a late `sent` never overwrites `delivered`.
        earlier = [MessageStatus.QUEUED, MessageStatus.SENDING]
        updated = Message.objects.filter(pk=message.pk, status__in=earlier).update(
            status=MessageStatus.SENT, sent_at=message.sent_at or now, **fields
        )
        if not updated and fields:
            Message.objects.filter(pk=message.pk).update(**fields)
        if updated:
            live.campaign_changed(message.campaign_id)
        return EventOutcome.PROCESSED
    if event.event_type != "message.finalized":
        return EventOutcome.PROCESSED
    earlier = [MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT]
    if event.status == "delivered":
        fields |= {"status": MessageStatus.DELIVERED, "delivered_at": event.occurred_at or now}
        history = EventType.SMS_DELIVERED
    elif event.status in FAILED_STATUSES:
        error = (event.errors or [{}])[0]
        fields |= {
            "status": MessageStatus.FAILED,
            "failed_at": event.occurred_at or now,
            "error_code": str(error.get("code", ""))[:20],
            "error_reason": (error.get("title") or event.status)[:300],
        }
        history = EventType.SMS_FAILED
    else:  # delivery_unconfirmed: it left; the carrier never said more
        fields |= {"status": MessageStatus.SENT, "error_reason": "delivery unconfirmed"}
    updated = Message.objects.filter(pk=message.pk, status__in=earlier).update(**fields)
    if updated:
        live.campaign_changed(message.campaign_id)
    if updated and history:
        contact = Contact.objects.filter(pk=message.contact_id).first()
        if contact is not None:
            engagement_record(
                contact=contact,
                type=history,
                at=event.occurred_at,
                campaign_id=message.campaign_id,
                data={"message_id": message.pk, "error": fields.get("error_code", "")},
            )
    return EventOutcome.PROCESSED
