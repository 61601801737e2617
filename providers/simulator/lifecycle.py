"""The simulated network's clock for what follows an accepted send: `message.sent` at
once, `message.finalized` after the receipt delay, the recipient's reply after that.

A send only adds one entry to a Redis schedule (a sorted set scored by due time) and,
at most a few times a second, kicks the pump. One Celery task per receipt (the earlier
design) cost ~2.7 ms of the sender's CPU per message at 200 MPS, and four tasks per
message flooded the simulator's queue.

The pump (`pump`, the `providers.simulator.pump_lifecycle` task, also run by beat
every second so a lost kick costs a second; one runs at a time, under a Redis lease)
takes due entries in batches with one Lua
call that moves them to an in-flight set with a deadline, posts their events from a
small thread pool, and acknowledges each one. An entry whose pump died mid-post goes
back to the schedule when its deadline passes: a receipt is posted at least once, and
the webhook endpoint ignores the duplicate, as with Telnyx.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import httpx
import redis
from django.conf import settings
from django.db import connection

from ..encoding import segment_count
from ..models import SimulatorMessage
from . import events
from .behaviour import reply_text
from .transport import post_signed_event

log = logging.getLogger(__name__)

DUE = "sim:lifecycle:due"
IN_FLIGHT = "sim:lifecycle:inflight"
KICK = "sim:lifecycle:kick"
KICK_MS = 200  # at most one kick per this long
PUMPING = "sim:lifecycle:pumping"  # the running pump's lease: one pump at a time
PUMPING_MS = 3000
LEASE_MS = 60_000  # an entry taken by a pump that died comes back after this
BATCH = 200
POSTERS = 16
# A post that fails (receiver down, 5xx) is retried with exponential backoff capped at
# RETRY_CAP_SECONDS: 10 attempts span 3 minutes, so a webhook receiver that is down
# for a restart (or 30 s, issue 14) loses no receipt. Telnyx itself gives up sooner;
# SIMULATOR_WEBHOOK_ATTEMPTS=3 plays that.
MAX_ATTEMPTS = 10
RETRY_CAP_SECONDS = 30
IDLE_EXIT_SECONDS = 1.0

SENT, FINAL, REPLY = "sent", "final", "reply"

# KEYS: due, in-flight. ARGV: now_ms, lease_ms, limit. Moves what is due (and what a
# dead pump left in flight) and returns the taken members.
_TAKE = """
local now = tonumber(ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, member in ipairs(stale) do
  redis.call('ZADD', KEYS[1], now, member)
  redis.call('ZREM', KEYS[2], member)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), member)
end
return due
"""


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def _now_ms() -> int:
    return int(time.time() * 1000)


def receipt_delay() -> float:
    return max(0, int(getattr(settings, "SIMULATOR_RECEIPT_DELAY_MS", 500))) / 1000


def schedule(kind: str, message_id: str, *, after: float = 0.0, attempt: int = 1) -> None:
    """Put one lifecycle step on the network's clock."""
    _redis().zadd(DUE, {f"{kind}:{message_id}:{attempt}": _now_ms() + int(after * 1000)})


def accepted(message_id: str) -> None:
    """A send was accepted: its receipts start now. Kicks the pump (debounced). Eager
    (tests): the whole lifecycle runs inline, delays ignored, as eager Celery would."""
    from celery import current_app

    if current_app.conf.task_always_eager:
        step: tuple[str, float] | None = (SENT, 0.0)
        while step is not None:
            step = run_step(f"{step[0]}:{message_id}:1")
        return
    # One round trip: the entry, whether a pump is running, and the right to kick one
    # (debounced).
    pipe = _redis().pipeline(transaction=False)
    pipe.zadd(DUE, {f"{SENT}:{message_id}:1": _now_ms()})
    pipe.exists(PUMPING)
    pipe.set(KICK, 1, nx=True, px=KICK_MS)
    _, pumping, may_kick = pipe.execute()
    if may_kick and not pumping:
        _kick_now()


def _kick_now() -> None:
    from .tasks import pump_lifecycle

    pump_lifecycle.apply_async(expires=5)  # a kick nobody took in time is moot


