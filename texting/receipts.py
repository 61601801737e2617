"""Delivery receipts: message.sent / message.finalized move a message only forward.

Hot path (one call per receipt, two receipts per message): each receipt is one
UPDATE ... WHERE status IN (<earlier states>) RETURNING, which both applies a real
transition and tells us it happened, so engagement history and the live push follow
exactly the transitions that took place. Only a receipt that moves nothing (late,
repeated, or for a message we do not know yet) costs a second statement.
"""

import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from compliance.suppression import carrier_refusal_record
from contacts.models import Contact, EventType
from contacts.services import engagement_record
from providers.base import RECIPIENT_REFUSED_CODES, WebhookEvent
from providers.hooks import EventOutcome

from . import hooks, live, sender_health
from .models import Message, MessageStatus

FAILED_STATUSES = frozenset({"delivery_failed", "sending_failed", "expired"})
BEFORE_SENT = (MessageStatus.QUEUED, MessageStatus.SENDING)
BEFORE_FINAL = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT)

_TABLE = Message._meta.db_table
_CONTACT_TABLE = Contact._meta.db_table


def apply_receipt(event: WebhookEvent) -> str:
    """Apply one delivery receipt; PARKED when its message is not known yet (the provider
    can answer before our worker stored its id)."""
    now = timezone.now()
    history = None
    sent = event.event_type == "message.sent"
    if sent:
        # A late `sent` never overwrites `delivered`; sent_at keeps the dispatcher's time.
        earlier = BEFORE_SENT
        changes: dict[str, Any] = {"status": MessageStatus.SENT}
    elif event.event_type == "message.finalized":
        earlier = BEFORE_FINAL
        if event.status == "delivered":
            changes = {
                "status": MessageStatus.DELIVERED,
                "delivered_at": event.occurred_at or now,
            }
            history = EventType.SMS_DELIVERED
        elif event.status in FAILED_STATUSES:
            error = (event.errors or [{}])[0]
            changes = {
                "status": MessageStatus.FAILED,
                "failed_at": event.occurred_at or now,
                "error_code": str(error.get("code", ""))[:20],
                "error_reason": (error.get("title") or event.status)[:300],
            }
            history = EventType.SMS_FAILED
        else:  # delivery_unconfirmed: it left; the carrier never said more
            changes = {"status": MessageStatus.SENT, "error_reason": "delivery unconfirmed"}
    else:
        return EventOutcome.PROCESSED if _status_of(event.message_id) else EventOutcome.PARKED
    if event.cost is not None:
        changes["cost"] = event.cost

    for _attempt in range(5):
        moved = _transition(event.message_id, earlier, changes, sent_at=now if sent else None)
        if moved is not None:
            break
        # Nothing moved: late or repeated, or a message we do not know (yet). A `sent`
        # still records the carrier's cost.
        if sent and event.cost is not None:
            status = _record_cost(event.message_id, event.cost)
        else:
            status = _status_of(event.message_id)
        if status is None:
            return EventOutcome.PARKED
        if status not in earlier:
            return EventOutcome.PROCESSED
        # Its provider id was committed between the two statements (statuses only move
        # forward, so this cannot go on): try the transition again.
    else:
        raise RuntimeError(f"message {event.message_id} kept moving; retried later")
    message_id, campaign_id, contact_id, account_id, contact_exists, sender = moved
    _campaign_changed(campaign_id)
    if history == EventType.SMS_DELIVERED:
        sender_health.count(sender, sender_health.DELIVERED)
    elif history == EventType.SMS_FAILED:
        sender_health.count(sender, sender_health.FAILED)
    if campaign_id is None:
        # A one-to-one message (a conversation reply, a keyword reply): its bubble's
        # status is live (texting.hooks; nothing per message for campaign traffic).
        hooks.outbound_changed([message_id])
    if history == EventType.SMS_FAILED and changes["error_code"] in RECIPIENT_REFUSED_CODES:
        # The carrier says the recipient refuses our messages: the phone goes on the DNC
        # list (reason `complaint`), in this receipt's transaction.
        carrier_refusal_record(
            account_id=account_id,
            phone=Message.objects.values_list("to_number", flat=True).get(pk=message_id),
            code=changes["error_code"],
            title=changes["error_reason"],
        )
    if history and contact_exists:
        engagement_record(
            # The message row carries both ids (and the contact was just seen to exist):
            # the contact row itself is not read on this path.
            contact=Contact(id=contact_id, account_id=account_id),
            type=history,
            at=event.occurred_at,
            campaign_id=campaign_id,
            data={"message_id": message_id, "error": changes.get("error_code", "")},
        )
    return EventOutcome.PROCESSED


def _transition(
    provider_id: str,
    earlier: tuple[str, ...],
    changes: dict[str, Any],
    *,
    sent_at: datetime | None,
) -> tuple[int, int | None, int, int, bool, str] | None:
    """Apply `changes` if the message is still in an `earlier` state. Returns (id,
    campaign_id, contact_id, account_id, contact exists, sender) when it moved, None
    otherwise.
    Served by the unique provider_message_id index."""
    assignments = [f"{column} = %s" for column in changes]
    params: list[Any] = list(changes.values())
    if sent_at is not None:
        assignments.append("sent_at = COALESCE(sent_at, %s)")
        params.append(sent_at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} m SET {', '.join(assignments)}"
            " WHERE provider_message_id = %s AND status = ANY(%s)"
            " RETURNING id, campaign_id, contact_id, account_id,"
            f" EXISTS (SELECT 1 FROM {_CONTACT_TABLE} c WHERE c.id = m.contact_id),"
            " from_number",
            [*params, provider_id, list(earlier)],
        )
        return cursor.fetchone()


def _record_cost(provider_id: str, cost: Decimal) -> str | None:
    """The carrier's cost for a message a receipt did not move. Returns its status, None
    when no message has this provider id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TABLE} SET cost = %s WHERE provider_message_id = %s RETURNING status",
            [cost, provider_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _status_of(provider_id: str) -> str | None:
    return (
        Message.objects.filter(provider_message_id=provider_id)
        .values_list("status", flat=True)
        .first()
    )


# Receipts arrive in batches (providers drains a few hundred per transaction), most of
# them for the same few campaigns: one live push per campaign per commit is enough.
_changed = threading.local()


def _campaign_changed(campaign_id: int | None) -> None:
    """live.campaign_changed for each distinct campaign, once per commit. Every call
    registers a flush (so one rolled back with a savepoint cannot strand the others);
    the first flush after the commit pushes them all, the rest find nothing to do."""
    if not campaign_id:
        return
    pending = getattr(_changed, "ids", None)
    if pending is None:
        pending = _changed.ids = set()
    pending.add(campaign_id)
    transaction.on_commit(_flush_changed)


def _flush_changed() -> None:
    pending = getattr(_changed, "ids", None)
    if pending:
        ids, _changed.ids = pending, set()
        live.campaigns_changed(ids)
