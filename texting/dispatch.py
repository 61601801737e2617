"""The dispatcher: drain due messages per sender, at the sender's rate, without ever
claiming more than can go out within a fraction of a second.

A drain loop (`Drainer.run`, one per dispatch worker process, started by the beat kick
`texting.tasks.dispatch_tick`) works like a scheduler:

1. **Ownership.** Each loop takes a fair share (by MPS) of the senders that have queued
   messages, holding a short Redis lease per sender (`dispatch:owner:<sender>`). One
   owner per sender means claims are sized exactly and nobody claims rows only to hand
   them back. Loops heartbeat in `dispatch:drainers`; when one joins or dies, shares are
   recomputed and its senders move within seconds.
2. **Claim.** For an owned sender, the loop claims what the sender can send within the
   booking horizon (`HORIZON`, 150 ms): `FOR UPDATE SKIP LOCKED` over the `message_due`
   partial index, rows marked `sending` with a lease, in one short transaction.
3. **Book.** Each claimed message books its slot in the sender's shared Redis schedule
   (`texting.ratelimit.schedule`: GCRA spacing in segments plus the carrier's sliding
   window, campaign throttle applied). A message whose slot would fall beyond the horizon
   goes straight back to `queued` with `send_after` = that slot.
4. **Call.** Booked messages go to a thread pool (the calls are network-bound; up to
   `DISPATCH_MAX_IN_FLIGHT` at once). A thread waits for its slot (at most the horizon),
   runs the final check, debits the balance and calls the provider with the message's
   idempotency key, so a retry after a crash is replayed by the provider, never sent twice.
5. **Outcome.** accepted -> `sent` with the provider id; rate-limited -> `queued` later
   and the sender's schedule pushed back; transient -> `queued` with backoff; permanent ->
   `failed` with the provider's code and reason. Unsent debits are credited back.

A lease that expires (the worker died mid-call) is reclaimed; the row is retried with the
same idempotency key. Every loop re-derives its work from PostgreSQL, so a lost Celery
message or a Redis restart costs at most a moment.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import random
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import balance_credit, balance_debit
from compliance.eligibility import may_send_now
from contacts.models import Contact, EventType
from contacts.services import engagement_record
from phone_numbers.models import PhoneNumber
from providers.base import PermanentError, ProviderError, RateLimitedError, SendRequest
from providers.registry import get_provider
from providers.services import rematch_parked

from . import live, ratelimit
from .models import Campaign, CampaignStatus, Message, MessageStatus
from .pricing import message_price

log = logging.getLogger(__name__)

HORIZON = 0.15  # seconds of a sender's slots booked ahead
REFILL = HORIZON / 2  # claim again when fewer than this many seconds remain booked
MAX_ATTEMPTS = 6
BALANCE_RETRY_SECONDS = 60
OWNER_PREFIX = "dispatch:owner:"
DRAINERS = "dispatch:drainers"
OWNER_TTL_MS = 3000
HOUSEKEEPING_SECONDS = 1.0
OWNERSHIP_SECONDS = 0.25
IDLE_EXIT_SECONDS = 0.5
SHARE_WAIT_SECONDS = 3.0

_CLAIM = """
UPDATE texting_message m
SET status = 'sending', lease_until = clock_timestamp() + make_interval(secs => %(lease)s),
    attempts = m.attempts + 1
FROM (
    SELECT id FROM texting_message
    WHERE status = 'queued' AND from_number = %(sender)s AND send_after <= clock_timestamp()
      AND (campaign_id IS NULL OR campaign_id IN (
            SELECT id FROM texting_campaign WHERE status = 'sending'))
    ORDER BY send_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) due
WHERE m.id = due.id
RETURNING m.id, m.segments, m.attempts,
    -- a campaign's throttle is campaign-wide: each of its senders gets an equal part
    (SELECT c.max_mps / GREATEST(jsonb_array_length(c.sender_ids), 1)
     FROM texting_campaign c WHERE c.id = m.campaign_id)