def _post(envelope: dict) -> bool:
    try:
        status = post_signed_event(envelope)
    except httpx.HTTPError as exc:
        log.warning("simulator: posting %s failed: %s", envelope["data"]["id"], exc)
        return False
    return 200 <= status < 300


def max_attempts() -> int:
    return max(1, int(getattr(settings, "SIMULATOR_WEBHOOK_ATTEMPTS", MAX_ATTEMPTS)))


def retry_after(attempt: int) -> float:
    """Seconds before the next try of a post that failed on try `attempt` (1-based)."""
    return float(min(2**attempt, RETRY_CAP_SECONDS))


def with_attempt(envelope: dict, attempt: int) -> dict:
    """The envelope as Telnyx sends its `attempt`-th delivery."""
    return {**envelope, "meta": {**envelope.get("meta", {}), "attempt": attempt}}


def run_step(member: str) -> tuple[str, float] | None:
    """Post one step's event. Returns the step that follows it and its delay, if any
    (a failed post schedules its own retry and returns None)."""
    kind, message_id, attempt_text = member.rsplit(":", 2)
    attempt = int(attempt_text)
    try:
        msg = SimulatorMessage.objects.filter(pk=message_id).first()
        if msg is None:
            return None
        if kind == SENT:
            envelope = events.message_sent(msg)
        elif kind == FINAL:
            envelope = events.message_finalized(msg)
        elif kind == REPLY and msg.reply:
            text = reply_text(kind=msg.reply, key=str(msg.id))
            parts, encoding = segment_count(text)
            envelope = events.message_received(
                message_id=events.stable_id(msg.id, "reply-message"),
                event_id=events.stable_id(msg.id, "reply"),
                from_=msg.to_number,
                to=msg.from_number,
                text=text,
                parts=parts,
                encoding=encoding,
            )
        else:
            return None
    finally:
        if not connection.in_atomic_block:
            connection.close()  # back to the pool while posting
    if not _post(with_attempt(envelope, attempt)):
        if attempt >= max_attempts():
            log.error("simulator: gave up on %s after %s attempts", member, attempt)
        else:
            schedule(kind, message_id, after=retry_after(attempt), attempt=attempt + 1)
        return None
    if kind == SENT:
        return FINAL, receipt_delay()
    if kind == FINAL and msg.reply:
        return REPLY, 2 * receipt_delay()
    return None


def _run_and_ack(member: str) -> None:
    try:
        following = run_step(member)
        if following is not None:
            schedule(following[0], member.rsplit(":", 2)[1], after=following[1])
    except Exception:  # left in flight: it comes back when its lease ends
        log.exception("simulator: lifecycle step %s failed", member)
        return
    _redis().zrem(IN_FLIGHT, member)


def pump(*, seconds: float = 30.0) -> int:
    """Post what is due, batch by batch, for up to `seconds`; return the steps run.
    One pump at a time (a lease in Redis; a dead pump's lapses in PUMPING_MS): a kick
    or beat run that finds one running returns at once. Ends once nothing has been due
    for a second."""
    client = _redis()
    token = uuid.uuid4().hex
    if not client.set(PUMPING, token, nx=True, px=PUMPING_MS):
        return 0
    take = client.register_script(_TAKE)
    deadline = time.monotonic() + seconds
    done = 0
    idle_since = time.monotonic()
    try:
        with ThreadPoolExecutor(POSTERS) as posters:
            while time.monotonic() < deadline:
                client.set(PUMPING, token, px=PUMPING_MS)
                members = [
                    m.decode()
                    for m in take(keys=[DUE, IN_FLIGHT], args=[_now_ms(), LEASE_MS, BATCH])
                ]
                if members:
                    list(posters.map(_run_and_ack, members))
                    done += len(members)
                    idle_since = time.monotonic()
                    continue
                if time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                    break
                nxt = client.zrange(DUE, 0, 0, withscores=True)
                wait = (nxt[0][1] - _now_ms()) / 1000 if nxt else 0.1
                time.sleep(min(max(wait, 0.005), 0.1))
    finally:
        if client.get(PUMPING) == token.encode():
            client.delete(PUMPING)
    return done
