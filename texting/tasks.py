"""Thin periodic tasks over texting.dispatch. PostgreSQL is the queue of record; a lost
Celery message costs nothing because every tick re-derives the work from the tables."""

import time
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task

from . import dispatch

TICK_SECONDS = 1.0
_pool = ThreadPoolExecutor(max_workers=dispatch.MAX_IN_FLIGHT, thread_name_prefix="send")


@shared_task(name="texting.tasks.dispatch_tick", ignore_result=True, expires=5)
def dispatch_tick() -> int:
    """About one second of draining: every due sender gets passes until idle or the
    second is up. Safe to run in several workers at once (SKIP LOCKED + shared GCRA)."""
    dispatch.reclaim_expired_leases()
    dispatch.start_due_campaigns()
    dispatch.release_due_scheduled()
    deadline = time.monotonic() + TICK_SECONDS
    sent = 0
    while time.monotonic() < deadline:
        senders = dispatch.due_senders()
        if not senders:
            break
        claimed = 0
        for sender in senders:
            result = dispatch.dispatch_sender(sender=sender, pool=_pool)
            claimed += result.claimed
            sent += result.sent
        if not claimed:
            time.sleep(0.05)
    dispatch.complete_finished_campaigns()
    return sent
