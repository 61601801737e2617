"""Provider events: store once, apply in batches through the registered hook, rematch
the parked.

The life of an event (docs/architecture.md, "Webhooks"):

1. `webhook_events_store` inserts verified events with one INSERT ... ON CONFLICT
   (event_id) DO NOTHING (a redelivery inserts nothing) and, after commit, kicks a drain
   (`webhook_drain_kick`: at most one queued drain at a time, debounced in Redis).
2. `webhook_events_drain` claims the oldest fresh events in a short transaction (SKIP
   LOCKED, with a lease) and applies them in a second one. A failing event is recorded
   and retried without holding back the others (the batch is then applied again with a
   savepoint per event; a clean batch does without them).
3. What does not apply now is retried by the sweep (`events_due_for_retry`, beat every
   minute), one event per task: parked events (their message is not known yet; also
   `rematch_parked` once it is), transient failures with growing delays, and a batch
   whose worker died (its lease runs out), so a poison event cannot block a batch twice.
"""

import contextlib
import datetime
import functools
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import DataError, connection, transaction
from django.utils import timezone

from .base import WebhookEvent as ParsedEvent
from .base import parse_telnyx_event
from .hooks import EventHandler, EventOutcome, UnprocessableEvent, event_handler
from .models import WebhookEvent, WebhookStatus

log = logging.getLogger(__name__)

PARKED_MAX_AGE = timedelta(hours=24)
STUCK_AFTER = timedelta(minutes=5)  # "received", never claimed by a drain: beat is down
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 3600
SWEEP_BATCH = 1000

# Drains. A batch is claimed with a lease: if its worker dies before the batch commits,
# the events become due for the sweep when the lease runs out and are retried one by one.
DRAIN_BATCH = 200
DRAIN_LEASE = timedelta(seconds=30)
# The debounced kick: set (NX) when a drain is enqueued, cleared when one starts, so at
# most one kicked drain waits in the queue however many events arrive. The TTL only
# matters when a kick is lost (the broker dropped it): the next store kicks again, and
# beat's drain every second covers the gap meanwhile.
DRAIN_KICK_KEY = "providers:drain-webhook-events:kicked"
DRAIN_KICK_TTL_SECONDS = 5

_EVENT_ID_MAX = WebhookEvent._meta.get_field("event_id").max_length
_MESSAGE_REF_MAX = WebhookEvent._meta.get_field("message_ref").max_length
_EVENT_TYPE_MAX = WebhookEvent._meta.get_field("event_type").max_length


def retry_delay(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s, ... capped at an hour: a parked or failing event is retried
    for as long as it matters without hammering the database."""
    return timedelta(seconds=min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


# Exceptions a handler raises because of what the event holds, not because something
# it needs is down: the event is parked with the reason instead of retried forever.
# Connection trouble (OperationalError, InterfaceError, OSError, Redis errors) is none of
# these and is retried as before.
DATA_ERRORS: tuple[type[Exception], ...] = (
    DataError,
    ValueError,  # includes UnicodeError
    TypeError,
    LookupError,
    ArithmeticError,  # includes OverflowError, decimal.InvalidOperation
)


class WebhookProcessingError(Exception):
    """The handler failed in a way that may pass (the task retries with backoff)."""


# --- Storing ------------------------------------------------------------------------------
def webhook_event_parse(envelope: Any) -> ParsedEvent:
    """The event a verified body carries, if we can store it. Raises ValueError when it
    is not a Telnyx event (or its ids do not fit: Telnyx's are UUIDs). Checked before an
    event joins a batch, so one bad body can never fail the others' INSERT."""
    event = parse_telnyx_event(envelope)
    if len(event.event_id) > _EVENT_ID_MAX or len(event.message_id) > _MESSAGE_REF_MAX:
        raise ValueError("not a Telnyx event: an id is too long")
    return event


def webhook_event_store(*, envelope: dict[str, Any]) -> int | None:
    """Store one verified event; returns its id, or None when it was already stored.
    Raises ValueError when the body is not a Telnyx event."""
    return webhook_events_store(envelopes=[envelope])[0]


def webhook_events_store(*, envelopes: Sequence[dict[str, Any]]) -> list[int | None]:
    """Store verified events with one INSERT ... ON CONFLICT (event_id) DO NOTHING;
    returns their ids in the order given, None for an event already stored (or repeated
    earlier in the list). Concurrent redeliveries race harmlessly on the unique event_id.

    Durable when the caller's transaction commits (in autocommit: when this returns);
    only then may the provider get its 2xx. A drain is kicked after commit. Raises
    ValueError when a body is not a Telnyx event (nothing is stored then).
    """
    received_at = timezone.now()
    order: list[str] = []
    params: list[Any] = []
    for envelope in envelopes:
        event = webhook_event_parse(envelope)
        occurred_at = event.occurred_at
        if occurred_at is not None and timezone.is_naive(occurred_at):
            occurred_at = timezone.make_aware(occurred_at, datetime.UTC)
        order.append(event.event_id)
        params += [
            event.event_id,
            event.event_type[:_EVENT_TYPE_MAX],
            occurred_at,
            event.message_id,
            json.dumps(envelope),
            received_at,
            WebhookStatus.RECEIVED,
        ]
    if not order:
        return []
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s::jsonb, %s, %s, 0, '')"] * len(order))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (event_id, event_type, occurred_at, message_ref, payload,"
            " received_at, status, attempts, last_error)"
            f" VALUES {values} ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id",
            params,
        )
        inserted = {event_id: int(pk) for pk, event_id in cursor.fetchall()}
    if inserted:
        transaction.on_commit(webhook_drain_kick)
    ids: list[int | None] = []
    for event_id in order:
        ids.append(inserted.pop(event_id, None))  # a repeat within the list gets None
    return ids


