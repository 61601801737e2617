"""The dispatcher: drain due messages per sender without ever sleeping on a claim.

One pass over a sender (`dispatch_sender`):
1. claim a small batch of due rows (status queued, send_after <= now, campaign sending
   or none) with FOR UPDATE SKIP LOCKED, marking them `sending` with a lease. The batch
   is what the sender may send in ~CLAIM_WINDOW seconds, so claims are short-lived;
2. per message, take tokens from the sender's GCRA bucket (texting.ratelimit, counted in
   segments, campaign throttle applied). No token: the row goes straight back to
   `queued` with send_after = when a token will be there; nobody waits holding it;
3. the final check (opted out since commit? campaign still sending? deadline passed?);
4. the provider call, several in flight at once (threads: the calls are network-bound),
   always with the message's idempotency key, so a retry after a crash is replayed by
   the provider instead of sent twice;
5. the outcome: accepted -> `sent` with the provider id; rate-limited -> back to
   `queued` later and the sender's bucket pushed back; transient -> `queued` with
   backoff; permanent -> `failed` with the provider's code and reason.
A lease that expires (the worker died mid-call) is reclaimed by `reclaim_expired_leases`;
the row is retried with the same idempotency key.
"""

import datetime
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from compliance.eligibility import may_send_now
from contacts.models import Contact, EventType
from contacts.services import engagement_record
from phone_numbers.models import PhoneNumber
from providers.base import PermanentError, ProviderError, RateLimitedError, SendRequest
from providers.registry import get_provider
from providers.services import rematch_parked

from . import ratelimit
from .models import Campaign, CampaignStatus, Message, MessageStatus

log = logging.getLogger(__name__)

LEASE_SECONDS = 60
CLAIM_WINDOW = 0.5  # seconds of a sender's throughput claimed at once
MAX_IN_FLIGHT = 16
MAX_ATTEMPTS = 6

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
RETURNING m.id
"""


@dataclass
class PassResult:
    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    canceled: int = 0
    gone: int = 0


def due_senders() -> list[str]:
    """Senders with at least one due message (uses the message_due partial index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT from_number FROM texting_message"
            " WHERE status = 'queued' AND send_after <= clock_timestamp()"
        )
        return [row[0] for row in cursor.fetchall()]


def claim(*, sender: str, limit: int) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"sender": sender, "limit": limit, "lease": LEASE_SECONDS})
        return [row[0] for row in cursor.fetchall()]


def _requeue(message_id: int, *, after: float, undo_attempt: bool = False, **fields) -> None:
    update = {
        "status": MessageStatus.QUEUED,
        "lease_until": None,
        "send_after": timezone.now() + datetime.timedelta(seconds=after),
        **fields,
    }
    qs = Message.objects.filter(pk=message_id, status=MessageStatus.SENDING)
    if undo_attempt:
        from django.db.models import F

        update["attempts"] = F("attempts") - 1
    qs.update(**update)


def _finish(message_id: int, **fields) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
        lease_until=None, **fields
    )


def final_check(message: Message) -> tuple[str, str] | None:
    """None when the message may go now; else (status, reason) to end it with."""
    now = timezone.now()
    if message.send_by and now > message.send_by:
        return MessageStatus.FAILED, "expired"
    if message.campaign_id is not None:
        status = (
            Campaign.objects.filter(pk=message.campaign_id).values_list("status", flat=True).first()
        )
        if status != CampaignStatus.SENDING:
            return "hold", f"campaign {status}"
    contact = Contact.objects.filter(pk=message.contact_id, account_id=message.account_id).first()
    if contact is None:
        return MessageStatus.CANCELED, "contact deleted"
    allowed, reason = may_send_now(contact=contact)
    if not allowed:
        return MessageStatus.CANCELED, reason
    return None


def _reserve(message: Message, *, mps: float) -> ratelimit.Reservation:
    throttle = 1.0
    if message.campaign and message.campaign.max_mps:
        throttle = min(1.0, float(message.campaign.max_mps) / mps)
    return ratelimit.reserve(
        sender=message.from_number, mps=mps, segments=message.segments, throttle=throttle
    )


