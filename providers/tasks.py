"""Thin tasks over providers.services. They take ids and are safe to run twice."""

import time

from celery import shared_task
from django.core.cache import cache

from . import services

# Register the simulator's tasks (autodiscovery only imports `<app>.tasks`).
from .simulator import tasks as _simulator_tasks  # noqa: F401

RETRY_PARKED_LOCK = "providers:retry-parked-events"
# One drain task runs at most this long, then hands over (kicks the next, queued behind
# whatever else waits) so other tasks on the `default` queue, such as the live-status
# flush every second, never wait long behind a backlog.
DRAIN_SECONDS = 2.0


@shared_task(
    name="providers.tasks.drain_webhook_events",
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def drain_webhook_events() -> int:
    """Apply stored events in batches until none are left (or DRAIN_SECONDS pass).
    Kicked after events are stored, and run by beat every second in case a kick was
    lost. Several may run at once (their claims skip each other's rows)."""
    services.webhook_drain_kick_taken()
    deadline = time.monotonic() + DRAIN_SECONDS
    total = 0
    while True:
        claimed = services.webhook_events_drain()
        total += claimed
        if claimed < services.DRAIN_BATCH:
            return total
        if time.monotonic() >= deadline:
            services.webhook_drain_kick()  # more to do: the next drain continues
            return total


@shared_task(
    name="providers.tasks.process_webhook_event",
    autoretry_for=(services.WebhookProcessingError,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
    ignore_result=True,
)
def process_webhook_event(event_pk: int) -> str | None:
    """One event (the sweep's retries)."""
    return services.webhook_event_process(event_pk=event_pk)


@shared_task(name="providers.tasks.retry_parked_events", ignore_result=True)
def retry_parked_events() -> int:
    """Every minute (beat): enqueue the events due for another try (parked, failing,
    leased by a drain that died, or never drained). A cache lock keeps two runs from
    overlapping."""
    if not cache.add(RETRY_PARKED_LOCK, "1", timeout=300):
        return 0
    try:
        pks = services.events_due_for_retry()
        for pk in pks:
            process_webhook_event.delay(pk)
        return len(pks)
    finally:
        cache.delete(RETRY_PARKED_LOCK)
