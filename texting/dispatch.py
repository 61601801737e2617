"""The dispatcher: drain due messages per sender, at the sender's rate, without ever
claiming more than can go out within a fraction of a second.

A drain loop (`Drainer.run`, one per dispatch worker process, started by the beat kick
`texting.tasks.dispatch_tick`) works like a scheduler:

1. **Ownership.** Each loop takes a fair share (by MPS) of the senders that have queued
   messages, holding a short Redis lease per sender (`dispatch:owner:<sender>`). One
   owner per sender means claims are sized exactly and nobody claims rows only to hand
   them back. Loops heartbeat in `dispatch:drainers`; when one joins or dies, shares are
   recomputed and its senders move within seconds.
2. **Claim and pay.** For an owned sender, the loop claims what the sender can send
   within the booking horizon (`HORIZON`): one statement takes the due rows `FOR UPDATE
   SKIP LOCKED` over the `message_due` partial index, marks them `sending` with a
   lease, and debits the account for the ones not yet paid for (`charged`), never below
   zero. A row the balance could not cover comes back unpaid.
3. **Book.** One Lua call books a slot for each claimed message in the sender's shared
   Redis schedule (`texting.ratelimit.schedule_many`: GCRA spacing in segments plus the
   carrier's sliding window, campaign throttle applied). What would fall beyond the
   horizon goes straight back to `queued` with `send_after` = the next free slot.
4. **Check.** One read loads the booked messages with their campaign's status and the
   contact (`checked_messages`); `final_check` runs on each (opted out since commit?
   campaign paused or canceled? deadline passed?). Failures end there, with a refund;
   an unpaid message is charged alone, and an empty balance pauses its campaign.
5. **Call.** Each checked message goes to a thread pool (the calls are network-bound;
   up to `DISPATCH_MAX_IN_FLIGHT` at once). A thread waits for its slot (at most the
   horizon), asks the window log whether the carrier's window has room *now*
   (`ratelimit.fire`; a call that would break the window waits a moment for room or
   goes back to the queue), and calls the provider with the message's idempotency key,
   so a retry after a crash is replayed by the provider, never sent twice. Until it
   answers, the call counts in every window check; then `ratelimit.landed` records
   when it reached the carrier, so a late call spaces the next ones from its real time.
6. **Record.** The last call of a claim records its accepted sends together (one
   UPDATE, one history INSERT, parked receipts rematched); rate-limited -> `queued`
   later and the sender's schedule pushed back; transient -> `queued` with backoff;
   permanent -> `failed` with the provider's code and reason. What did not go is
   refunded. Live status is only marked dirty here; the beat's flush pushes it.

A lease that expires (the worker died mid-call) is reclaimed; the row is retried with the
same idempotency key. Every loop re-derives its work from PostgreSQL, so a lost Celery
message or a Redis restart costs at most a moment.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import random
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import Account
from accounts.services import balance_debit
from compliance import rules
from compliance.eligibility import (
    DNC,
    FREQUENCY_CAP,
    NO_OPT_IN,
    NOT_PENDING,
    OPTED_OUT,
    SENT_DESPITE_OPT_OUT,
    may_send_now,
)
from compliance.models import DncEntry
from compliance.suppression import carrier_refusal_record
from contacts.models import Contact, EngagementEvent, EventType, SmsStatus
from contacts.services import engagement_record_many
from phone_numbers.models import PhoneNumber
from providers.base import (
    RECIPIENT_REFUSED_CODES,
    PermanentError,
    ProviderError,
    RateLimitedError,
    SendRequest,
    SendResult,
)
from providers.models import WebhookStatus
from providers.registry import get_provider
from providers.services import rematch_parked

from . import hooks, live, ratelimit, rules_sql
from .media import media_urls
from .models import Campaign, CampaignStatus, Message, MessageKind, MessageStatus
from .pricing import message_price, mms_price, segment_price

log = logging.getLogger(__name__)

HORIZON = 0.3  # seconds of a sender's slots booked ahead
REFILL = HORIZON / 2  # claim again when fewer than this many seconds remain booked
MAX_ATTEMPTS = 6
BALANCE_RETRY_SECONDS = 60
OWNER_PREFIX = "dispatch:owner:"
DRAINERS = "dispatch:drainers"
OWNER_TTL_MS = 3000
HOUSEKEEPING_SECONDS = 1.0
OWNERSHIP_SECONDS = 0.25
SHARE_WAIT_SECONDS = 3.0
# A call the carrier's window has no room for waits for room this long at most (a
# neighbour that reached the carrier late moved it), then goes back to the queue.
FIRE_WAIT_SECONDS = 0.2
FIRE_RETRY_FLOOR = 0.005  # an in-flight neighbour: look again this soon
EMPTY_CLAIM_SECONDS = 0.05  # nothing was due: look again this soon
SWEEP_BATCH = 5000
UPCOMING_SECONDS = 2.0  # a message due within this keeps the loop running for it
SENDER_LOAD_FLOOR = 25.0  # MPS a sender counts for at least when loops share senders

# One statement (autocommit: one round trip, the account row locked only for it): take
# the due rows, debit what the ones not yet paid for cost, and mark them `sending` with
# a lease and `charged` set when the debit went through. A message keeps its charge
# across a crash and its retry (`charged` is set), so it is never paid for twice. A
# message of a campaign with media is an MMS: MMS_PRICE per message, whatever its
# segments (one primary-key probe per claimed campaign row).
_CLAIM = """
WITH due AS (
    SELECT id, account_id, charged,
        CASE WHEN media_ids IS NOT NULL OR (campaign_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM texting_campaign c
                WHERE c.id = campaign_id AND c.media_ids <> '[]'::jsonb))
             THEN %(mms_price)s::numeric ELSE segments * %(price)s::numeric END AS price
    FROM texting_message
    WHERE status = 'queued' AND from_number = %(sender)s
      AND send_after <= clock_timestamp() + make_interval(secs => %(ahead)s)
      AND (campaign_id IS NULL OR campaign_id IN (
            SELECT id FROM texting_campaign WHERE status = 'sending'))
    ORDER BY send_after, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), paid AS (
    UPDATE accounts_account a SET balance = a.balance - cost.amount
    FROM (
        SELECT account_id, sum(price) AS amount
        FROM due WHERE charged IS NULL GROUP BY account_id
    ) cost
    WHERE a.id = cost.account_id AND a.balance >= cost.amount
    RETURNING a.id
)
UPDATE texting_message m
SET status = 'sending', lease_until = clock_timestamp() + make_interval(secs => %(lease)s),
    attempts = m.attempts + 1,
    charged = CASE WHEN m.charged IS NULL AND m.account_id IN (SELECT id FROM paid)
                   THEN due.price ELSE m.charged END
