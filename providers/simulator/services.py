"""The simulated carrier's writes: accepting sends, logging violations, inbound SMS,
provisioning numbers and 10DLC registrations."""

import logging
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from ..base import PermanentError, RateLimitedError, SendRequest, infer_kind, provider_error
from ..encoding import MAX_PARTS, segment_count
from ..models import SimulatorMessage, SimulatorNumber, SimulatorRegistration, SimulatorViolation
from . import events, lifecycle
from .behaviour import API_REJECTIONS, ERROR_TITLES, decide_fate, default_mps, setting
from .throughput import give_back_segments, take_segments

log = logging.getLogger(__name__)

_MPS_CACHE_SECONDS = 2.0
_mps_cache: dict[str, tuple[float, str, float]] = {}


def sender_mps(from_number: str) -> tuple[str, float]:
    """(kind, MPS) for a sender: as provisioned here, else the default for its kind.
    Cached for a moment per process: the carrier counts a request the moment it arrives,
    before any bookkeeping."""
    cached = _mps_cache.get(from_number)
    if cached and cached[0] > time.monotonic():
        return cached[1], cached[2]
    known = SimulatorNumber.objects.filter(e164=from_number).values_list("kind", "mps").first()
    if known:
        kind, mps = known[0], float(known[1])
    else:
        kind = infer_kind(from_number)
        mps = default_mps(kind)
    _mps_cache[from_number] = (time.monotonic() + _MPS_CACHE_SECONDS, kind, mps)
    return kind, mps


def violation_record(
    *, from_number: str, at: datetime, count_in_window: int, limit: int, parts: int
) -> None:
    SimulatorViolation.objects.create(
        from_number=from_number, at=at, count_in_window=count_in_window, limit=limit, parts=parts
    )


def _reject(code: str) -> PermanentError:
    title, detail = ERROR_TITLES[code]
    error = provider_error(code=code, http_status=400, title=title, detail=detail)
    assert isinstance(error, PermanentError)
    return error


