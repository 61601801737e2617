"""Hooks through which apps above texting (conversations) follow its messages.

`conversations` sits above `texting` (DESIGN.md: imports flow down), so texting cannot
call it; conversations registers its handlers in `ConversationsConfig.ready()`:

    register_inbound_message(conversation_for_inbound_message)
    register_outbound_changed(...)  # optional: live delivery status on outbound bubbles

- **inbound message**: called by `texting.inbound` inside the inbound transaction, after
  the inbound `Message` row is stored and any keyword (STOP, HELP, START) applied, with
  `InboundMessage(message, contact_created, campaign_id)`: the stored row, whether the
  contact was created by this very message (an unknown sender), and the campaign it
  answers (None: none). An exception rolls the inbound event back (it is retried).
- **outbound changed**: called after commit with the ids of outbound messages whose
  status moved (a batch: receipts, the dispatcher's batch end). Never per message on
  the hot path; a listener must be cheap and must not raise (exceptions are logged).
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction

from .models import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundMessage:
    message: Message
    contact_created: bool  # the phone had no contact before this message
    campaign_id: int | None  # the campaign it answers (texting.selectors.message_replied_to)


InboundHandler = Callable[[InboundMessage], None]
OutboundHandler = Callable[[list[int]], None]

_inbound: list[InboundHandler] = []
_outbound: list[OutboundHandler] = []


def register_inbound_message(fn: InboundHandler) -> InboundHandler:
    """Call `fn(InboundMessage)` for every inbound message stored (idempotent: a
    function registered twice runs once)."""
    if fn not in _inbound:
        _inbound.append(fn)
    return fn


def register_outbound_changed(fn: OutboundHandler) -> OutboundHandler:
    """Call `fn(message_ids)` after commit when outbound messages changed status."""
    if fn not in _outbound:
        _outbound.append(fn)
    return fn


def inbound_message_stored(event: InboundMessage) -> None:
    """texting.inbound: run the inbound handlers (in the caller's transaction)."""
    for fn in _inbound:
        fn(event)


def outbound_changed(message_ids: Iterable[int]) -> None:
    """Tell listeners (after the caller's commit) that these outbound messages moved.
    Costs nothing when nobody listens."""
    if not _outbound:
        return
    ids = [int(i) for i in message_ids]
    if not ids:
        return

    def notify() -> None:
        for fn in _outbound:
            try:
                fn(ids)
            except Exception:
                log.warning("outbound-changed listener %r failed", fn, exc_info=True)

    transaction.on_commit(notify)
