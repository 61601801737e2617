"""Campaign set-up and a Jepsen-style queue check over the simulator's send log.

"What goes in must come out" (jepsen's total-queue): every committed message must end
in a final state, every message the provider accepted must be in its send log exactly
once under the message's own idempotency key, and nothing else from our senders may be
in it. The unique idempotency key makes "the same key twice" impossible by schema, so
the check that matters is per recipient: a resend under a new key would show up as a
second row for the same campaign recipient.
"""

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from accounts.models import Account
from contacts.models import Contact, SmsStatus
from providers.models import SimulatorMessage
from tests.factories import make_account, make_contact, make_member, make_number
from texting.commit import campaign_commit
from texting.models import Campaign, CampaignStatus, Message, MessageStatus

FINAL = frozenset(
    {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.CANCELED}
)
WAITING = (MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.SENDING)

_numbers = itertools.count(int(time.time()) % 5000)


def sender_numbers(n: int) -> list[str]:
    """Fresh sender numbers (valid NANP, not the simulator's reserved 202-555-01xx)."""
    return [f"+1971{200 + next(_numbers) % 800:03d}{next(_numbers) % 10000:04d}" for _ in range(n)]


def committed_campaign(
    *, phones: list[str], senders: int, mps: int, balance: Decimal = Decimal("1000")
) -> Campaign:
    """An account (prepaid `balance`) with `senders` numbers at `mps`, opted-in contacts
    for `phones`, and a campaign to all of them, committed (sending, messages queued)."""
    account = make_account(balance=balance)
    user = make_member(account, "manager")
    numbers = [make_number(account, e164, mps=mps) for e164 in sender_numbers(senders)]
    contacts = [make_contact(account, phone) for phone in phones]
    Contact.objects.filter(account=account).update(sms_status=SmsStatus.OPTED_IN)
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
        name="Reliability",
        body="Polls are open until 8pm. Find your polling place at vote.example",
        sender_ids=[n.pk for n in numbers],
        audience={"contact_ids": [c.pk for c in contacts]},
    )
    result = campaign_commit(campaign=campaign, actor=user)
    assert result.inserted == len(phones)
    return result.campaign


def recipients(n: int, *, first: int = 1000) -> list[str]:
    return [f"+1503555{i:04d}" for i in range(first, first + n)]


def senders_of(campaign: Campaign) -> list[str]:
    return sorted(
        set(Message.objects.filter(campaign=campaign).values_list("from_number", flat=True))
    )


def status_counts(campaign: Campaign) -> Counter:
    return Counter(Message.objects.filter(campaign=campaign).values_list("status", flat=True))


def accepted_unrecorded(campaign: Campaign) -> dict[int, str]:
    """{message id: simulator message id} for rows still `sending` whose send the
    simulator has already accepted (the worker died, or will, before recording it)."""
    sending = dict(
        Message.objects.filter(campaign=campaign, status=MessageStatus.SENDING).values_list(
            "idempotency_key", "id"
        )
    )
    if not sending:
        return {}
    accepted = SimulatorMessage.objects.filter(
        idempotency_key__in=[str(k) for k in sending]
    ).values_list("idempotency_key", "id")
    by_key = {str(k): v for k, v in sending.items()}
    return {by_key[key]: str(sim_id) for key, sim_id in accepted}