def _insert_once(msg: SimulatorMessage) -> bool:
    """INSERT the send unless its idempotency key is already logged (one statement, no
    lookup first). False when it was."""
    fields = [f for f in SimulatorMessage._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = [f.get_db_prep_save(f.pre_save(msg, True), connection) for f in fields]
    table = connection.ops.quote_name(SimulatorMessage._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1",
            values,
        )
        return cursor.fetchone() is not None


def message_accept(*, request: SendRequest, arrival_us: int | None = None) -> SimulatorMessage:
    """Accept one send like the network would, or raise a ProviderError.

    Order matters: the sender's throughput is counted first, the moment the request
    arrives, as a carrier's edge does; a replayed idempotency key then answers with the
    original message (Telnyx replays successful responses) and gives its count back, so
    only new sends use up throughput.
    """
    if not request.to:
        raise _reject("40310")
    if request.to in API_REJECTIONS:
        raise _reject(API_REJECTIONS[request.to])
    if not request.from_:
        raise provider_error(code="40305", http_status=400, title="Invalid 'from' address")
    if not request.text and not request.media_urls:
        raise provider_error(code="40316", http_status=400, title="No content")
    parts, encoding = segment_count(request.text)
    if parts > MAX_PARTS:
        raise provider_error(code="40302", http_status=400, title="Message too large")

    kind, mps = sender_mps(request.from_)
    nonce = f"{request.idempotency_key}:{uuid.uuid4().hex[:8]}"  # unique per request
    allowed, in_window, limit = take_segments(
        sender=request.from_, mps=mps, parts=parts, nonce=nonce, arrival_us=arrival_us
    )
    now = datetime.fromtimestamp(arrival_us / 1_000_000, tz=UTC) if arrival_us else timezone.now()
    if not allowed:
        existing = SimulatorMessage.objects.filter(idempotency_key=request.idempotency_key).first()
        if existing is not None:  # a replay sends nothing, so it is never over the limit
            return existing
        violation_record(
            from_number=request.from_, at=now, count_in_window=in_window, limit=limit, parts=parts
        )
        raise RateLimitedError(
            code="10011",
            title="Too many requests",
            detail=f"{request.from_} is limited to {mps:g} MPS ({in_window} segments in the last second).",
            http_status=429,
            retry_after=1.0 if mps >= 1 else 1 / mps,
        )

    fate = decide_fate(to=request.to, idempotency_key=request.idempotency_key)
    msg = SimulatorMessage(
        idempotency_key=request.idempotency_key,
        from_number=request.from_,
        to_number=request.to,
        text=request.text,
        media_urls=list(request.media_urls),
        parts=parts,
        encoding=encoding,
        kind=kind,
        accepted_at=now,
        outcome=fate.outcome,
        error_code=fate.error_code,
        reply=fate.reply,
    )
    if not _insert_once(msg):
        # A replay (Telnyx answers a repeated idempotency key with the original): it
        # sends nothing, so it gives back what it just counted.
        give_back_segments(sender=request.from_, parts=parts, nonce=nonce)
        return SimulatorMessage.objects.get(idempotency_key=request.idempotency_key)

    message_id = str(msg.id)

    def schedule_lifecycle() -> None:
        try:
            lifecycle.accepted(message_id)
        except Exception:  # Redis is down: the send stands; its receipts are lost
            log.exception("could not schedule the receipts of simulator message %s", message_id)

    transaction.on_commit(schedule_lifecycle)
    return msg


def inject_inbound(
    *, from_: str, to: str, text: str, media: list[dict[str, Any]] | None = None
) -> str:
    """The network delivers an SMS from `from_` to our number `to` (a signed
    message.received posted from the simulator queue). Returns the event id."""
    from .tasks import post_event

    parts, encoding = segment_count(text)
    event_id = str(uuid.uuid4())
    envelope = events.message_received(
        message_id=str(uuid.uuid4()),
        event_id=event_id,
        from_=from_,
        to=to,
        text=text,
        parts=parts,
        encoding=encoding,
        media=media,
    )
    transaction.on_commit(lambda: post_event.delay(envelope))
    return event_id


# --- Numbers ---------------------------------------------------------------------------
def number_provision(*, e164: str, state: str = "") -> SimulatorNumber:
    kind = infer_kind(e164)
    _mps_cache.pop(e164, None)
    number, _ = SimulatorNumber.objects.get_or_create(
        e164=e164, defaults={"kind": kind, "mps": Decimal(str(default_mps(kind))), "state": state}
    )
    return number


# --- 10DLC -----------------------------------------------------------------------------
def _registration_seconds() -> float:
    return float(setting("SIMULATOR_REGISTRATION_SECONDS", 5))


def registration_create(
    *,
    kind: str,
    name: str = "",
    parent_id: str = "",
    data: dict[str, Any] | None = None,
    pk: str | None = None,
) -> SimulatorRegistration:
    reason = ""
    if kind == SimulatorRegistration.Kind.BRAND and "REJECT" in name.upper():
        reason = (
            "Brand identity could not be verified: the company details do not match public records."
        )
    registration, _ = SimulatorRegistration.objects.update_or_create(
        pk=pk or str(uuid.uuid4()),
        defaults={
            "kind": kind,
            "name": name,
            "parent_id": parent_id,
            "rejection_reason": reason,
            "data": data or {},
            "created_at": timezone.now(),
        },
    )
    return registration


def registration_state(registration: SimulatorRegistration) -> tuple[str, str]:
    """(pending|approved|rejected, reason). Decided after SIMULATOR_REGISTRATION_SECONDS;
    a campaign waits for its brand and a number assignment for its campaign."""
    if registration.parent_id:
        parent = SimulatorRegistration.objects.filter(pk=registration.parent_id).first()
        if parent is None:
            return "rejected", f"Unknown {registration.kind} parent {registration.parent_id}."
        parent_state, parent_reason = registration_state(parent)
        if parent_state == "rejected":
            return "rejected", f"The {parent.kind} was rejected: {parent_reason}"
        if parent_state == "pending":
            return "pending", ""
    elapsed = (timezone.now() - registration.created_at).total_seconds()
    if elapsed < _registration_seconds():
        return "pending", ""
    if registration.rejection_reason:
        return "rejected", registration.rejection_reason
    return "approved", ""