"""

# Senders with queued rows: a loose index scan over message_due (one index probe per
# distinct sender), instead of SELECT DISTINCT reading every queued row.
_SENDERS = """
WITH RECURSIVE s AS (
    (SELECT from_number FROM texting_message WHERE status = 'queued'
     ORDER BY from_number LIMIT 1)
    UNION ALL
    SELECT (SELECT from_number FROM texting_message
            WHERE status = 'queued' AND from_number > s.from_number
            ORDER BY from_number LIMIT 1)
    FROM s WHERE s.from_number IS NOT NULL
)
SELECT from_number FROM s WHERE from_number IS NOT NULL
"""


@dataclass
class Claimed:
    id: int
    segments: int
    attempts: int
    max_mps: Decimal | None

    @property
    def nonce(self) -> str:
        """Its booking's name in the sender's window log (unique per attempt)."""
        return f"{self.id}.{self.attempts}"


@dataclass
class PassResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    canceled: int = 0
    gone: int = 0


@dataclass(frozen=True)
class Sender:
    e164: str
    mps: float
    kind: str


def lease_seconds() -> int:
    return int(settings.DISPATCH_LEASE_SECONDS)


def margin() -> float:
    return float(settings.DISPATCH_RATE_MARGIN)


def due_senders() -> list[str]:
    """Senders with at least one queued message (due now or later)."""
    with connection.cursor() as cursor:
        cursor.execute(_SENDERS)
        return [row[0] for row in cursor.fetchall()]


def sender_info(e164s: list[str]) -> dict[str, Sender]:
    """MPS and kind per sender. A number we no longer hold sends at 1 MPS, priced long."""
    found = {
        e164: Sender(e164, float(mps), kind)
        for e164, mps, kind in PhoneNumber.objects.filter(e164__in=e164s).values_list(
            "e164", "mps", "kind"
        )
    }
    return {e164: found.get(e164) or Sender(e164, 1.0, "long") for e164 in e164s}


def claim(*, sender: str, limit: int) -> list[Claimed]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"sender": sender, "limit": limit, "lease": lease_seconds()})
        return [Claimed(*row) for row in cursor.fetchall()]


def requeue(ids: list[int], *, after: float, undo_attempt: bool = False, **fields) -> int:
    """Claimed rows back to the queue, due `after` seconds from now."""
    update = {
        "status": MessageStatus.QUEUED,
        "lease_until": None,
        "send_after": timezone.now() + datetime.timedelta(seconds=after),
        **fields,
    }
    if undo_attempt:
        update["attempts"] = F("attempts") - 1
    return Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(**update)


def _finish(message_id: int, **fields) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
        lease_until=None, **fields
    )


def final_check(message: Message) -> tuple[str, str] | None:
    """None when the message may go now; else (status, reason) to end it with, or
    ("hold", reason) to put it back in the queue untouched.

    `message` comes with its campaign and contact (select_related), read right now."""
    now = timezone.now()
    if message.send_by and now > message.send_by:
        return MessageStatus.FAILED, "expired"
    if message.campaign_id is not None and message.campaign.status != CampaignStatus.SENDING:
        if message.campaign.status in (CampaignStatus.PAUSED, CampaignStatus.SCHEDULED):
            return "hold", f"campaign {message.campaign.status}"
        return MessageStatus.CANCELED, f"campaign {message.campaign.status}"
    try:
        contact = message.contact
    except Contact.DoesNotExist:
        contact = None
    if contact is None or contact.account_id != message.account_id:
        return MessageStatus.CANCELED, "contact deleted"
    allowed, reason = may_send_now(contact=contact)
    if not allowed:
        return MessageStatus.CANCELED, reason
    return None


def _out_of_money(message: Message) -> None:
    """The balance cannot cover this message: pause its campaign with the reason."""
    from .services import TransitionError, campaign_transition

    reason = "Paused: the account balance is too low to keep sending. Add funds and resume."
    if message.campaign_id is not None:
        with contextlib.suppress(TransitionError):
            campaign_transition(campaign=message.campaign, to=CampaignStatus.PAUSED, reason=reason)
        requeue([message.pk], after=0, undo_attempt=True, error_reason="insufficient balance")
    else:
        requeue(
            [message.pk],
            after=BALANCE_RETRY_SECONDS,
            undo_attempt=True,
            error_reason="insufficient balance",
        )


def _charge(message: Message, price: Decimal) -> bool:
    """Debit the message's price once: a retry of a message already paid for (its
    `charged` is set) is not charged again. False when the balance cannot cover it."""
    if message.charged is not None:
        return True
    with transaction.atomic():
        if not balance_debit(account_id=message.account_id, amount=price):
            return False
        Message.objects.filter(pk=message.pk).update(charged=price)
    message.charged = price
    return True


def _refund(message: Message) -> None:
    """Give back what `_charge` took, for a message that did not go."""
    with transaction.atomic():
        if Message.objects.filter(pk=message.pk, charged__isnull=False).update(charged=None):
            balance_credit(account_id=message.account_id, amount=message.charged)
    message.charged = None


def _release_connection() -> None:
    """Hand this thread's connection back to the pool (never inside a transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def deliver(
    message_id: int,
    *,
    kind: str | None = None,
    fire_at: float | None = None,
    nonce: str | None = None,
) -> str:
    """`_deliver`, then tell the campaign's live status that something moved."""
    outcome, campaign_id = _deliver(message_id, kind=kind, fire_at=fire_at, nonce=nonce)
    if campaign_id is not None and outcome != "gone":
        live.campaign_changed(campaign_id)
    return outcome


