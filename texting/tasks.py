"""Thin periodic tasks over texting.dispatch. PostgreSQL is the queue of record; a lost
Celery message costs nothing because every loop re-derives the work from the tables."""

from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.conf import settings

from . import dispatch

_pool: ThreadPoolExecutor | None = None


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:  # per process, created after the prefork
        _pool = ThreadPoolExecutor(
            max_workers=settings.DISPATCH_MAX_IN_FLIGHT, thread_name_prefix="send"
        )
    return _pool


@shared_task(name="texting.tasks.dispatch_tick", ignore_result=True, expires=2)
def dispatch_tick(seconds: float | None = None) -> int:
    """The beat kick (every second, on the `dispatch` queue): run a drain loop for up to
    DISPATCH_LOOP_SECONDS, ending early once there is nothing left to send. Loops in
    several processes share the senders (texting.dispatch.Drainer)."""
    drainer = dispatch.Drainer(pool=_thread_pool(), max_in_flight=settings.DISPATCH_MAX_IN_FLIGHT)
    return drainer.run(seconds if seconds is not None else settings.DISPATCH_LOOP_SECONDS)


def kick_dispatch(loops: int | None = None) -> None:
    """Start drain loops now rather than one per beat tick: a campaign that starts
    sending gets every dispatch process at once, so senders are shared out before its
    first second instead of handed between loops as they join. Each free dispatch
    process takes one kick; kicks nobody takes within a second expire. Not in eager
    mode, where a kick would run a whole drain loop inline. `loops`: how many (default
    `DISPATCH_KICK_LOOPS`; one for a single message)."""
    if dispatch_tick.app.conf.task_always_eager:
        return
    for _ in range(settings.DISPATCH_KICK_LOOPS if loops is None else loops):
        dispatch_tick.apply_async(expires=1.0)


@shared_task(name="texting.tasks.flush_live", ignore_result=True, expires=2)
def flush_live() -> int:
    """The trailing edge of live status (beat, every second): push the final snapshot of
    every campaign that changed inside its last throttle window (texting.live)."""
    from . import live

    return live.flush_dirty()


@shared_task(name="texting.tasks.media_cleanup", ignore_result=True, expires=3600)
def media_cleanup() -> int:
    """Beat, daily: delete MMS media past their retention (texting.media). Idempotent, so
    an overlapping or repeated run deletes nothing twice."""
    from .media import media_cleanup as cleanup

    return cleanup()