FROM due
WHERE m.id = due.id
RETURNING m.id, m.segments, m.attempts,
    -- a campaign's throttle is campaign-wide: each of its senders gets an equal part
    (SELECT c.max_mps / GREATEST(jsonb_array_length(c.sender_ids), 1)
     FROM texting_campaign c WHERE c.id = m.campaign_id),
    m.charged IS NOT NULL,
    -- due a moment from now (claimed within the horizon): its slot is not before then
    GREATEST(extract(epoch FROM m.send_after - clock_timestamp()), 0)::float
"""

# Give back what claimed rows were charged (they are going back to the queue or ending
# unsent), in one statement. Only rows still `sending`: one a slow worker has recorded
# as sent meanwhile keeps its charge.
_REFUND = """
WITH r AS (
    UPDATE texting_message m SET charged = NULL
    FROM (SELECT id, charged FROM texting_message
          WHERE id = ANY(%(ids)s) AND charged IS NOT NULL AND status = 'sending'
          FOR UPDATE) old
    WHERE m.id = old.id
    RETURNING m.account_id, old.charged
)
UPDATE accounts_account a SET balance = a.balance + s.amount
FROM (SELECT account_id, sum(charged) AS amount FROM r GROUP BY account_id) s
WHERE a.id = s.account_id
"""

# Accepted sends of a batch, recorded in one statement.
_SENT = """
UPDATE texting_message m
SET status = 'sent', lease_until = NULL, provider_message_id = v.provider_id,
    sent_at = v.sent_at, segments = v.segments, error_code = '', error_reason = ''
FROM unnest(%(ids)s::bigint[], %(provider_ids)s::text[], %(sent_at)s::timestamptz[],
            %(segments)s::smallint[]) AS v(id, provider_id, sent_at, segments)
WHERE m.id = v.id AND m.status = 'sending'
RETURNING m.id
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
    paid: bool = True  # the claim debited it (or an earlier attempt had)
    due_in: float = 0.0  # seconds until its send_after, when claimed ahead of it

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


def claim(*, sender: str, limit: int, kind: str | None = None, ahead: float = 0.0) -> list[Claimed]:
    """Take up to `limit` rows of `sender` due now or within `ahead` seconds, and pay
    for them (see `_CLAIM`). A row the balance could not cover comes back with `paid`
    False; one due later comes with its `due_in`, and is booked no earlier."""
    if kind is None:
        kind = sender_info([sender])[sender].kind
    params = {
        "sender": sender,
        "limit": limit,
        "lease": lease_seconds(),
        "price": segment_price(kind),
        "mms_price": mms_price(),
        "ahead": ahead,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, params)
        return [Claimed(*row) for row in cursor.fetchall()]


def next_due_in(sender: str) -> float | None:
    """Seconds until `sender`'s earliest queued message is due (negative: due already
    but not claimable, e.g. its campaign is paused); None when nothing is queued."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM send_after - clock_timestamp()) FROM texting_message"
            " WHERE status = 'queued' AND from_number = %s ORDER BY send_after LIMIT 1",
            [sender],
        )
        row = cursor.fetchone()
    return float(row[0]) if row else None


def refund(ids: list[int]) -> None:
    """Credit back what these messages were charged (claimed, then not sent)."""
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(_REFUND, {"ids": list(ids)})


def requeue(ids: list[int], *, after: float, undo_attempt: bool = False, **fields) -> int:
    """Claimed rows back to the queue, due `after` seconds from now, their charge given
    back (the claim that sends them pays again)."""
    update = {
        "status": MessageStatus.QUEUED,
        "lease_until": None,
        # Never earlier than it was due: a row claimed ahead of its time (within the
        # horizon) and handed back keeps its place in a paced or scheduled stream.
        "send_after": Greatest(
            F("send_after"), Value(timezone.now() + datetime.timedelta(seconds=after))
        ),
        **fields,
    }
    if undo_attempt:
        update["attempts"] = F("attempts") - 1
    with transaction.atomic():
        refund(ids)
        return Message.objects.filter(pk__in=ids, status=MessageStatus.SENDING).update(**update)


def hold_until(ids: list[int], *, until: datetime.datetime) -> int:
    """Claimed rows held by quiet hours: `scheduled` until `until` (housekeeping's
    `release_due_scheduled` queues them again then, so they do not sit in the due
    index overnight), their charge given back, the attempt not counted (a hold is not
    a failed try, so it never brings a message nearer to MAX_ATTEMPTS)."""
    return requeue(
        ids,
        after=0,
        undo_attempt=True,
        status=MessageStatus.SCHEDULED,
        send_after=Greatest(F("send_after"), Value(until)),  # exactly when it opens
    )


def _finish(message_id: int, **fields) -> None:
    """End a claimed message unsent (failed or canceled), its charge given back."""
    with transaction.atomic():
        refund([message_id])
        Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
            lease_until=None, **fields
        )


# A final-check verdict: hold the message until the instant in the reason (ISO 8601).
QUIET_HOURS = "quiet_hours"


def final_check(message: Message, *, dnc: bool = False) -> tuple[str, str] | None:
    """None when the message may go now; else (status, reason) to end it with,
    ("hold", reason) to put it back in the queue untouched, or (QUIET_HOURS, ISO
    instant) to put it back until the recipient's window opens.

    `message` comes with its campaign and contact (`checked_messages`), read right now;
    `dnc`: its phone is on the account's do-not-contact list (read in the same statement)."""
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
    # `kind`: a STOP confirmation or HELP reply may reach an opted-out number; no other.
    # A DNC-listed number gets nothing, whatever the kind.
    allowed, reason = may_send_now(contact=contact, kind=message.kind, dnc=dnc)
    if not allowed:
        return MessageStatus.CANCELED, reason
    if message.kind == MessageKind.CONFIRMATION_REQUEST:
        # A double opt-in's "reply YES": only while they are still pending (a YES or a
        # STOP since makes it moot), and not in their quiet hours (nobody wrote to us).
        if contact.sms_status != SmsStatus.PENDING:
            return MessageStatus.CANCELED, NOT_PENDING
        return _quiet_hours_verdict(message, contact, None, now)
    if message.kind is not None:
        # Keyword replies (STOP confirmation, HELP, START) answer the person who just
        # wrote: no consent gate beyond the above, no quiet hours.
        return None
    campaign = message.campaign if message.campaign_id is not None else None
    if campaign is not None and not rules.mode_allows(
        campaign.mode, contact.sms_status, rules.BULK
    ):
        return MessageStatus.CANCELED, NO_OPT_IN  # consent withdrawn to pending/none since commit
    if campaign is not None and not _within_caps(message, contact, campaign, now):
        return MessageStatus.CANCELED, FREQUENCY_CAP
    return _quiet_hours_verdict(message, contact, campaign, now)