def _deliver(
    message_id: int,
    *,
    kind: str | None = None,
    fire_at: float | None = None,
    nonce: str | None = None,
) -> tuple[str, int | None]:
    """After the claim and the booking: final check and debit, then, at the booked slot
    (`fire_at`, monotonic; at most the horizon away), the provider call and its outcome.
    `nonce` is the booking's, so the window log records when the call really went.

    The check and the debit run first so that only the call itself sits on the slot:
    the time between the slot and the carrier counting the message is what the rate
    margin has to absorb."""
    message = (
        Message.objects.select_related("campaign", "contact")
        .filter(pk=message_id, status=MessageStatus.SENDING)
        .first()
    )
    if message is None:
        return "gone", None
    verdict = final_check(message)
    if verdict is not None:
        status, reason = verdict
        if status == "hold":  # paused while claimed: back in the queue, untouched
            requeue([message.pk], after=0, undo_attempt=True)
            return "deferred", message.campaign_id
        _finish(message.pk, status=status, error_reason=reason, failed_at=timezone.now())
        return ("canceled" if status == MessageStatus.CANCELED else "failed"), message.campaign_id
    if kind is None:
        kind = sender_info([message.from_number])[message.from_number].kind
    price = message_price(kind=kind, segments=message.segments)
    if not _charge(message, price):
        _out_of_money(message)
        return "deferred", message.campaign_id
    if fire_at is not None and (wait := fire_at - time.monotonic()) > 0:
        _release_connection()  # back to the pool while waiting for the slot
        time.sleep(wait)
        # Take one again before marking the slot: a provider that needs the database
        # (the simulator) must not wait for a connection between the mark and the call.
        connection.ensure_connection()
    request = SendRequest(
        from_=message.from_number,
        to=message.to_number,
        text=message.body,
        idempotency_key=str(message.idempotency_key),
    )
    if nonce is not None:
        try:
            ratelimit.mark_sent(sender=message.from_number, nonce=nonce, segments=message.segments)
        except redis.RedisError:  # only sharpens the window log; the booking stands
            log.warning("could not mark message %s as sent in the window log", message.pk)
    try:
        result = get_provider().send(request)
    except RateLimitedError as exc:
        _refund(message)
        ratelimit.penalize(sender=message.from_number, seconds=exc.retry_after or 1.0)
        requeue([message.pk], after=exc.retry_after or 1.0, undo_attempt=True, error_code=exc.code)
        return "deferred", message.campaign_id
    except PermanentError as exc:
        _refund(message)
        _finish(
            message.pk,
            status=MessageStatus.FAILED,
            error_code=exc.code,
            error_reason=exc.title or str(exc),
            failed_at=timezone.now(),
        )
        return "failed", message.campaign_id
    except ProviderError as exc:  # retryable
        _refund(message)
        if message.attempts >= MAX_ATTEMPTS:
            _finish(
                message.pk,
                status=MessageStatus.FAILED,
                error_code=exc.code,
                error_reason=f"gave up after {message.attempts} attempts: {exc.title or exc}",
                failed_at=timezone.now(),
            )
            return "failed", message.campaign_id
        requeue([message.pk], after=min(2**message.attempts, 300), error_code=exc.code)
        return "deferred", message.campaign_id
    _finish(
        message.pk,
        status=MessageStatus.SENT,
        provider_message_id=result.provider_message_id,
        sent_at=timezone.now(),
        segments=result.parts or message.segments,
        error_code="",  # a 429 or transient error on an earlier attempt is history now
        error_reason="",
    )
    engagement_record(
        contact=Contact(pk=message.contact_id, account_id=message.account_id),
        type=EventType.SMS_SENT,
        campaign_id=message.campaign_id,
        data={"message_id": message.pk, "from": message.from_number},
    )
    rematch_parked(message_ref=result.provider_message_id)
    return "sent", message.campaign_id


