"""The one hook through which a higher app applies provider events.

`providers` sits low in the dependency order and cannot import `texting`, so texting
registers its handler in `TextingConfig.ready()`:

    register_event_handler(handle_provider_event)

The handler receives a parsed `providers.base.WebhookEvent` and returns
`EventOutcome.PROCESSED` or `EventOutcome.PARKED` (it refers to something not known yet;
re-run later by `providers.services.rematch_parked`). It raises `UnprocessableEvent(reason)`
when the event can never apply; the event is then marked failed with that reason. An
exception caused by the event's own data (`providers.services.DATA_ERRORS`: a value out
of range, a wrong type) parks it with the reason, retried for 24 hours; any other
exception is treated as transient and the event is retried until it passes.
"""

from collections.abc import Callable
from enum import StrEnum

from .base import WebhookEvent


class EventOutcome(StrEnum):
    PROCESSED = "processed"
    PARKED = "parked"


class UnprocessableEvent(Exception):
    """The event is well-formed but can never be applied (the reason is stored)."""


EventHandler = Callable[[WebhookEvent], str]

_handler: EventHandler | None = None


def register_event_handler(fn: EventHandler) -> EventHandler:
    global _handler
    _handler = fn
    return fn


def event_handler() -> EventHandler | None:
    return _handler
