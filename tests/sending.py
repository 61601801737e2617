"""Sending for tests: drain one sender's queue through the real dispatcher (claims, the
final check, the carrier simulator), inline, until nothing waits or time is up."""

import time

from texting import dispatch
from texting.models import Message


def drain(sender: str, seconds: float = 3.0) -> None:
    """Run the dispatcher for `sender` until none of its messages is queued or sending
    (held ones, `scheduled`, stay), or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while (
        time.monotonic() < deadline
        and Message.objects.filter(from_number=sender, status__in=["queued", "sending"]).exists()
    ):
        dispatch.dispatch_sender(sender=sender)
        time.sleep(0.02)