def book(sender: Sender, rows: list[Claimed]) -> tuple[list[tuple[Claimed, float]], float]:
    """Book a slot for each claimed row in order. Returns the booked (row, fire_at) pairs,
    fire_at on the monotonic clock, and, if some did not fit the horizon, how long until
    the sender has room again (the rest are already back in the queue, due then)."""
    booked: list[tuple[Claimed, float]] = []
    for position, row in enumerate(rows):
        booking = ratelimit.schedule(
            sender=sender.e164,
            mps=sender.mps,
            segments=row.segments,
            nonce=row.nonce,
            horizon=HORIZON,
            rate=float(row.max_mps) if row.max_mps else None,
            margin=margin(),
        )
        if not booking.booked:
            requeue([r.id for r in rows[position:]], after=booking.delay, undo_attempt=True)
            return booked, booking.delay
        # The delay is relative to this call: anchor it now, not after the whole batch,
        # or the first messages would fire late and bunch up against the later ones.
        booked.append((row, time.monotonic() + booking.delay))
    return booked, 0.0


def dispatch_sender(*, sender: str) -> PassResult:
    """One pass over one sender, delivering inline (tests and one-off drains). The drain
    loop does the same with a thread pool."""
    info = sender_info([sender])[sender]
    rows = claim(sender=sender, limit=max(1, batch_size(info, time.monotonic())))
    result = PassResult(claimed=len(rows))
    booked, _ = book(info, rows)
    result.deferred += len(rows) - len(booked)
    for row, fire_at in booked:
        outcome = deliver(row.id, kind=info.kind, fire_at=fire_at, nonce=row.nonce)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _interval(sender: Sender) -> float:
    return 1 / (sender.mps * margin())


def batch_size(sender: Sender, booked_until: float | None = None) -> int:
    """Rows one claim takes: the slots left in the horizon after the last booked one
    (`booked_until`, monotonic; None: not known yet, so one row, whose booking tells).
    0: nothing fits until the horizon moves on."""
    if booked_until is None:
        return 1
    now = time.monotonic()
    interval = _interval(sender)
    next_slot = booked_until + interval if booked_until > now else now
    if next_slot > now + HORIZON:
        return 0
    return int((now + HORIZON - next_slot) / interval) + 1


def _next_claim(sender: Sender, booked_until: float) -> float:
    """When to claim again: once a few slots are free in the horizon."""
    return max(booked_until - REFILL, booked_until + _interval(sender) - HORIZON)


# --- The drain loop -------------------------------------------------------------------


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass
class Owned:
    sender: Sender
    next_claim: float = 0.0  # monotonic
    booked_until: float | None = None  # monotonic: this sender's last booked slot