@functools.cache
def _redis(url: str) -> redis.Redis:
    # Short timeouts: a Redis hiccup must cost a webhook answer milliseconds, not seconds.
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def webhook_drain_kick() -> None:
    """Enqueue a drain unless one is already waiting. Never raises: a lost kick costs
    at most a second (beat drains every second). One SET NX per stored batch (a raw
    client: Django's cache costs twice as much per call)."""
    from .tasks import drain_webhook_events

    # Tasks run inline (no broker) in eager mode: no drain can be waiting in a queue.
    eager = drain_webhook_events.app.conf.task_always_eager
    client = _redis(settings.REDIS_URL)
    try:
        if not eager and not client.set(DRAIN_KICK_KEY, 1, nx=True, ex=DRAIN_KICK_TTL_SECONDS):
            return
    except Exception:
        log.warning("webhook drain kick: Redis unavailable; beat will drain", exc_info=True)
        return
    try:
        drain_webhook_events.delay()
    except Exception:
        log.warning("webhook drain kick: the drain was not started; beat will", exc_info=True)
        with contextlib.suppress(Exception):
            client.delete(DRAIN_KICK_KEY)  # let the next store try again


def webhook_drain_kick_taken() -> None:
    """A drain is starting: events stored from now on must kick another one."""
    try:
        _redis(settings.REDIS_URL).delete(DRAIN_KICK_KEY)
    except Exception:
        log.warning("webhook drain: could not clear the kick mark", exc_info=True)


# --- Applying -----------------------------------------------------------------------------
class _Isolate(Exception):
    """A handler raised in a batch applied without savepoints: the batch is rolled back
    and applied again, a savepoint per event."""


def _event_apply(
    event: WebhookEvent, handler: EventHandler | None, *, isolated: bool = True
) -> Exception | None:
    """Run the handler for one locked, unprocessed event and set the event's outcome
    fields (the caller saves them). The handler's writes and the status change commit
    together, so the effect happens exactly once. Returns the transient error, if any
    (the event is then due again after `retry_delay`).

    `isolated`: inside a savepoint, so a failing event rolls back alone. Without one, any
    failure raises _Isolate (the caller must roll the whole transaction back)."""
    now = timezone.now()
    try:
        parsed = parse_telnyx_event(event.payload)
        if handler is None:
            outcome = EventOutcome.PARKED  # nobody applies events yet: keep them
        elif isolated:
            with transaction.atomic():
                outcome = EventOutcome(handler(parsed))
        else:
            outcome = EventOutcome(handler(parsed))
    except UnprocessableEvent as exc:
        if not isolated:
            raise _Isolate from exc
        event.status, event.last_error, event.next_attempt_at = WebhookStatus.FAILED, str(exc), None
    except DATA_ERRORS as exc:
        if not isolated:
            raise _Isolate from exc
        # The event's own content fails the handler (a value out of range, a wrong
        # type): retrying at once cannot help, and retrying forever hid it. Parked with
        # the reason: the sweep tries again with growing delays for PARKED_MAX_AGE (a
        # fix deployed meanwhile applies it), then it stays parked, visible, for a person.
        event.status = WebhookStatus.PARKED
        event.last_error = f"Could not be applied ({type(exc).__name__}: {exc})"[:2000]
        event.next_attempt_at = now + retry_delay(event.attempts)
        log.warning("webhook event %s parked: %s", event.event_id, event.last_error)
    except Exception as exc:  # the handler's bug or a passing outage: retry later
        if not isolated:
            raise _Isolate from exc
        # Never given up on: an inbound STOP must not be lost to a few minutes of
        # outage. It stays "received" and the sweep retries it with growing delays.
        event.last_error = f"{type(exc).__name__}: {exc}"
        event.next_attempt_at = now + retry_delay(event.attempts)
        return exc
    else:
        event.status = WebhookStatus(outcome)
        event.last_error = ""
        event.next_attempt_at = (
            now + retry_delay(event.attempts) if event.status == WebhookStatus.PARKED else None
        )
    if event.status == WebhookStatus.PROCESSED:
        event.processed_at = now
    return None