def wait_for_completion(campaign: Campaign, *, stall: float = 30, cap: float = 170) -> float:
    """Wait until no message of the campaign is waiting and the campaign is completed.
    Fails when nothing has moved for `stall` seconds, stretched to cover the longest lease
    still running (rows stranded in `sending` come back only when it ends), or after
    `cap` seconds in all. Returns the seconds waited."""
    started = time.monotonic()
    last, moved = None, started
    while True:
        waiting = Message.objects.filter(campaign=campaign, status__in=WAITING)
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get()
        left = waiting.count()
        if not left and status == CampaignStatus.COMPLETED:
            return time.monotonic() - started
        now = time.monotonic()
        if left != last:
            last, moved = left, now
        lease_end = (
            waiting.filter(status=MessageStatus.SENDING, lease_until__isnull=False)
            .order_by("-lease_until")
            .values_list("lease_until", flat=True)
            .first()
        )
        patience = stall
        if lease_end is not None:
            patience += max(0.0, (lease_end - timezone.now()).total_seconds())
        if now - moved > patience or now - started > cap:
            raise AssertionError(
                f"campaign {campaign.pk} not finished after {now - started:.0f} s"
                f" ({now - moved:.0f} s without progress): campaign {status},"
                f" messages {dict(status_counts(campaign))}"
            )
        time.sleep(0.1)


@dataclass
class QueueCheck:
    """The campaign's messages against the simulator's send log for its senders."""

    messages: int = 0
    statuses: Counter = field(default_factory=Counter)
    not_final: list[int] = field(default_factory=list)
    # accepted sends we do not know about, or with a provider id that is not the log's
    lost: list[int] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)  # recipient -> rows in the log
    unexpected: list[str] = field(default_factory=list)  # log keys that are no message's
    log_rows: int = 0

    def describe(self) -> str:
        return (
            f"{self.messages} messages {dict(self.statuses)}; send log {self.log_rows} rows;"
            f" not final {self.not_final[:10]}; lost {self.lost[:10]};"
            f" duplicated {dict(list(self.duplicated.items())[:10])};"
            f" unexpected {self.unexpected[:10]}"
        )


def queue_check(campaign: Campaign) -> QueueCheck:
    check = QueueCheck()
    messages = list(
        Message.objects.filter(campaign=campaign).values(
            "id", "status", "idempotency_key", "provider_message_id", "to_number"
        )
    )
    log = list(
        SimulatorMessage.objects.filter(from_number__in=senders_of(campaign)).values(
            "id", "idempotency_key", "to_number"
        )
    )
    check.messages, check.log_rows = len(messages), len(log)
    check.statuses = Counter(m["status"] for m in messages)
    check.not_final = [m["id"] for m in messages if m["status"] not in FINAL]
    log_by_key = {row["idempotency_key"]: row for row in log}
    for m in messages:
        row = log_by_key.get(str(m["idempotency_key"]))
        if m["status"] in (MessageStatus.SENT, MessageStatus.DELIVERED) and (
            row is None or m["provider_message_id"] != str(row["id"])
        ):
            check.lost.append(m["id"])
    per_recipient = Counter(row["to_number"] for row in log)
    check.duplicated = {to: n for to, n in per_recipient.items() if n > 1}
    keys = {str(m["idempotency_key"]) for m in messages}
    check.unexpected = [key for key in log_by_key if key not in keys]
    return check


def assert_every_message_sent_exactly_once(campaign: Campaign) -> QueueCheck:
    check = queue_check(campaign)
    assert not check.not_final, check.describe()
    assert check.statuses == Counter({MessageStatus.SENT: check.messages}), check.describe()
    assert not check.lost, check.describe()
    assert not check.duplicated, check.describe()
    assert not check.unexpected, check.describe()
    assert check.log_rows == check.messages, check.describe()
    return check


def charge_check(campaign: Campaign, *, balance_before: Decimal) -> None:
    """The account pays once per message the provider accepted (segments x the long-code
    price), whatever crashed in between: a message debited and then retried after its
    worker died (or after Redis went away mid-send) is not debited again."""
    price = Decimal(str(settings.SEGMENT_PRICE["long"]))
    segments = sum(
        Message.objects.filter(
            campaign=campaign, status__in=[MessageStatus.SENT, MessageStatus.DELIVERED]
        ).values_list("segments", flat=True)
    )
    charged = balance_before - Account.objects.get(pk=campaign.account_id).balance
    assert charged == price * segments, (
        f"charged {charged} for {segments} accepted segments at {price}:"
        f" {(charged - price * segments) / price:g} segments too many"
    )