@dataclass
class Drainer:
    """One drain loop. Not shared between threads: the loop thread owns all state except
    the in-flight counter, which the pool threads decrement."""

    pool: ThreadPoolExecutor
    max_in_flight: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    owned: dict[str, Owned] = field(default_factory=dict)
    in_flight: int = 0
    claimed: int = 0
    waiting_for_share: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _idle: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self._idle = threading.Condition(self._lock)
        self._r = _redis(settings.REDIS_URL)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)

    # -- ownership --------------------------------------------------------------------

    def _heartbeat(self) -> int:
        """Register this loop; returns how many loops are alive."""
        now_ms = int(time.time() * 1000)
        pipe = self._r.pipeline()
        pipe.zadd(DRAINERS, {self.token: now_ms})
        pipe.zremrangebyscore(DRAINERS, "-inf", now_ms - OWNER_TTL_MS)
        pipe.zcard(DRAINERS)
        return max(1, int(pipe.execute()[-1]))

    def _drop(self, e164: str) -> None:
        self._release(keys=[OWNER_PREFIX + e164], args=[self.token])
        self.owned.pop(e164, None)

    def refresh_ownership(self) -> None:
        alive = self._heartbeat()
        due = sender_info(due_senders())
        for e164 in list(self.owned):
            still_mine = self._renew(keys=[OWNER_PREFIX + e164], args=[self.token, OWNER_TTL_MS])
            if e164 not in due or not still_mine:
                self._drop(e164)
        share = sum(s.mps for s in due.values()) / alive
        owned_mps = sum(o.sender.mps for o in self.owned.values())
        # Give back the smallest senders while holding well over a fair share.
        for e164 in sorted(self.owned, key=lambda k: self.owned[k].sender.mps):
            if len(self.owned) <= 1 or owned_mps <= share * 1.2:
                break
            owned_mps -= self.owned[e164].sender.mps
            self._drop(e164)
        candidates = [s for e164, s in due.items() if e164 not in self.owned]
        random.shuffle(candidates)
        self.waiting_for_share = False
        for sender in sorted(candidates, key=lambda s: -s.mps):
            if self.owned and owned_mps + sender.mps > share * 1.2:
                continue
            if self._r.set(OWNER_PREFIX + sender.e164, self.token, nx=True, px=OWNER_TTL_MS):
                self.owned[sender.e164] = Owned(sender=sender)
                owned_mps += sender.mps
        # Work exists but others hold it all: another loop gives some back shortly.
        self.waiting_for_share = not self.owned and bool(due)

    def release_all(self) -> None:
        for e164 in list(self.owned):
            self._drop(e164)
        self._r.zrem(DRAINERS, self.token)

    # -- sending ----------------------------------------------------------------------

    def _run_one(self, row: Claimed, fire_at: float, kind: str) -> None:
        try:
            deliver(row.id, kind=kind, fire_at=fire_at, nonce=row.nonce)
        except Exception:
            log.exception("delivering message %s failed; its lease will bring it back", row.id)
        finally:
            _release_connection()
            with self._lock:
                self.in_flight -= 1
                self._idle.notify_all()

    def fill(self, owned: Owned) -> None:
        """Claim and book what `owned`'s sender can send within the horizon."""
        now = time.monotonic()
        room = self.max_in_flight - self.in_flight
        if room <= 0:
            owned.next_claim = now + 0.005
            return
        size = batch_size(owned.sender, owned.booked_until)
        if size == 0:
            owned.next_claim = _next_claim(owned.sender, owned.booked_until or now)
            return
        rows = claim(sender=owned.sender.e164, limit=min(room, size))
        if not rows:
            owned.next_claim = now + 0.1  # nothing due (or its campaign is paused)
            return
        self.claimed += len(rows)
        booked, wait = book(owned.sender, rows)
        with self._lock:
            self.in_flight += len(booked)
        for row, fire_at in booked:
            owned.booked_until = max(owned.booked_until or 0.0, fire_at)
            self.pool.submit(self._run_one, row, fire_at, owned.sender.kind)
        now = time.monotonic()
        if wait:
            # The sender's next free slot is `wait` past the horizon: the last booked
            # one (ours or another process's) is an interval before it.
            owned.booked_until = now + wait + HORIZON - _interval(owned.sender)
            owned.next_claim = now + wait
        else:
            owned.next_claim = max(now, _next_claim(owned.sender, owned.booked_until))

    def run(self, seconds: float) -> int:
        """Drain for up to `seconds`; ends sooner once nothing was claimed or in flight
        for IDLE_EXIT_SECONDS (held back by paused campaigns or future send_after alike).
        Returns the rows claimed."""
        # Threads waking for their slot get the GIL within a millisecond, not five.
        sys.setswitchinterval(0.001)
        get_provider().warm_up()
        deadline = time.monotonic() + seconds
        next_housekeeping = next_ownership = 0.0
        busy_at = time.monotonic()
        try:
            while time.monotonic() < deadline:
                now = time.monotonic()
                if now >= next_housekeeping:
                    housekeeping()
                    next_housekeeping = now + HOUSEKEEPING_SECONDS
                if now >= next_ownership:
                    held = set(self.owned)
                    self.refresh_ownership()
                    next_ownership = now + OWNERSHIP_SECONDS
                    if set(self.owned) - held:  # a sender just taken gets its chance
                        busy_at = now
                if self.in_flight:
                    busy_at = now
                elif now - busy_at > (
                    SHARE_WAIT_SECONDS if self.waiting_for_share else IDLE_EXIT_SECONDS
                ):
                    break
                if not self.owned:
                    time.sleep(0.05)
                    continue
                before = self.claimed
                for owned in list(self.owned.values()):
                    if time.monotonic() >= owned.next_claim:
                        self.fill(owned)
                if self.claimed > before:
                    busy_at = time.monotonic()
                soonest = min(o.next_claim for o in self.owned.values())
                time.sleep(min(0.02, max(0.001, soonest - time.monotonic())))
        finally:
            try:
                self.release_all()
            except redis.RedisError:  # Redis is down: the leases expire on their own
                log.warning("could not release sender leases; they expire in %s ms", OWNER_TTL_MS)
            with self._lock:
                self._idle.wait_for(lambda: self.in_flight == 0, timeout=HORIZON + 30)
            housekeeping()
            _release_connection()
        return self.claimed


