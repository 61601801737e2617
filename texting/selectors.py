"""Read-only queries over campaigns and their messages (every one scoped by account).

The live Status tab reads these: the status snapshot (API.md `GET .../status/`, also
pushed on the campaign's WebSocket group by texting.live), the delivery health over the
last few minutes, and the per-recipient rows with filter, search and keyset paging.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Account
from contacts.models import Contact, EngagementEvent, EventType
from phone_numbers.models import PhoneNumber

from .models import Campaign, CampaignStatus, Direction, Message, MessageStatus


def campaign_list(*, account: Account) -> QuerySet[Campaign]:
    return Campaign.objects.filter(account=account)


def access_campaign(*, account: Account, campaign_id: int) -> Campaign:
    return get_object_or_404(Campaign, account=account, pk=campaign_id)


# --- The status snapshot ------------------------------------------------------------

WAITING = (MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING)
RATE_WINDOW_SECONDS = 60  # the observed send rate behind `eta`
RATE_MIN_SECONDS = 5  # a younger send falls back to the senders' nominal rate
RATE_MIN_MESSAGES = 3
HEALTH_WINDOW_MINUTES = 5

# One pass over the campaign's rows (the message_campaign_status index finds them; the
# FILTERed counts read the same heap rows the plain counts already visit), so the
# snapshot costs one scan whatever it derives.
_COUNTS = """
SELECT status,
       count(*),
       count(*) FILTER (WHERE coalesce(sent_at, failed_at) >= %(rate_since)s),
       count(*) FILTER (WHERE status = 'delivered' AND delivered_at >= %(health_since)s),
       count(*) FILTER (WHERE status = 'failed' AND failed_at >= %(health_since)s),
       coalesce(sum(segments), 0),
       max(send_after) FILTER (WHERE status = 'scheduled')
FROM texting_message
WHERE campaign_id = %(campaign)s AND account_id = %(account)s
GROUP BY status
"""


@dataclass
class CampaignCounts:
    """Raw per-status figures for one campaign at one moment (`at`)."""

    at: datetime.datetime
    by_status: dict[str, int] = field(default_factory=dict)
    left_recently: int = 0  # rows that left the queue within RATE_WINDOW_SECONDS
    delivered_recently: int = 0  # delivered within HEALTH_WINDOW_MINUTES
    failed_recently: int = 0  # failed within HEALTH_WINDOW_MINUTES
    waiting_segments: int = 0
    last_release: datetime.datetime | None = None  # latest send_after of scheduled rows

    def count(self, *statuses: str) -> int:
        return sum(self.by_status.get(s, 0) for s in statuses)


def campaign_counts(*, campaign: Campaign, now: datetime.datetime | None = None) -> CampaignCounts:
    now = now or timezone.now()
    params = {
        "campaign": campaign.pk,
        "account": campaign.account_id,
        "rate_since": now - datetime.timedelta(seconds=RATE_WINDOW_SECONDS),
        "health_since": now - datetime.timedelta(minutes=HEALTH_WINDOW_MINUTES),
    }
    counts = CampaignCounts(at=now)
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS, params)
        for status, n, left, delivered, failed, segments, release in cursor.fetchall():
            counts.by_status[status] = n
            counts.left_recently += left
            counts.delivered_recently += delivered
            counts.failed_recently += failed
            if status in WAITING:
                counts.waiting_segments += segments
            if release is not None:
                counts.last_release = release
    return counts


def campaign_opted_out(*, campaign: Campaign) -> int:
    """Recipients who opted out in answer to this campaign (sms_opt_out with its id)."""
    return (
        EngagementEvent.objects.filter(
            account_id=campaign.account_id, type=EventType.SMS_OPT_OUT, campaign_id=campaign.pk
        )
        .values("contact_id")
        .distinct()
        .count()
    )


def campaign_replied(*, campaign: Campaign) -> int:
    """Recipients with at least one inbound reply attributed to this campaign
    (texting.inbound sets campaign_id on sms_received)."""
    return (
        EngagementEvent.objects.filter(
            account_id=campaign.account_id, type=EventType.SMS_RECEIVED, campaign_id=campaign.pk
        )
        .values("contact_id")
        .distinct()
        .count()
    )


def campaign_nominal_rate(*, campaign: Campaign) -> float:
    """Segments per second the senders allow: the sum of their MPS, capped by the
    campaign's max_mps when it is throttled."""
    total = PhoneNumber.objects.filter(
        account_id=campaign.account_id, pk__in=campaign.sender_ids or []
    ).aggregate(mps=Sum("mps"))["mps"] or Decimal(0)
    rate = float(total)
    if campaign.max_mps:
        rate = min(rate, float(campaign.max_mps)) if rate else float(campaign.max_mps)
    return rate


