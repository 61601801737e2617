"""Thin periodic tasks over texting.dispatch. PostgreSQL is the queue of record; a lost
Celery message costs nothing because every tick re-derives the work from the tables."""

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from celery import shared_task

from . import dispatch

TICK_SECONDS = 1.0
SENDERS_REFRESH_SECONDS = 0.25  # due_senders scans the due index: not every loop
_pool = ThreadPoolExecutor(max_workers=dispatch.MAX_IN_FLIGHT, thread_name_prefix="send")


@shared_task(name="texting.tasks.dispatch_tick", ignore_result=True, expires=5)
def dispatch_tick() -> int:
    """About one second of draining: every due sender gets passes until idle or the
    second is up. Safe to run in several workers at once (SKIP LOCKED + shared GCRA)."""
    dispatch.reclaim_expired_leases()
    dispatch.start_due_campaigns()
    dispatch.release_due_scheduled()
    deadline = time.monotonic() + TICK_SECONDS
    in_flight: list[Future] = []
    claimed_total = 0
    senders: list[str] = []
    refreshed = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() - refreshed > SENDERS_REFRESH_SECONDS:
            senders, refreshed = dispatch.due_senders(), time.monotonic()
        if not senders:
            break
        claimed = 0
        for sender in senders:
            claimed += dispatch.dispatch_sender(
                sender=sender, pool=_pool, in_flight=in_flight
            ).claimed
        claimed_total += claimed
        if not claimed:
            time.sleep(0.005)  # every sender is waiting for a token
    wait(in_flight)
    dispatch.complete_finished_campaigns()
    return claimed_total