# --- Housekeeping (any loop, any time; all idempotent) --------------------------------


def reclaim_expired_leases() -> int:
    """Rows stuck in `sending` past their lease (a worker died): queue them again. The
    idempotency key stays, so if the provider had accepted, the retry is a replay."""
    return Message.objects.filter(
        status=MessageStatus.SENDING, lease_until__lt=timezone.now()
    ).update(status=MessageStatus.QUEUED, lease_until=None, send_after=timezone.now())


def release_due_scheduled() -> int:
    return Message.objects.filter(
        status=MessageStatus.SCHEDULED, send_after__lte=timezone.now()
    ).update(status=MessageStatus.QUEUED)


def start_due_campaigns() -> int:
    """Scheduled campaigns whose first message is due start sending."""
    from .services import TransitionError, campaign_transition

    started = 0
    due = Campaign.objects.filter(
        status=CampaignStatus.SCHEDULED,
        messages__status=MessageStatus.SCHEDULED,
        messages__send_after__lte=timezone.now(),
    ).distinct()
    for campaign in due:
        try:
            campaign_transition(campaign=campaign, to=CampaignStatus.SENDING)
            started += 1
        except TransitionError:
            continue
    return started


def complete_finished_campaigns() -> int:
    """Sending campaigns with nothing left to send are completed."""
    from .services import TransitionError, campaign_transition

    done = 0
    waiting = (MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING)
    for campaign in Campaign.objects.filter(status=CampaignStatus.SENDING).exclude(
        messages__status__in=waiting
    ):
        try:
            campaign_transition(campaign=campaign, to=CampaignStatus.COMPLETED)
            done += 1
        except TransitionError:
            continue
    return done


def housekeeping() -> None:
    reclaim_expired_leases()
    start_due_campaigns()
    release_due_scheduled()
    complete_finished_campaigns()
