"""Receipts delivered twice and out of order end the same (issue 3's acceptance).

A campaign is sent by real workers; the simulator's own Celery worker posts its signed
webhooks (message.sent, message.finalized, replies) to a capturing HTTP endpoint instead
of ours. The captured requests (exact bytes and signatures) are then replayed to our
webhook endpoint on fresh copies of the same starting state (each replay runs in a
transaction that is rolled back afterwards):

(a) in the order the simulator posted them, once;
(b) all in reverse order, then all in reverse order again (every event twice);
(c) every event twice, shuffled.

Final message statuses, costs, error codes, status counts, engagement history and the
stored events must be identical, and (a) must match what the simulator decided.
"""

import json
import random
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from contacts.models import Contact, EngagementEvent
from providers.models import SimulatorMessage, WebhookEvent
from texting.models import Message, MessageStatus

from .checks import (
    assert_every_message_sent_exactly_once,
    committed_campaign,
    recipients,
    senders_of,
    wait_for_completion,
)
from .conftest import wait_for_count

TEST_RECIPIENTS = [f"+1202555010{i}" for i in range(7)]  # forced fates, incl. reply + STOP
API_REJECTED = "+12025550110"  # 40300 at the API: no receipts at all
OUTCOME_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "delivery_failed": MessageStatus.FAILED,
    "delivery_unconfirmed": MessageStatus.SENT,
}


def outcome(campaign) -> dict:
    """Everything receipts may change, in a comparable form."""
    rows = Message.objects.filter(campaign=campaign).values_list(
        "id", "status", "cost", "error_code", "error_reason", "delivered_at", "failed_at"
    )
    messages = {row[0]: row[1:] for row in rows}
    history = EngagementEvent.objects.filter(account_id=campaign.account_id)
    return {
        "messages": messages,
        "status_counts": Counter(row[0] for row in messages.values()),
        "total_cost": sum((row[1] for row in messages.values() if row[1] is not None), Decimal(0)),
        "history": Counter(history.values_list("type", flat=True)),
        "history_per_contact": Counter(history.values_list("contact_id", "type")),
        "contacts": Counter(
            Contact.objects.filter(account_id=campaign.account_id).values_list(
                "sms_status", flat=True
            )
        ),
        "inbound": Counter(
            Message.objects.filter(account_id=campaign.account_id, direction="inbound").values_list(
                "status", flat=True
            )
        ),
        "events": Counter(WebhookEvent.objects.values_list("event_type", "status")),
    }


def replay(campaign, stream, capture_on_commit) -> dict:
    """POST the captured requests to our endpoint, then read the outcome; all of it in a
    transaction that is rolled back, so every replay starts from the same state."""
    client = Client()
    with transaction.atomic():
        for body, headers in stream:
            with capture_on_commit(execute=True):  # the worker picks the event up
                response = client.post(
                    "/webhooks/telnyx/",
                    data=body,
                    content_type="application/json",
                    headers={
                        "telnyx-signature-ed25519": headers["telnyx-signature-ed25519"],
                        "telnyx-timestamp": headers["telnyx-timestamp"],
                    },
                )
            assert response.status_code == 200, response.content
        result = outcome(campaign)
        transaction.set_rollback(True)
    return result


def diff(a: dict, b: dict) -> str:
    lines = []
    for key in a:
        if a[key] != b[key]:
            if isinstance(a[key], dict):
                keys = sorted(set(a[key]) | set(b[key]), key=str)
                changed = [
                    (k, a[key].get(k), b[key].get(k))
                    for k in keys
                    if a[key].get(k) != b[key].get(k)
                ]
                lines.append(f"{key}: {changed[:10]}")
            else:
                lines.append(f"{key}: {a[key]} != {b[key]}")
    return "\n".join(lines)


