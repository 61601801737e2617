"""Provider events: store once, apply through the registered hook, rematch the parked."""

import datetime
import json
import logging
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .base import parse_telnyx_event
from .hooks import EventOutcome, UnprocessableEvent, event_handler
from .models import WebhookEvent, WebhookStatus

log = logging.getLogger(__name__)

PARKED_MAX_AGE = timedelta(hours=24)
STUCK_AFTER = timedelta(minutes=5)  # "received" this long with no retry planned: task lost
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 3600
SWEEP_BATCH = 1000


def retry_delay(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s, ... capped at an hour: a parked or failing event is retried
    for as long as it matters without hammering the database."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


class WebhookProcessingError(Exception):
    """The handler failed in a way that may pass (the task retries with backoff)."""


def webhook_event_store(*, envelope: dict[str, Any]) -> int | None:
    """Store a verified event; returns its id, or None when it was already stored.

    INSERT ... ON CONFLICT DO NOTHING makes concurrent redeliveries of one event race
    harmlessly on the unique event_id. Processing is enqueued after commit.
    Raises ValueError when the body is not a Telnyx event.
    """
    event = parse_telnyx_event(envelope)
    occurred_at = event.occurred_at
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at, datetime.UTC)
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, event_type, occurred_at, message_ref, payload, received_at,"
            " status, attempts, last_error)"
            " VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, 0, '')"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            [
                event.event_id,
                event.event_type[:64],
                occurred_at,
                event.message_id,
                json.dumps(envelope),
                timezone.now(),
                WebhookStatus.RECEIVED,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    pk = int(row[0])
    from .tasks import process_webhook_event

    transaction.on_commit(lambda: process_webhook_event.delay(pk))
    return pk


def webhook_event_process(*, event_pk: int) -> str | None:
    """Apply one stored event through the registered handler. Safe to run twice: the row
    is locked and an event already processed or failed is left alone. The handler runs
    in the same transaction as the status change, so its effect happens exactly once.

    Returns the event's status; raises WebhookProcessingError on a transient failure
    (after recording it).
    """
    failure: Exception | None = None
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_pk).first()
        if event is None:
            return None
        if event.status in (WebhookStatus.PROCESSED, WebhookStatus.FAILED):
            return event.status
        event.attempts += 1
        handler = event_handler()
        try:
            parsed = parse_telnyx_event(event.payload)
            if handler is None:
                outcome = EventOutcome.PARKED  # nobody applies events yet: keep them
            else:
                with transaction.atomic():
                    outcome = EventOutcome(handler(parsed))
        except UnprocessableEvent as exc:
            event.status, event.last_error = WebhookStatus.FAILED, str(exc)
        except Exception as exc:  # the handler's bug or a passing outage: retry later
            # Never given up on: an inbound STOP must not be lost to a few minutes of
            # outage. It stays "received" and the sweep retries it with growing delays.
            failure = exc
            event.last_error = f"{type(exc).__name__}: {exc}"
            event.next_attempt_at = timezone.now() + retry_delay(event.attempts)
        else:
            event.status = WebhookStatus(outcome)
            event.last_error = ""
            event.next_attempt_at = (
                timezone.now() + retry_delay(event.attempts)
                if event.status == WebhookStatus.PARKED
                else None
            )
        if event.status == WebhookStatus.PROCESSED:
            event.processed_at = timezone.now()
        event.save(
            update_fields=["status", "attempts", "last_error", "processed_at", "next_attempt_at"]
        )
    if failure is not None:
        raise WebhookProcessingError(str(failure)) from failure
    return event.status


def rematch_parked(*, message_ref: str) -> int:
    """Re-run the parked events of one provider message now (the send engine calls this
    once it stores the message's provider id). Oldest occurrence first, so `sent`
    applies before `finalized`. Returns how many were run."""
    pks = list(
        WebhookEvent.objects.filter(status=WebhookStatus.PARKED, message_ref=message_ref)
        .order_by("occurred_at", "id")
        .values_list("pk", flat=True)
    )
    for pk in pks:
        try:
            webhook_event_process(event_pk=pk)
        except WebhookProcessingError as exc:
            log.warning("rematch of webhook event %s failed: %s", pk, exc)
    return len(pks)


def events_due_for_retry(*, limit: int = SWEEP_BATCH) -> list[int]:
    """Events the sweep should run again, soonest-due first: parked ones (for 24 h) and
    failing ones whose delay has passed, plus "received" ones whose task was lost."""
    now = timezone.now()
    due = (
        WebhookEvent.objects.filter(
            status__in=[WebhookStatus.PARKED, WebhookStatus.RECEIVED], next_attempt_at__lte=now
        )
        .exclude(status=WebhookStatus.PARKED, received_at__lt=now - PARKED_MAX_AGE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    lost = (
        WebhookEvent.objects.filter(
            status=WebhookStatus.RECEIVED,
            next_attempt_at__isnull=True,
            received_at__lt=now - STUCK_AFTER,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    return list(due) + list(lost)