def campaign_eta(*, campaign: Campaign, counts: CampaignCounts) -> datetime.datetime | None:
    """When the last waiting message should have left: waiting / effective rate.

    The rate is what the campaign actually achieved over the last minute (carrier
    pushback, throttles and final-check skips included); a send younger than a few
    seconds, or one that left nothing recently, falls back to its senders' MPS
    (segments) capped by max_mps. Only a sending campaign has an ETA.
    """
    waiting = counts.count(*WAITING)
    if campaign.status != CampaignStatus.SENDING or not waiting:
        return None
    now = counts.at
    rate = 0.0
    if campaign.send_started is not None:
        elapsed = min(RATE_WINDOW_SECONDS, (now - campaign.send_started).total_seconds())
        if elapsed >= RATE_MIN_SECONDS and counts.left_recently >= RATE_MIN_MESSAGES:
            rate = counts.left_recently / elapsed
    if not rate:
        segments_per_message = counts.waiting_segments / waiting if waiting else 1.0
        rate = campaign_nominal_rate(campaign=campaign) / max(segments_per_message, 1.0)
    if rate <= 0:
        return None
    eta = now + datetime.timedelta(seconds=waiting / rate)
    if counts.last_release is not None:
        # Recipient-local-time sends release their last rows at a fixed moment.
        eta = max(eta, counts.last_release)
    return eta


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.replace(microsecond=0).isoformat() if moment else None


def campaign_charged(*, campaign: Campaign) -> Decimal:
    """What the account was debited for this campaign's messages so far (USD)."""
    total = Message.objects.filter(account_id=campaign.account_id, campaign=campaign).aggregate(
        total=Sum("charged")
    )["total"]
    return total or Decimal(0)


def campaign_status_snapshot(*, campaign: Campaign, counts: CampaignCounts | None = None) -> dict:
    """API.md `GET /api/v1/campaigns/{id}/status/`, also pushed on `ws/campaigns/{id}/`:
    {status, selected, queued, sent, delivered, failed, opted_out, replied, progress, eta}.

    `queued` is every message still waiting (queued, scheduled, or in a worker's hands);
    `sent` counts messages the provider accepted (delivered ones included); `progress` is
    the share no longer waiting; `eta` an ISO 8601 time (with offset) or null.
    """
    counts = counts or campaign_counts(campaign=campaign)
    selected = sum(counts.by_status.values())
    waiting = counts.count(*WAITING)
    return {
        "status": campaign.status,
        "selected": selected,
        "queued": waiting,
        "sent": counts.count(MessageStatus.SENT, MessageStatus.DELIVERED),
        "delivered": counts.count(MessageStatus.DELIVERED),
        "failed": counts.count(MessageStatus.FAILED),
        "opted_out": campaign_opted_out(campaign=campaign),
        "replied": campaign_replied(campaign=campaign),
        "progress": round((selected - waiting) / selected, 4) if selected else 0.0,
        "eta": _iso(campaign_eta(campaign=campaign, counts=counts)),
    }


# --- Delivery health ----------------------------------------------------------------

# Judged on messages *finalized* (delivered or failed) in the last HEALTH_WINDOW_MINUTES,
# so a campaign that went bad ten minutes ago but recovered reads healthy again.
HEALTH_MIN_FINALIZED = 20  # fewer receipts than this in the window: too few to judge
HEALTH_WARN_RATE = 0.90  # delivery rate below this: warning
HEALTH_CRITICAL_RATE = 0.75  # below this: critical
HEALTH_DROP_POINTS = 0.10  # a fall this big from the rate before the window: warning
HEALTH_SPIKE_FACTOR = 3.0  # failure share this many times the earlier one: warning
HEALTH_MIN_EARLIER = 50  # earlier receipts needed before comparing against them


class HealthState:
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    QUIET = "quiet"  # not enough recent receipts to judge


@dataclass
class CampaignHealth:
    state: str
    headline: str
    reasons: list[str]
    delivered: int = 0  # in the window
    failed: int = 0  # in the window
    rate: float | None = None  # delivered / finalized in the window
    earlier_rate: float | None = None
    top_error: str = ""


