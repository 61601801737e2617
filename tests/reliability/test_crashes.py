"""Crash tests with real processes (issue 3's acceptance): real Celery workers and beat
on the test database and a private Redis; the carrier simulator is the network.

1. kill -9 the dispatching worker mid-campaign (twice), restart it: every message
   reaches a final state and the simulator's send log holds every message exactly once,
   including the ones whose send the simulator had accepted when the worker died.
2. Restart Redis (kill -9, all its data gone) mid-campaign, twice: the campaign
   completes, nothing lost, nothing twice, and the workers and beat reconnected by
   themselves.

Both also check the money: the account is charged once per accepted message.
"""

import random
import signal
import time
from decimal import Decimal

import pytest

from providers.models import SimulatorMessage
from texting.models import Message, MessageStatus

from .checks import (
    accepted_unrecorded,
    assert_every_message_sent_exactly_once,
    charge_check,
    committed_campaign,
    recipients,
    status_counts,
    wait_for_completion,
)
from .conftest import wait_for_count

RECIPIENTS = 240
SENDERS = 4
MPS = 10  # what the simulator allows an unprovisioned long code: 40 messages a second


def sent_at_least(campaign, share: float) -> None:
    wait_for_count(
        lambda: status_counts(campaign)[MessageStatus.SENT],
        int(RECIPIENTS * share),
        what="messages sent",
        every=0.02,
    )


def freeze_when_a_send_is_unrecorded(worker, campaign, *, budget: float) -> bool:
    """SIGSTOP the worker's group at random instants until one of its rows is in the
    window that matters most: the simulator accepted the send, the worker has not yet
    recorded it. Returns whether it got there within `budget` seconds; either way the
    worker is left stopped (the caller kills it)."""
    deadline = time.monotonic() + budget
    while True:
        worker.signal_group(signal.SIGSTOP)
        time.sleep(0.02)  # let statements already on the wire land
        if accepted_unrecorded(campaign) or time.monotonic() > deadline:
            return bool(accepted_unrecorded(campaign))
        worker.signal_group(signal.SIGCONT)
        time.sleep(random.uniform(0.001, 0.03))


@pytest.mark.timeout(240)
def test_a_worker_killed_mid_dispatch_loses_nothing_and_sends_nothing_twice(cluster):
    procs, _redis = cluster
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    balance = campaign.account.balance
    worker = procs.worker("rel-dispatch")
    procs.start(worker, procs.beat())

    stranded: dict[int, str] = {}  # accepted by the simulator, not recorded when killed
    in_flight_at_death = 0
    for share in (0.2, 0.5):
        sent_at_least(campaign, share)
        freeze_when_a_send_is_unrecorded(worker, campaign, budget=6)
        worker.kill9()
        time.sleep(0.2)  # the dead worker's database sessions end
        in_flight_at_death += Message.objects.filter(
            campaign=campaign, status=MessageStatus.SENDING
        ).count()
        stranded |= accepted_unrecorded(campaign)
        procs.start(worker)  # restart (and wait until it is up: nothing moves before)

    wait_for_completion(campaign)
    assert_every_message_sent_exactly_once(campaign)
    assert in_flight_at_death > 0, "the kills never caught a message in flight"
    # The window that matters was hit: these were accepted by the simulator before the
    # kill; the retry reused the key and got the original message back.
    assert stranded, "no kill landed between the provider's accept and our record of it"
    for message_id, simulator_id in stranded.items():
        message = Message.objects.get(pk=message_id)
        assert message.status == MessageStatus.SENT
        assert message.provider_message_id == simulator_id
        assert SimulatorMessage.objects.filter(to_number=message.to_number).count() == 1
    charge_check(campaign, balance_before=balance)


@pytest.mark.timeout(240)
def test_a_redis_restart_mid_campaign_loses_nothing_and_sends_nothing_twice(cluster):
    procs, server = cluster
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    balance: Decimal = campaign.account.balance
    workers = [procs.worker(f"rel-w{i}", concurrency=1) for i in (1, 2)]
    beat = procs.beat()
    procs.start(*workers, beat)

    run_ids = {server.run_id()}
    for share, outage in ((0.2, 2.0), (0.5, 0.5)):
        sent_at_least(campaign, share)
        server.kill9()  # no persistence: the broker's queues and every counter are gone
        time.sleep(outage)
        server.start()
        run_ids.add(server.run_id())
    assert len(run_ids) == 3  # two real restarts

    wait_for_completion(campaign)
    assert_every_message_sent_exactly_once(campaign)
    # Nobody restarted them: they reconnected on their own.
    assert all(w.alive() for w in workers) and beat.alive()
    charge_check(campaign, balance_before=balance)
