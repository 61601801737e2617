"""Periodic work for the inbox (config.settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from .services import reopen_snoozed as reopen_snoozed_now


@shared_task(name="conversations.tasks.reopen_snoozed", ignore_result=True, expires=50)
def reopen_snoozed() -> int:
    """Snoozed conversations whose time passed are open again (every minute)."""
    return reopen_snoozed_now()
