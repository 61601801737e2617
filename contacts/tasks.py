"""Thin Celery tasks over contacts services (queue `default`)."""

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import imports

# Each run stops between chunks after this long and queues the rest, well inside the
# Celery soft time limit (240 s), so an import never dies of its own length.
IMPORT_RUN_SECONDS = 120


@shared_task(name="contacts.tasks.import_contacts", ignore_result=True, acks_late=True)
def import_contacts(import_id: int) -> None:
    """Process a CSV import. Safe to run twice or after a worker died mid-way: it goes
    on after the last committed chunk, and a finished import is left alone."""
    try:
        finished = imports.import_run(import_id=import_id, time_budget=IMPORT_RUN_SECONDS)
    except SoftTimeLimitExceeded:
        finished = False  # the chunks that committed count; the next run goes on
    except Exception as exc:
        imports.import_fail(import_id=import_id, reason=f"The import stopped: {exc}")
        raise
    if not finished:
        import_contacts.delay(import_id)