def _pct(x: float) -> str:
    # Floored, so 89.6% never reads as the "90%" it fell below.
    return f"{int(x * 100 + 1e-9)}%"


def campaign_health(*, campaign: Campaign, counts: CampaignCounts | None = None) -> CampaignHealth:
    """Does delivery look healthy right now? A state, a headline and reasons in words."""
    counts = counts or campaign_counts(campaign=campaign)
    delivered, failed = counts.delivered_recently, counts.failed_recently
    finalized = delivered + failed
    earlier_delivered = counts.count(MessageStatus.DELIVERED) - delivered
    earlier_failed = counts.count(MessageStatus.FAILED) - failed
    earlier_finalized = earlier_delivered + earlier_failed
    earlier_rate = earlier_delivered / earlier_finalized if earlier_finalized else None
    window = f"the last {HEALTH_WINDOW_MINUTES} minutes"
    if finalized < HEALTH_MIN_FINALIZED:
        total_delivered = counts.count(MessageStatus.DELIVERED)
        total_final = total_delivered + counts.count(MessageStatus.FAILED)
        if total_final:
            overall = f"Overall {_pct(total_delivered / total_final)} of {total_final:,} finalized messages were delivered."
        else:
            overall = "No delivery receipts yet."
        return CampaignHealth(
            state=HealthState.QUIET,
            headline="Not enough recent receipts to judge",
            reasons=[
                f"{finalized} message{'s' if finalized != 1 else ''} finalized in {window} "
                f"(at least {HEALTH_MIN_FINALIZED} are needed).",
                overall,
            ],
            delivered=delivered,
            failed=failed,
            earlier_rate=earlier_rate,
        )
    rate = delivered / finalized
    reasons: list[str] = []
    state = HealthState.OK
    if rate < HEALTH_CRITICAL_RATE:
        state = HealthState.CRITICAL
        reasons.append(
            f"Only {_pct(rate)} of messages finalized in {window} were delivered "
            f"({delivered:,} of {finalized:,}); below {_pct(HEALTH_CRITICAL_RATE)} is critical."
        )
    elif rate < HEALTH_WARN_RATE:
        state = HealthState.WARNING
        reasons.append(
            f"The delivery rate dropped to {_pct(rate)} in {window} "
            f"({delivered:,} of {finalized:,}); below {_pct(HEALTH_WARN_RATE)} needs a look."
        )
    if earlier_rate is not None and earlier_finalized >= HEALTH_MIN_EARLIER:
        if earlier_rate - rate >= HEALTH_DROP_POINTS - 1e-9 and state == HealthState.OK:
            state = HealthState.WARNING
            reasons.append(
                f"The delivery rate fell to {_pct(rate)} in {window}, "
                f"from {_pct(earlier_rate)} before."
            )
        earlier_failure = earlier_failed / earlier_finalized
        failure = failed / finalized
        if failed >= 5 and failure >= max(HEALTH_SPIKE_FACTOR * earlier_failure, 0.05):
            if state == HealthState.OK:
                state = HealthState.WARNING
            reasons.append(
                f"Failures spiked: {_pct(failure)} of messages failed in {window} "
                f"({failed:,}), against {_pct(earlier_failure)} before."
            )
    top_error = ""
    if state != HealthState.OK and failed:
        top_error = _top_recent_error(campaign=campaign, since=counts.at)
        if top_error:
            reasons.append(f"Most common recent error: {top_error}.")
    headline = {
        HealthState.OK: "Delivery looks healthy",
        HealthState.WARNING: "Delivery needs attention",
        HealthState.CRITICAL: "Delivery is failing",
    }[state]
    if state == HealthState.OK:
        reasons.insert(
            0, f"{_pct(rate)} of {finalized:,} messages finalized in {window} were delivered."
        )
    return CampaignHealth(
        state=state,
        headline=headline,
        reasons=reasons,
        delivered=delivered,
        failed=failed,
        rate=rate,
        earlier_rate=earlier_rate,
        top_error=top_error,
    )


