"""The simulated network's tasks: posting an event, and pumping the lifecycle schedule
(receipts and replies after an accepted send; see `lifecycle`).

Every task name starts with "providers.simulator." so CELERY_TASK_ROUTES sends it to the
"simulator" queue. They are safe to run twice: event ids are stable, so a repeated post
is a duplicate our endpoint ignores.
"""

import logging
from typing import Any

import httpx
from celery import shared_task

from . import lifecycle
from .transport import post_signed_event

log = logging.getLogger(__name__)


@shared_task(name="providers.simulator.post_event", ignore_result=True)
def post_event(envelope: dict[str, Any], attempt: int = 1) -> None:
    envelope = lifecycle.with_attempt(envelope, attempt)
    try:
        status: int | None = post_signed_event(envelope)
    except httpx.HTTPError as exc:
        log.warning("simulator: posting %s failed: %s", envelope["data"]["id"], exc)
        status = None
    if status is not None and 200 <= status < 300:
        return
    if attempt >= lifecycle.max_attempts():
        log.error(
            "simulator: gave up on event %s after %s attempts", envelope["data"]["id"], attempt
        )
        return
    post_event.apply_async((envelope, attempt + 1), countdown=lifecycle.retry_after(attempt))


@shared_task(name="providers.simulator.pump_lifecycle", ignore_result=True)
def pump_lifecycle() -> int:
    """Post the receipts and replies that are due (see `lifecycle`). Kicked after sends
    and run by beat every second."""
    return lifecycle.pump()