@pytest.mark.timeout(180)
def test_receipts_twice_and_in_reverse_order_end_the_same(
    cluster,
    captured_webhooks,
    celery_eager,
    django_capture_on_commit_callbacks,
):
    procs, _redis = cluster
    procs.env.update(
        SIMULATOR_WEBHOOK_URL=captured_webhooks.url,
        SIMULATOR_RECEIPT_DELAY_MS="50",
        SIMULATOR_DELIVERED_RATIO="0.6",
        SIMULATOR_FAILED_RATIO="0.2",  # the rest: delivery_unconfirmed
        SIMULATOR_REPLY_RATE="0.2",
        SIMULATOR_STOP_RATE="0.05",
    )
    phones = recipients(24, first=2000) + TEST_RECIPIENTS + [API_REJECTED]
    # 10 MPS: what the simulator allows a long code it did not provision itself.
    campaign = committed_campaign(phones=phones, senders=2, mps=10)
    procs.start(
        procs.worker("rel-dispatch"),
        procs.worker("rel-simulator", queues="simulator", concurrency=2),
        procs.beat(),
    )

    wait_for_completion(campaign)
    accepted = SimulatorMessage.objects.filter(from_number__in=senders_of(campaign))
    expected = 2 * accepted.count() + accepted.exclude(reply="").count()

    def event_ids() -> set[str]:
        return {json.loads(body)["data"]["id"] for body, _ in captured_webhooks.snapshot()}

    wait_for_count(lambda: len(event_ids()), expected, what="the simulator's webhooks")
    procs.kill_all()  # nothing else touches the database from here on
    stream = captured_webhooks.snapshot()
    assert len(event_ids()) == expected
    types = Counter(json.loads(body)["data"]["event_type"] for body, _ in stream)
    assert types["message.received"] >= 2, types  # replies (one of them STOP) are in

    in_order = replay(campaign, stream, django_capture_on_commit_callbacks)
    reversed_twice = replay(
        campaign, stream[::-1] + stream[::-1], django_capture_on_commit_callbacks
    )
    shuffled = [*stream, *stream]
    random.Random(3).shuffle(shuffled)
    shuffled_twice = replay(campaign, shuffled, django_capture_on_commit_callbacks)

    # Not vacuous: (a) is what the simulator decided, and every kind of outcome occurs.
    by_provider_id = {str(s.id): s for s in accepted}
    receipt_cost = {
        event["data"]["payload"]["id"]: Decimal(event["data"]["payload"]["cost"]["amount"])
        for event in (json.loads(body) for body, _ in stream)
        if event["data"]["event_type"] == "message.finalized"
    }
    messages = Message.objects.filter(campaign=campaign)
    for message in messages:
        status, cost, error_code, *_ = in_order["messages"][message.pk]
        if message.to_number == API_REJECTED:
            assert (status, error_code) == (MessageStatus.FAILED, "40300")
            continue
        sim = by_provider_id[message.provider_message_id]
        assert status == OUTCOME_STATUS[sim.outcome], (message.to_number, sim.outcome, status)
        if status == MessageStatus.FAILED:
            assert error_code == sim.error_code
        assert cost == receipt_cost[message.provider_message_id]  # the carrier's own cost
    assert {MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.SENT} <= set(
        in_order["status_counts"]
    )
    assert {"sms_delivered", "sms_failed", "sms_received"} <= set(in_order["history"])
    assert in_order["events"] == Counter({(t, "processed"): n for t, n in types.items()}), (
        "every event stored once and processed (none parked, none failed)"
    )

    assert reversed_twice == in_order, diff(in_order, reversed_twice)
    assert shuffled_twice == in_order, diff(in_order, shuffled_twice)


# Longer than the old retry window (tries at 0, 2 and 6 s); the chaos bench: 30 s.
RECEIVER_OUTAGE_SECONDS = 12


@pytest.mark.timeout(180)
def test_a_webhook_receiver_down_for_a_while_gets_every_receipt_when_it_is_back(
    cluster, captured_webhooks
):
    """The simulator's worker posts receipts to a receiver that is down (connection
    refused) from before the first send until RECEIVER_OUTAGE_SECONDS later: it retries
    with backoff, and once the receiver is back every event of every accepted message
    arrives. The simulator used to give up after three tries (~6 s)."""
    procs, _redis = cluster
    procs.env.update(
        SIMULATOR_WEBHOOK_URL=captured_webhooks.url,
        SIMULATOR_RECEIPT_DELAY_MS="50",
        SIMULATOR_REPLY_RATE="0",
        SIMULATOR_STOP_RATE="0",  # receipts only: no recipient answers (1 run in 3 did)
    )
    campaign = committed_campaign(phones=recipients(40, first=3000), senders=2, mps=10)
    captured_webhooks.down()
    procs.start(procs.procfile("dispatcher"), procs.procfile("simulator"), procs.beat())
    down_at = time.monotonic()

    wait_for_completion(campaign)  # sending does not wait for receipts
    check = assert_every_message_sent_exactly_once(campaign)
    time.sleep(max(0.0, RECEIVER_OUTAGE_SECONDS - (time.monotonic() - down_at)))
    assert captured_webhooks.snapshot() == []
    captured_webhooks.up()

    accepted = SimulatorMessage.objects.filter(from_number__in=senders_of(campaign))
    expected = {
        (event_type, str(message.id))
        for message in accepted
        for event_type in ("message.sent", "message.finalized")
    }

    def received() -> set[tuple[str, str]]:
        events = (json.loads(body)["data"] for body, _ in captured_webhooks.snapshot())
        return {(e["event_type"], e["payload"]["id"]) for e in events}

    wait_for_count(lambda: len(received() & expected), len(expected), what="receipts", stall=45)
    assert received() == expected
    assert check.log_rows == 40