def _top_recent_error(*, campaign: Campaign, since: datetime.datetime) -> str:
    row = (
        Message.objects.filter(
            account_id=campaign.account_id,
            campaign=campaign,
            status=MessageStatus.FAILED,
            failed_at__gte=since - datetime.timedelta(minutes=HEALTH_WINDOW_MINUTES),
        )
        .values("error_code", "error_reason")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if row is None:
        return ""
    label = " ".join(p for p in (row["error_code"], row["error_reason"]) if p) or "unknown"
    return f"{label} ({row['n']:,})"


# --- Per-recipient rows -------------------------------------------------------------

NAME_MATCH_LIMIT = 1000  # contact ids fetched up front for a name search word


def campaign_messages(*, campaign: Campaign, status: str = "", q: str = "") -> QuerySet[Message]:
    """The campaign's outbound rows, filtered by status and searched by name or phone.

    A search without letters is phone digits (at least three) matched anywhere in the
    E.164 number; otherwise every word must match the contact's first, last or preferred
    name (or, for a word with three or more digits, the phone). Names live on contacts,
    so each word reads the matching contact ids of the account first (one query, done
    here rather than when the rows are read); the rows then come from the (campaign,
    contact) unique index. A full scan of the account's contacts per word: a trigram
    index on the name columns would make it an index scan at a million contacts.
    """
    rows = Message.objects.filter(
        account_id=campaign.account_id, campaign=campaign, direction=Direction.OUTBOUND
    )
    if status:
        rows = rows.filter(status=status)
    q = q.strip()
    if not q:
        return rows
    if not any(ch.isalpha() for ch in q):
        digits = "".join(ch for ch in q if ch.isdigit())
        return rows.filter(to_number__contains=digits) if len(digits) >= 3 else rows.none()
    for word in q.split():
        names = Contact.objects.filter(account_id=campaign.account_id).filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(preferred_name__icontains=word)
        )
        # A selective word: fetch its few contact ids first, so the rows come straight
        # from the (campaign, contact) unique index. A broad one ("an") stays a
        # semi-join: with that many matches the first page is found at once anyway,
        # while a planner guessing "many" for a rare word would walk the campaign.
        ids = list(names.values_list("id", flat=True)[: NAME_MATCH_LIMIT + 1])
        if len(ids) > NAME_MATCH_LIMIT:
            term = Q(contact_id__in=names.values("id"))
        else:
            term = Q(contact_id__in=ids)
        digits = "".join(ch for ch in word if ch.isdigit())
        if len(digits) >= 3:
            term |= Q(to_number__contains=digits)
        rows = rows.filter(term)
    return rows


@dataclass
class RowPage:
    """One keyset page of message rows, in id order, with their contacts."""

    rows: list[Message]
    contacts: dict[int, Contact]
    next_after: int | None  # pass as `after` for the next page
    prev_before: int | None  # pass as `before` for the previous page

    def with_contacts(self) -> list[tuple[Message, Contact | None]]:
        return [(row, self.contacts.get(row.contact_id)) for row in self.rows]


def message_page(
    *, rows: QuerySet[Message], after: int | None = None, before: int | None = None, size: int = 50
) -> RowPage:
    """Keyset paging by id: constant cost at any depth (no OFFSET, no COUNT)."""
    if before is not None:
        found = list(rows.filter(id__lt=before).order_by("-id")[: size + 1])
        has_prev = len(found) > size
        found = list(reversed(found[:size]))
        has_next = True
    else:
        rows_after = rows.filter(id__gt=after) if after is not None else rows
        found = list(rows_after.order_by("id")[: size + 1])
        has_next = len(found) > size
        found = found[:size]
        has_prev = after is not None and bool(found) and rows.filter(id__lt=found[0].id).exists()
    contacts = {}
    if found:
        account_id = found[0].account_id
        contacts = Contact.objects.filter(
            account_id=account_id, pk__in={r.contact_id for r in found}
        ).in_bulk()
    return RowPage(
        rows=found,
        contacts=contacts,
        next_after=found[-1].id if found and has_next else None,
        prev_before=found[0].id if found and has_prev else None,
    )


# --- Replies ------------------------------------------------------------------------

REPLY_SOURCE_STATUSES = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED)


def message_replied_to(*, account: Account, phone: str, our_number: str) -> Message | None:
    """The outbound message an inbound SMS from `phone` to `our_number` answers: the most
    recent one this account sent that person from that number (uses message_to_recent).
    `sending` counts: a quick reply can arrive before the worker records `sent`."""
    return (
        Message.objects.filter(
            account=account,
            to_number=phone,
            from_number=our_number,
            direction=Direction.OUTBOUND,
            status__in=REPLY_SOURCE_STATUSES,
        )
        # In flight (no sent_at yet) is the newest; then by when it left.
        .order_by(F("sent_at").desc(nulls_first=True), "-created_at", "-id")
        .only("id", "campaign_id")
        .first()
    )