def _within_caps(
    message: Message, contact: Contact, campaign: Campaign, now: datetime.datetime
) -> bool:
    """The frequency caps again, on what went out since the commit counted (compliance.
    rules: the campaign's cap and the state caps of the recipient's states)."""
    sent = getattr(message, "recent_sends", None) or []
    windows = {cap.hours for cap, _ in rules.caps_to_count(campaign.compliance)}
    by_hours = {
        hours: sum(1 for at in sent if at >= now - datetime.timedelta(hours=hours))
        for hours in windows
    }
    return rules.within_cap(
        sent_by_hours=by_hours,
        config=campaign.compliance,
        states=rules_sql.recipient_states(state=contact.state, phone=contact.phone),
    )


def _quiet_hours_verdict(
    message: Message, contact: Contact, campaign: Campaign | None, now: datetime.datetime
) -> tuple[str, str] | None:
    """Quiet hours right before the call (compliance.rules; pure zone math on the rows
    `checked_messages` loaded). In quiet hours: held until the window opens, unless that
    is past the message's `send_by`, when it fails as expired now rather than wait for
    nothing."""
    send = rules_sql.send_rules(account=message.account, campaign=campaign)
    zones = send.zones(
        candidates=contact.timezone_candidates,
        timezone=contact.timezone,
        source=contact.timezone_source,
    )
    states = rules_sql.recipient_states(state=contact.state, phone=contact.phone)
    if not send.is_quiet(now, zones=zones, states=states):
        return None
    until = send.next_allowed(now, zones=zones, states=states)
    if until is None or (message.send_by is not None and until > message.send_by):
        return MessageStatus.FAILED, "expired: quiet hours last past its send-by time"
    return QUIET_HOURS, until.isoformat()


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
    """Debit the message's price once: a message already paid for (its `charged` is
    set) is not charged again. False when the balance cannot cover it. The claim pays
    for a whole batch at once; this is the one-by-one path for what it could not cover."""
    if message.charged is not None:
        return True
    with transaction.atomic():
        if not balance_debit(account_id=message.account_id, amount=price):
            return False
        Message.objects.filter(pk=message.pk).update(charged=price)
    message.charged = price
    return True


def _release_connection() -> None:
    """Hand this thread's connection back to the pool (never inside a transaction)."""
    if not connection.in_atomic_block:
        connection.close()


# --- A claimed batch: check, call, record ----------------------------------------------


