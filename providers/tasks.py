"""Thin tasks over providers.services. They take ids and are safe to run twice."""

from celery import shared_task
from django.core.cache import cache

from . import services

# Register the simulator's tasks (autodiscovery only imports `<app>.tasks`).
from .simulator import tasks as _simulator_tasks  # noqa: F401

RETRY_PARKED_LOCK = "providers:retry-parked-events"


@shared_task(
    name="providers.tasks.process_webhook_event",
    autoretry_for=(services.WebhookProcessingError,),
    retry_backoff=2,
    retry_backoff_max=300,
    max_retries=8,
    ignore_result=True,
)
def process_webhook_event(event_pk: int) -> str | None:
    return services.webhook_event_process(event_pk=event_pk)


@shared_task(name="providers.tasks.retry_parked_events", ignore_result=True)
def retry_parked_events() -> int:
    """Every minute (beat): enqueue the events due for another try (parked, failing, or
    whose task was lost). A cache lock keeps two runs from overlapping."""
    if not cache.add(RETRY_PARKED_LOCK, "1", timeout=300):
        return 0
    try:
        pks = services.events_due_for_retry()
        for pk in pks:
            process_webhook_event.delay(pk)
        return len(pks)
    finally:
        cache.delete(RETRY_PARKED_LOCK)
