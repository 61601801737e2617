"""The simulated network's clock: receipts and replies after an accepted send.

Every task name starts with "providers.simulator." so CELERY_TASK_ROUTES sends it to the
"simulator" queue. Tasks take ids (or an already-built event) and are safe to run twice:
event ids are stable, so a repeated post is a duplicate our endpoint ignores.
"""

import logging
from typing import Any

import httpx
from celery import shared_task
from django.conf import settings

from ..encoding import segment_count
from ..models import SimulatorMessage
from . import events
from .behaviour import reply_text
from .transport import post_signed_event

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # Telnyx: up to 3 attempts per URL, exponential backoff


def _receipt_delay() -> float:
    return max(0, int(getattr(settings, "SIMULATOR_RECEIPT_DELAY_MS", 500))) / 1000


@shared_task(name="providers.simulator.post_event", ignore_result=True)
def post_event(envelope: dict[str, Any], attempt: int = 1) -> None:
    envelope = {**envelope, "meta": {**envelope.get("meta", {}), "attempt": attempt}}
    try:
        status: int | None = post_signed_event(envelope)
    except httpx.HTTPError as exc:
        log.warning("simulator: posting %s failed: %s", envelope["data"]["id"], exc)
        status = None
    if status is not None and 200 <= status < 300:
        return
    if attempt >= MAX_ATTEMPTS:
        log.error(
            "simulator: gave up on event %s after %s attempts", envelope["data"]["id"], attempt
        )
        return
    post_event.apply_async((envelope, attempt + 1), countdown=2**attempt)


@shared_task(name="providers.simulator.deliver_lifecycle", ignore_result=True)
def deliver_lifecycle(message_id: str) -> None:
    """message.sent now, message.finalized after the receipt delay."""
    msg = SimulatorMessage.objects.filter(pk=message_id).first()
    if msg is None:
        return
    post_event.delay(events.message_sent(msg))
    finalize_message.apply_async((message_id,), countdown=_receipt_delay())


@shared_task(name="providers.simulator.finalize_message", ignore_result=True)
def finalize_message(message_id: str) -> None:
    msg = SimulatorMessage.objects.filter(pk=message_id).first()
    if msg is None:
        return
    post_event.delay(events.message_finalized(msg))
    if msg.reply:
        recipient_reply.apply_async((message_id,), countdown=2 * _receipt_delay())


@shared_task(name="providers.simulator.recipient_reply", ignore_result=True)
def recipient_reply(message_id: str) -> None:
    msg = SimulatorMessage.objects.filter(pk=message_id).first()
    if msg is None or not msg.reply:
        return
    text = reply_text(kind=msg.reply, key=str(msg.id))
    parts, encoding = segment_count(text)
    post_event.delay(
        events.message_received(
            message_id=events.stable_id(msg.id, "reply-message"),
            event_id=events.stable_id(msg.id, "reply"),
            from_=msg.to_number,
            to=msg.from_number,
            text=text,
            parts=parts,
            encoding=encoding,
        )
    )