_OUTCOME_FIELDS = ["status", "attempts", "last_error", "processed_at", "next_attempt_at"]


def webhook_event_process(*, event_pk: int) -> str | None:
    """Apply one stored event through the registered handler (the sweep and
    `rematch_parked` use this; fresh events go through `webhook_events_drain`). Safe to
    run twice: the row is locked and an event already processed or failed is left alone.

    Returns the event's status; raises WebhookProcessingError on a transient failure
    (after recording it).
    """
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().filter(pk=event_pk).first()
        if event is None:
            return None
        if event.status in (WebhookStatus.PROCESSED, WebhookStatus.FAILED):
            return event.status
        event.attempts += 1
        failure = _event_apply(event, event_handler())
        event.save(update_fields=_OUTCOME_FIELDS)
    if failure is not None:
        raise WebhookProcessingError(str(failure)) from failure
    return event.status


def webhook_events_claim(*, limit: int = DRAIN_BATCH) -> list[int]:
    """Lease up to `limit` fresh events, oldest first, and count the attempt (committed
    at once). Fresh: "received" with no retry planned. SKIP LOCKED lets drains run side
    by side; the lease (next_attempt_at) keeps them out of other claims meanwhile."""
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        # Served by the (status, received_at) index.
        cursor.execute(
            f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = %s"
            f" WHERE id IN (SELECT id FROM {table}"
            "  WHERE status = %s AND next_attempt_at IS NULL"
            "  ORDER BY received_at, id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " RETURNING id",
            [timezone.now() + DRAIN_LEASE, WebhookStatus.RECEIVED, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def webhook_events_drain(*, limit: int = DRAIN_BATCH) -> int:
    """Claim up to `limit` fresh events and apply them in one transaction, oldest first.
    Returns how many were claimed (fewer than `limit`: none are left).

    Exactly once: each event is locked and still "received" when applied, and its
    status change commits with the handler's writes. A failing event is recorded (and
    retried later by the sweep) without rolling back the others.
    """
    pks = webhook_events_claim(limit=limit)
    if not pks:
        return 0
    handler = event_handler()
    try:
        # Nearly every batch applies cleanly, so first without a savepoint per event
        # (two round trips each: a third of a drain's cost); only a batch in which some
        # event fails pays for them, once more from the start.
        _drain_claimed(pks, handler, isolated=False)
    except _Isolate:
        _drain_claimed(pks, handler, isolated=True)
    return len(pks)


def _drain_claimed(pks: list[int], handler: EventHandler | None, *, isolated: bool) -> None:
    with transaction.atomic():
        # Locked again (normally uncontended): the sweep may have run an event whose lease
        # expired under a slow batch; the status check makes that harmless.
        events = list(
            WebhookEvent.objects.select_for_update()
            .filter(pk__in=pks, status=WebhookStatus.RECEIVED)
            .order_by("received_at", "id")
        )
        processed: list[int] = []
        for event in events:
            _event_apply(event, handler, isolated=isolated)
            if event.status == WebhookStatus.PROCESSED:
                processed.append(event.pk)
            else:  # parked, failed or failing: each has its own reason and delay
                event.save(update_fields=_OUTCOME_FIELDS)
        if processed:
            WebhookEvent.objects.filter(pk__in=processed).update(
                status=WebhookStatus.PROCESSED,
                last_error="",
                processed_at=timezone.now(),
                next_attempt_at=None,
            )


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
    """Events the sweep should run again, soonest-due first: parked ones (for 24 h),
    failing ones whose delay has passed and leased ones whose drain died, plus
    "received" ones no drain ever claimed (beat was down)."""
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