@dataclass
class Batch:
    """The messages of one claim that passed their final check, on their way out. Each
    call runs on its own (a pool thread); the last one to finish records the batch's
    accepted sends in one statement. Outcomes other than "accepted" (rate-limited,
    refused, failed) are recorded as they happen: they are rare."""

    sender: Sender
    calls: list[tuple[Message, Claimed, float]]  # (message, claim row, fire_at monotonic)
    accepted: list[tuple[Message, SendResult, datetime.datetime]] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    # MMS: message id -> signed URLs of its attachments, made once per claim (not in the
    # timed call path).
    media: dict[int, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _left: int = 0

    def __post_init__(self) -> None:
        self._left = len(self.calls)

    def done(self, outcome: str, accepted=None) -> bool:
        """Count one call's outcome; True for the call that finished the batch."""
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            if accepted is not None:
                self.accepted.append(accepted)
            self._left -= 1
            return self._left == 0


def _in_field_order(model: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """`from_db` maps values to fields by position in the model's field order."""
    order = {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}
    return tuple(sorted(names, key=order.__getitem__))


# What the final check reads, for a whole claim in one statement (no ORM compile per
# claim): the message, its campaign's status, the contact's compliance fields, and
# whether its phone is on the account's DNC list (one probe of the unique (account,
# phone) index per row, in the same statement: the DNC check adds no round trip). Models
# are built with `from_db`, so any other field loads if a check ever reads it.
_MESSAGE_FIELDS = (
    "id",
    "account_id",
    "campaign_id",
    "contact_id",
    "from_number",
    "to_number",
    "body",
    "segments",
    "encoding",
    "status",
    "kind",
    "media_ids",
    "send_by",
    "attempts",
    "idempotency_key",
    "charged",
)
_CAMPAIGN_FIELDS = (
    "id",
    "account_id",
    "mode",
    "compliance",
    "status",
    "send_started",
    "media_ids",
)
# The account's quiet hours and zone: the quiet-hours check needs them per message.
_ACCOUNT_FIELDS = ("id", "timezone", "quiet_hours_start", "quiet_hours_end")
_CONTACT_FIELDS = (
    "id",
    "account_id",
    "phone",
    "state",
    "timezone",
    "timezone_candidates",
    "timezone_source",
    "sms_status",
)
_MESSAGE_FIELDS = _in_field_order(Message, _MESSAGE_FIELDS)
_CAMPAIGN_FIELDS = _in_field_order(Campaign, _CAMPAIGN_FIELDS)
_ACCOUNT_FIELDS = _in_field_order(Account, _ACCOUNT_FIELDS)
_CONTACT_FIELDS = _in_field_order(Contact, _CONTACT_FIELDS)
# `sent`: for a campaign message, when this account's campaign messages to that phone
# went out in the last 30 days (the longest cap window, compliance.rules): the caps are
# checked again right before the call, since the commit's count cannot see what other
# campaigns, scheduled earlier or committed alongside, send meanwhile.
_CHECK = """
SELECT {message}, {campaign}, {account}, {contact}, d.id IS NOT NULL, hist.sent
FROM texting_message m
LEFT JOIN texting_campaign c ON c.id = m.campaign_id
JOIN accounts_account a ON a.id = m.account_id
LEFT JOIN contacts_contact ct ON ct.id = m.contact_id
LEFT JOIN {dnc} d ON d.account_id = m.account_id AND d.phone = m.to_number
LEFT JOIN LATERAL (
    SELECT array_agg(h.sent_at) AS sent FROM texting_message h
    WHERE m.campaign_id IS NOT NULL AND m.kind IS NULL
      AND h.account_id = m.account_id AND h.to_number = m.to_number
      AND h.direction = 'outbound' AND h.campaign_id IS NOT NULL AND h.kind IS NULL
      AND h.status IN ('sent', 'delivered') AND h.sent_at >= now() - interval '30 days'
) hist ON true
WHERE m.id = ANY(%(ids)s) AND m.status = 'sending'
""".format(
    message=", ".join(f"m.{f}" for f in _MESSAGE_FIELDS),
    campaign=", ".join(f"c.{f}" for f in _CAMPAIGN_FIELDS),
    account=", ".join(f"a.{f}" for f in _ACCOUNT_FIELDS),
    contact=", ".join(f"ct.{f}" for f in _CONTACT_FIELDS),
    dnc=DncEntry._meta.db_table,
)


def checked_messages(ids: list[int]) -> tuple[list[Message], set[int]]:
    """The claimed messages still `sending`, with `campaign` and `contact` attached
    (None when missing), as the final check needs them; and the ids of those whose phone
    is on their account's DNC list."""
    with connection.cursor() as cursor:
        cursor.execute(_CHECK, {"ids": list(ids)})
        rows = cursor.fetchall()
    n_m, n_c, n_a = len(_MESSAGE_FIELDS), len(_CAMPAIGN_FIELDS), len(_ACCOUNT_FIELDS)
    db = connection.alias
    messages, listed = [], set()
    for *row, dnc, sent in rows:
        message = Message.from_db(db, _MESSAGE_FIELDS, row[:n_m])
        message.recent_sends = sent or []  # (caps) campaign messages to it, last 30 days
        message.media_ids = _json(message.media_ids)  # a reply's own attachments, or None
        if dnc:
            listed.add(message.pk)
        campaign_row = row[n_m : n_m + n_c]
        account_row = row[n_m + n_c : n_m + n_c + n_a]
        contact_row = row[n_m + n_c + n_a :]
        if campaign_row[0] is not None:  # (a deleted campaign takes its messages with it)
            message.campaign = Campaign.from_db(db, _CAMPAIGN_FIELDS, campaign_row)
            message.campaign.compliance = _json(message.campaign.compliance)
            message.campaign.media_ids = _json(message.campaign.media_ids)
        message.account = Account.from_db(db, _ACCOUNT_FIELDS, account_row)
        message.contact = (
            Contact.from_db(db, _CONTACT_FIELDS, contact_row)
            if contact_row[0] is not None
            else None
        )
        if message.contact is not None:
            message.contact.timezone_candidates = _json(message.contact.timezone_candidates)
        messages.append(message)
    return messages, listed


def _json(value):
    """A jsonb column read by a raw cursor arrives as text (Django's converters, which
    `from_db` skips, parse it for the ORM)."""
    return json.loads(value) if isinstance(value, str) else value


def prepare(sender: Sender, booked: list[tuple[Claimed, float]]) -> tuple[Batch, PassResult]:
    """The final check for a whole claim in one read (messages with their campaign and
    contact). What fails it ends here (canceled, failed, or held back in the queue);
    what the claim could not pay for is charged one by one, and pauses its campaign
    when the money runs out."""
    result = PassResult()
    rows = {row.id: (row, fire_at) for row, fire_at in booked}
    messages, listed = checked_messages(list(rows)) if rows else ([], set())
    calls: list[tuple[Message, Claimed, float]] = []
    held: list[int] = []
    quiet: dict[str, list[int]] = {}  # ISO instant the window opens -> message ids
    changed: set[int | None] = set()
    found = 0
    for message in messages:
        found += 1
        row, fire_at = rows[message.pk]
        verdict = final_check(message, dnc=message.pk in listed)
        if verdict is not None:
            status, reason = verdict
            changed.add(message.campaign_id)
            if status == "hold":  # paused while claimed: back in the queue, untouched
                held.append(message.pk)
                result.deferred += 1
                continue
            if status == QUIET_HOURS:  # back until the recipient's window opens
                quiet.setdefault(reason, []).append(message.pk)
                result.deferred += 1
                continue
            _finish(message.pk, status=status, error_reason=reason, failed_at=timezone.now())
            if status == MessageStatus.CANCELED:
                result.canceled += 1
            else:
                result.failed += 1
            continue
        # A one-to-one reply with attachments (`media_ids`) is an MMS too.
        mms = bool(message.media_ids or (message.campaign and message.campaign.media_ids))
        if not row.paid and not _charge(
            message, message_price(kind=sender.kind, segments=message.segments, mms=mms)
        ):
            _out_of_money(message)
            changed.add(message.campaign_id)
            result.deferred += 1
            continue
        calls.append((message, row, fire_at))
    if held:
        requeue(held, after=0, undo_attempt=True)
    for until, ids in quiet.items():
        hold_until(ids, until=datetime.datetime.fromisoformat(until))
    result.gone += len(rows) - found
    live.campaigns_changed(changed, push=False)
    return Batch(sender=sender, calls=calls, media=_media_of(calls)), result


def _media_of(calls: list[tuple[Message, Claimed, float]]) -> dict[int, list[str]]:
    """Signed attachment URLs for the claim's MMS, one lookup per distinct set of media
    (a campaign's messages share theirs; a one-to-one reply carries its own)."""
    by_ids: dict[tuple[int, ...], list[str]] = {}
    out = {}
    for message, _, _ in calls:
        ids = message.media_ids or (message.campaign.media_ids if message.campaign else [])
        if ids:
            key = tuple(ids)
            if key not in by_ids:
                by_ids[key] = media_urls(list(key))
            out[message.pk] = by_ids[key]
    return out


def call(batch: Batch, message: Message, row: Claimed, fire_at: float) -> str:
    """At the booked slot: the carrier window check, then the provider call with the
    message's idempotency key. Records the outcome unless it is "accepted" (the batch
    records those together); the call that ends the batch records them."""
    sender = batch.sender
    wait = fire_at - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    request = SendRequest(
        from_=message.from_number,
        to=message.to_number,
        text=message.body,
        idempotency_key=str(message.idempotency_key),
        # MMS: signed, expiring URLs the provider fetches the attachments from.
        # A one-to-one reply carries its own; a campaign message has its campaign's.
        media_urls=batch.media.get(message.pk, []),
    )
    fits, checked = True, None
    try:
        checked = _fire(sender, row, message)
        fits = checked is not None
    except redis.RedisError:  # no window log: the booking made room; go on it
        log.warning("could not check the window log for message %s", message.pk)
    # After the window check, which may have waited for room: nothing may start once an
    # opt-out is committed.
    blocked = _blocked_since_check(message)
    if blocked:
        try:
            if checked is not None:
                with contextlib.suppress(redis.RedisError):
                    ratelimit.unfire(sender=sender.e164, nonce=row.nonce, segments=message.segments)
            _finish(
                message.pk,
                status=MessageStatus.CANCELED,
                error_reason=blocked,
                failed_at=timezone.now(),
            )
        finally:
            if batch.done("canceled"):
                finish_batch(batch)
        return "canceled"
    outcome, accepted = "deferred", None
    try:
        if not fits:
            # The carrier's window has no room in time: next claim, next slot.
            requeue([message.pk], after=0, undo_attempt=True)
        else:
            called = time.time()
            try:
                outcome, accepted = _send(message, request)
            finally:
                if checked is not None:
                    _landed(sender, row, message, checked, called, accepted)
    finally:
        if batch.done(outcome, accepted):
            finish_batch(batch)
    return outcome


# --- Opt-outs that arrive after a claim's final check ---------------------------------
#
# The final check reads the contact once per claim; a call then waits for its slot (up
# to the horizon plus catch-up). A STOP handled meanwhile marks the phone here, before
# its transaction commits, and every call looks for the mark right before it goes: no
# call to that phone starts once the opt-out is committed. The mark outlives anything
# booked before the STOP; later claims see the opt-out in the database. A phone put on
# the DNC list gets its own mark (`dnc_mark`), which stops every kind of message, keyword
# replies included, and which a START does not clear.
OPT_OUT_MARK_PREFIX = "dispatch:opted-out:"
DNC_MARK_PREFIX = "dispatch:dnc:"
OPT_OUT_MARK_SECONDS = 120  # longer than a lease: nothing booked before waits longer


def _opt_out_mark(account_id: int, phone: str) -> str:
    return f"{OPT_OUT_MARK_PREFIX}{account_id}:{phone}"


def _dnc_mark(account_id: int, phone: str) -> str:
    return f"{DNC_MARK_PREFIX}{account_id}:{phone}"


def opt_out_mark(*, account_id: int, phone: str) -> None:
    """`phone` opted out of `account_id`: calls already booked to it must not go."""
    try:
        _redis(settings.REDIS_URL).set(_opt_out_mark(account_id, phone), 1, ex=OPT_OUT_MARK_SECONDS)
    except redis.RedisError:  # the final check of every later claim still sees it
        log.warning("could not mark %s opted out for calls already booked", phone)


def opt_out_unmark(*, account_id: int, phone: str) -> None:
    """`phone` opted back in: its mark goes (or new messages would wait for it to lapse)."""
    try:
        _redis(settings.REDIS_URL).delete(_opt_out_mark(account_id, phone))
    except redis.RedisError:
        log.warning("could not clear the opt-out mark of %s", phone)


def dnc_mark(*, account_id: int, phones: Sequence[str]) -> None:
    """`phones` went on the account's DNC list: calls already booked to them must not go."""
    try:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        for phone in phones:
            pipe.set(_dnc_mark(account_id, phone), 1, ex=OPT_OUT_MARK_SECONDS)
        pipe.execute()
    except redis.RedisError:  # the final check of every later claim still sees it
        log.warning("could not mark %d DNC phones for calls already booked", len(phones))


def dnc_unmark(*, account_id: int, phones: Sequence[str]) -> None:
    """`phones` came off the DNC list: their marks go."""
    try:
        _redis(settings.REDIS_URL).delete(*(_dnc_mark(account_id, phone) for phone in phones))
    except redis.RedisError:
        log.warning("could not clear the DNC marks of %d phones", len(phones))


def _blocked_since_check(message: Message) -> str:
    """The reason a call must not go after all (opted out or DNC-listed since its final
    check), or "". One Redis round trip."""
    keys = [_dnc_mark(message.account_id, message.to_number)]
    if message.kind not in SENT_DESPITE_OPT_OUT:
        keys.append(_opt_out_mark(message.account_id, message.to_number))
    try:
        marks = _redis(settings.REDIS_URL).mget(keys)
    except redis.RedisError:
        return ""  # the final check ran moments ago
    if marks[0] is not None:
        return DNC
    return OPTED_OUT if any(marks[1:]) else ""


def _fire(sender: Sender, row: Claimed, message: Message) -> tuple[float, float] | None:
    """The carrier-window check right before the call (`ratelimit.fire`): None when the
    window has no room within `FIRE_WAIT_SECONDS` (the message goes back to the queue);
    otherwise (Redis time of the check, this host's time just before it), and the call
    is in flight in the window log until `_landed`."""
    deadline = time.monotonic() + FIRE_WAIT_SECONDS
    while True:
        before = time.time()
        fired = ratelimit.fire(
            sender=sender.e164,
            nonce=row.nonce,
            segments=message.segments,
            mps=sender.mps,
            margin=margin(),
        )
        if fired.counted is not None:
            return fired.counted, before
        wait = max(fired.retry_after, FIRE_RETRY_FLOOR)
        if time.monotonic() + wait > deadline:
            return None
        time.sleep(wait)


# How long after our request providers say they accepted it: the recent smallest is the
# constant part (the network's one way, the provider's clock offset), subtracted from
# every arrival before it goes into the window log (`_landed`). A call is checked before
# its own transit, so comparing its check with earlier calls' arrivals would otherwise
# charge every window that constant (at 50 ms, ~5% of the rate); what is left is what
# varies, a stall, which is what crowds the carrier's second. Per process.
TRANSIT_SAMPLES = 256
TRANSIT_MIN_SAMPLES = 32  # until then, no floor (every delay counts in full)
_transits: deque[float] = deque(maxlen=TRANSIT_SAMPLES)
_transits_lock = threading.Lock()


def _transit_floor(sample: float | None) -> float:
    with _transits_lock:
        if sample is not None:
            _transits.append(sample)
        return min(_transits) if len(_transits) >= TRANSIT_MIN_SAMPLES else 0.0


def _landed(
    sender: Sender,
    row: Claimed,
    message: Message,
    checked: tuple[float, float],
    called: float,
    accepted: tuple[Message, SendResult, datetime.datetime] | None,
) -> None:
    """Record in the window log when the call reached the carrier, so the calls after it
    are spaced from its real arrival, not its planned one. The provider's accept time
    when it gives one, else the moment of our request; either is held between that
    moment and now (a skewed provider clock cannot move it outside what is possible),
    less the transit floor (above), and mapped onto the Redis clock through the check
    (`_fire`): Redis time of the check plus how long after it, on this host's clock, the
    call arrived. Failed calls count from now (they may have reached the carrier at any
    moment until their answer)."""
    counted, checked_at = checked
    now = time.time()
    arrival, transit = now, None
    if accepted is not None:
        reported = accepted[1].accepted_at
        arrival = min(max(reported.timestamp() if reported else called, called), now)
        if reported:
            transit = arrival - called
    late = arrival - checked_at - _transit_floor(transit)
    try:
        ratelimit.landed(
            sender=sender.e164,
            nonce=row.nonce,
            segments=message.segments,
            mps=sender.mps,
            margin=margin(),
            at=counted + max(0.0, late),
        )
    except redis.RedisError:  # the flight ends at its deadline instead
        log.warning("could not record the call time of message %s", message.pk)


def _send(
    message: Message, request: SendRequest
) -> tuple[str, tuple[Message, SendResult, datetime.datetime] | None]:
    try:
        result = get_provider().send(request)
    except RateLimitedError as exc:
        ratelimit.penalize(sender=message.from_number, seconds=exc.retry_after or 1.0)
        requeue([message.pk], after=exc.retry_after or 1.0, undo_attempt=True, error_code=exc.code)
        return "deferred", None
    except PermanentError as exc:
        _finish(
            message.pk,
            status=MessageStatus.FAILED,
            error_code=exc.code,
            error_reason=exc.title or str(exc),
            failed_at=timezone.now(),
        )
        if exc.code in RECIPIENT_REFUSED_CODES:  # the recipient refuses: never again
            _carrier_refusal(message, exc)
        return "failed", None
    except ProviderError as exc:  # retryable
        if message.attempts >= MAX_ATTEMPTS:
            _finish(
                message.pk,
                status=MessageStatus.FAILED,
                error_code=exc.code,
                error_reason=f"gave up after {message.attempts} attempts: {exc.title or exc}",
                failed_at=timezone.now(),
            )
            return "failed", None
        requeue([message.pk], after=min(2**message.attempts, 300), error_code=exc.code)
        return "deferred", None
    return "sent", (message, result, timezone.now())


def _carrier_refusal(message: Message, exc: PermanentError) -> None:
    """Put the phone on the account's DNC list (reason `complaint`); the message already
    failed, so a failure here is logged, not raised."""
    try:
        carrier_refusal_record(
            account_id=message.account_id,
            phone=message.to_number,
            code=exc.code or "",
            title=exc.title or "",
        )
    except Exception:
        log.exception("could not list %s after carrier error %s", message.to_number, exc.code)


def finish_batch(batch: Batch) -> None:
    """Record the batch's accepted sends: statuses, history, parked receipts that were
    waiting for these provider ids, and one live push per campaign."""
    accepted = batch.accepted
    if accepted:
        with connection.cursor() as cursor:
            cursor.execute(
                _SENT,
                {
                    "ids": [m.pk for m, _, _ in accepted],
                    "provider_ids": [r.provider_message_id for _, r, _ in accepted],
                    "sent_at": [at for _, _, at in accepted],
                    "segments": [r.parts or m.segments for m, r, _ in accepted],
                },
            )
            recorded = {row[0] for row in cursor.fetchall()}
        engagement_record_many(
            [
                EngagementEvent(
                    account_id=m.account_id,
                    contact_id=m.contact_id,
                    type=EventType.SMS_SENT,
                    at=at,
                    campaign_id=m.campaign_id,
                    data={"message_id": m.pk, "from": m.from_number},
                )
                for m, _, at in accepted
                if m.pk in recorded
            ]
        )
        refs = [r.provider_message_id for m, r, _ in accepted if m.pk in recorded]
        for ref in parked_refs(refs):
            rematch_parked(message_ref=ref)
    live.campaigns_changed((m.campaign_id for m, _, _ in batch.calls), push=False)
    # Threads show one-to-one replies' status live (texting.hooks): once per batch.
    hooks.outbound_changed(m.pk for m, _, _ in batch.calls if m.campaign_id is None)


def parked_refs(refs: list[str]) -> list[str]:
    """Which of these provider ids have receipts parked, waiting for them (one read)."""
    if not refs:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT message_ref FROM providers_webhookevent"
            " WHERE status = %s AND message_ref = ANY(%s)",
            [WebhookStatus.PARKED, list(refs)],
        )
        return [row[0] for row in cursor.fetchall()]


def book(sender: Sender, rows: list[Claimed]) -> tuple[list[tuple[Claimed, float]], float]:
    """Book a slot for each claimed row in order. Returns the booked (row, fire_at) pairs,
    fire_at on the monotonic clock, and, if some did not fit the horizon, how long until
    the sender has room again (the rest are already back in the queue, due then)."""
    if not rows:
        return [], 0.0
    bookings = ratelimit.schedule_many(
        sender=sender.e164,
        mps=sender.mps,
        messages=[
            (r.segments, r.nonce, float(r.max_mps) if r.max_mps else None, r.due_in) for r in rows
        ],
        horizon=HORIZON,
        margin=margin(),
        catch_up=float(settings.DISPATCH_CATCH_UP_SECONDS),
    )
    # Delays are relative to the script's moment: anchor them to one reading of the clock.
    now = time.monotonic()
    booked = [(row, now + b.delay) for row, b in zip(rows, bookings, strict=False) if b.booked]
    if len(booked) < len(rows):
        delay = bookings[-1].delay
        requeue([r.id for r in rows[len(booked) :]], after=delay, undo_attempt=True)
        return booked, delay
    return booked, 0.0


def dispatch_sender(*, sender: str) -> PassResult:
    """One pass over one sender, calling inline, one after another (tests and one-off
    drains). The drain loop does the same with a thread pool."""
    info = sender_info([sender])[sender]
    rows = claim(sender=sender, limit=max(1, batch_size(info, None)), kind=info.kind)
    booked, _ = book(info, rows)
    batch, result = prepare(info, booked)
    result.claimed = len(rows)
    result.deferred += len(rows) - len(booked)
    for message, row, fire_at in list(batch.calls):
        outcome = call(batch, message, row, fire_at)
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def _interval(sender: Sender) -> float:
    return 1 / (sender.mps * margin())


def batch_size(sender: Sender, booked_until: float | None = None, *, catch_up: bool = True) -> int:
    """Rows one claim takes: the slots left in the horizon after the last booked one
    (`booked_until`, monotonic; None: not known yet). 0: nothing fits until the horizon
    moves on. `catch_up`: the sender's last booking was not held back by its window, so
    a sender behind its pace may take more (a backlog that fills the window every
    second claims only what the horizon holds, instead of claiming and handing back)."""
    now = time.monotonic()
    interval = _interval(sender)
    if booked_until is None:
        return 1  # not known yet (the sender was just taken on): its booking tells
    if booked_until <= now and catch_up:
        # Nothing booked ahead: the sender may be behind its pace, and then the booking
        # lets it catch up (`DISPATCH_CATCH_UP_SECONDS`, within the carrier's window),
        # so the claim offers that many more rows, at most a window's worth. Rows not
        # due yet do not come.
        ahead = HORIZON + float(settings.DISPATCH_CATCH_UP_SECONDS)
        return min(int(ahead / interval) + 1, max(1, math.ceil(sender.mps)))
    next_slot = max(booked_until + interval, now)
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


def _load(sender: Sender) -> float:
    """What a sender costs the loop that owns it, in MPS: its rate, but at least
    `SENDER_LOAD_FLOOR`, since every sender needs its own claims several times a second
    however slow it is (ten 10 MPS numbers cost a loop far more than one at 100)."""
    return max(float(sender.mps), SENDER_LOAD_FLOOR)


@dataclass
class Owned:
    sender: Sender
    next_claim: float = 0.0  # monotonic
    booked_until: float | None = None  # monotonic: this sender's last booked slot
    window_bound: bool = False  # its last booking was held back by its window


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
    upcoming_until: float = 0.0  # monotonic: an owned sender has a message due by then
    # Idle this long (nothing claimed or in flight), the loop ends. Long enough that the
    # loops of every process are still up when the next campaign starts: loops joining
    # one by one would pass senders between them, and each handover costs sends.
    idle_exit: float = field(default_factory=lambda: float(settings.DISPATCH_IDLE_EXIT_SECONDS))
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
        share = sum(_load(s) for s in due.values()) / alive
        owned_load = sum(_load(o.sender) for o in self.owned.values())
        # Give back the smallest senders while holding well over a fair share.
        for e164 in sorted(self.owned, key=lambda k: _load(self.owned[k].sender)):
            if len(self.owned) <= 1 or owned_load <= share * 1.2:
                break
            owned_load -= _load(self.owned[e164].sender)
            self._drop(e164)
        candidates = [s for e164, s in due.items() if e164 not in self.owned]
        random.shuffle(candidates)
        self.waiting_for_share = False
        for sender in sorted(candidates, key=lambda s: -_load(s)):
            if self.owned and owned_load + _load(sender) > share * 1.2:
                continue
            if self._r.set(OWNER_PREFIX + sender.e164, self.token, nx=True, px=OWNER_TTL_MS):
                self.owned[sender.e164] = Owned(sender=sender)
                owned_load += _load(sender)
        # Work exists but others hold it all: another loop gives some back shortly.
        self.waiting_for_share = not self.owned and bool(due)

    def release_all(self) -> None:
        for e164 in list(self.owned):
            self._drop(e164)
        self._r.zrem(DRAINERS, self.token)

    # -- sending ----------------------------------------------------------------------

    def _run_one(self, batch: Batch, message: Message, row: Claimed, fire_at: float) -> None:
        try:
            call(batch, message, row, fire_at)
        except Exception:
            log.exception("delivering message %s failed; its lease will bring it back", row.id)
        finally:
            _release_connection()
            with self._lock:
                self.in_flight -= 1
                self._idle.notify_all()

    def fill(self, owned: Owned) -> None:
        """Claim, book and check what `owned`'s sender can send within the horizon, and
        hand the calls to the pool."""
        now = time.monotonic()
        room = self.max_in_flight - self.in_flight
        if room <= 0:
            owned.next_claim = now + 0.005
            return
        size = batch_size(owned.sender, owned.booked_until, catch_up=not owned.window_bound)
        if size == 0:
            owned.next_claim = _next_claim(owned.sender, owned.booked_until or now)
            return
        limit = min(room, size)
        # Rows due within the horizon come too (booked no earlier than due): a paced or
        # scheduled stream is claimed a few at a time, not one claim per message.
        rows = claim(sender=owned.sender.e164, limit=limit, kind=owned.sender.kind, ahead=HORIZON)
        if not rows:
            self._wait_for_next_due(owned, now, now + EMPTY_CLAIM_SECONDS)
            return
        self.claimed += len(rows)
        booked, wait = book(owned.sender, rows)
        owned.window_bound = wait > 0
        for _, fire_at in booked:
            owned.booked_until = max(owned.booked_until or 0.0, fire_at)
        batch, _ = prepare(owned.sender, booked)
        with self._lock:
            self.in_flight += len(batch.calls)
        for message, row, fire_at in batch.calls:
            self.pool.submit(self._run_one, batch, message, row, fire_at)
        now = time.monotonic()
        if wait:
            # The sender's next free slot is `wait` past the horizon: the last booked
            # one (ours or another process's) is an interval before it.
            owned.booked_until = now + wait + HORIZON - _interval(owned.sender)
            owned.next_claim = now + wait
            self.upcoming_until = max(self.upcoming_until, now + wait)  # stay up for them
        else:
            earliest = max(now, _next_claim(owned.sender, owned.booked_until or now))
            if len(rows) < limit:  # all that was due is out: no need to ask again before
                self._wait_for_next_due(owned, now, earliest)
            else:
                owned.next_claim = earliest

    def _wait_for_next_due(self, owned: Owned, now: float, earliest: float) -> None:
        """Everything due was claimed. Claim next when the sender's next message comes
        due (not before `earliest`), and keep the loop alive for it if that is soon (a
        paced or scheduled send starts on time, not when the next kick restarts the
        loop). A message due but not claimable (its campaign paused) is looked at again
        from `earliest`."""
        owned.next_claim = earliest
        due_in = next_due_in(owned.sender.e164)
        if due_in is not None and due_in > 0:
            # Claims reach a horizon ahead: come back once half of it holds the next one.
            claim_in = max(0.0, due_in - HORIZON / 2)
            owned.next_claim = max(earliest, now + min(claim_in, UPCOMING_SECONDS))
            if due_in <= UPCOMING_SECONDS:
                self.upcoming_until = max(self.upcoming_until, now + due_in)

    def run(self, seconds: float) -> int:
        """Drain for up to `seconds`; ends sooner once nothing was claimed or in flight
        for `idle_exit` seconds (held back by paused campaigns or future send_after alike).
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
                if self.in_flight or self.upcoming_until >= now:
                    busy_at = now
                elif now - busy_at > (
                    max(SHARE_WAIT_SECONDS, self.idle_exit)
                    if self.waiting_for_share
                    else self.idle_exit
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
    """Rows stuck in `sending` past their lease (a worker died): queue them again, their
    charge given back (the claim that retries them pays again). The idempotency key
    stays, so if the provider had accepted, the retry is a replay."""
    ids = list(
        Message.objects.filter(
            status=MessageStatus.SENDING, lease_until__lt=timezone.now()
        ).values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return requeue(ids, after=0) if ids else 0


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