def deliver(message_id: int) -> str:
    """After the claim and the token: final check, provider call, record the outcome."""
    try:
        message = Message.objects.get(pk=message_id, status=MessageStatus.SENDING)
    except Message.DoesNotExist:
        return "gone"
    verdict = final_check(message)
    if verdict is not None:
        status, reason = verdict
        if status == "hold":  # paused while claimed: back in the queue, untouched
            _requeue(message.pk, after=0, undo_attempt=True)
            return "deferred"
        _finish(message.pk, status=status, error_reason=reason, failed_at=timezone.now())
        return "canceled" if status == MessageStatus.CANCELED else "failed"
    request = SendRequest(
        from_=message.from_number,
        to=message.to_number,
        text=message.body,
        idempotency_key=str(message.idempotency_key),
    )
    try:
        result = get_provider().send(request)
    except RateLimitedError as exc:
        ratelimit.penalize(sender=message.from_number, seconds=exc.retry_after or 1.0)
        _requeue(message.pk, after=exc.retry_after or 1.0, undo_attempt=True, error_code=exc.code)
        return "deferred"
    except PermanentError as exc:
        _finish(
            message.pk,
            status=MessageStatus.FAILED,
            error_code=exc.code,
            error_reason=exc.title or str(exc),
            failed_at=timezone.now(),
        )
        return "failed"
    except ProviderError as exc:  # retryable
        if message.attempts >= MAX_ATTEMPTS:
            _finish(
                message.pk,
                status=MessageStatus.FAILED,
                error_code=exc.code,
                error_reason=f"gave up after {message.attempts} attempts: {exc.title or exc}",
                failed_at=timezone.now(),
            )
            return "failed"
        _requeue(message.pk, after=min(2**message.attempts, 300), error_code=exc.code)
        return "deferred"
    _finish(
        message.pk,
        status=MessageStatus.SENT,
        provider_message_id=result.provider_message_id,
        sent_at=timezone.now(),
        segments=result.parts or message.segments,
    )
    engagement_record(
        contact=Contact(pk=message.contact_id, account_id=message.account_id),
        type=EventType.SMS_SENT,
        campaign_id=message.campaign_id,
        data={"message_id": message.pk, "from": message.from_number},
    )
    rematch_parked(message_ref=result.provider_message_id)
    return "sent"


def _deliver_in_thread(message_id: int) -> str:
    try:
        return deliver(message_id)
    finally:
        close_old_connections()


# When each sender's bucket has a token again (per process): a pass skips senders that
# are not ready instead of claiming rows only to put them back.
_next_ready: dict[str, float] = {}


def dispatch_sender(
    *, sender: str, pool: ThreadPoolExecutor | None = None, in_flight: list[Future] | None = None
) -> PassResult:
    """One pass: claim what the sender may send now, take a token per message, and hand
    each to the pool (or deliver inline without one). Never waits while holding claims."""
    result = PassResult()
    if time.monotonic() < _next_ready.get(sender, 0.0):
        return result
    mps = float(PhoneNumber.objects.filter(e164=sender).values_list("mps", flat=True).first() or 1)
    ids = claim(sender=sender, limit=max(1, int(mps * CLAIM_WINDOW)))
    result.claimed = len(ids)
    messages = Message.objects.select_related("campaign").in_bulk(ids)
    for position, message_id in enumerate(ids):
        reservation = _reserve(messages[message_id], mps=mps)
        if not reservation.allowed:
            # Out of tokens: this one and the rest go straight back to the queue.
            for rest in ids[position:]:
                _requeue(rest, after=reservation.retry_after, undo_attempt=True)
            result.deferred += len(ids) - position
            _next_ready[sender] = time.monotonic() + reservation.retry_after
            break
        if pool is None:
            outcome = deliver(message_id)
            setattr(result, outcome, getattr(result, outcome, 0) + 1)
        else:
            future = pool.submit(_deliver_in_thread, message_id)
            if in_flight is not None:
                in_flight.append(future)
    return result


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
