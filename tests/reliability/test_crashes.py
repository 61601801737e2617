"""Crash tests with real processes (issue 3's acceptance, issue 14's fault matrix): real
Celery workers and beat on the test database and a private Redis; the carrier simulator
is the network.

1. kill -9 the dispatching worker mid-campaign (twice), restart it: every message
   reaches a final state and the simulator's send log holds every message exactly once,
   including the ones whose send the simulator had accepted when the worker died.
2. Restart Redis (kill -9, all its data gone) mid-campaign, twice: the campaign
   completes, nothing lost, nothing twice, and the workers and beat reconnected by
   themselves.
3. kill -9 of one pool process of the dispatcher, then of its main process alone.
4. PostgreSQL drops every connection of the test database, twice, mid-campaign.

Every one also checks the money: the account is charged once per accepted message.
"""

import contextlib
import os
import random
import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

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
from .conftest import wait_for_count, wait_until

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


def succeeded_since(proc, offset: int) -> int:
    """Tasks the worker finished after `offset` bytes of its log."""
    with proc.log.open("rb") as log:
        log.seek(offset)
        return log.read().count(b"] succeeded in ")


@pytest.mark.timeout(240)
def test_a_redis_restart_mid_campaign_loses_nothing_and_every_worker_consumes_again(
    cluster, captured_webhooks
):
    """The Procfile's own workers (default, dispatch, simulator: its flags, gossip and
    mingle included) and beat, with the simulator posting receipts, so long tasks (a
    dispatch drain, the simulator's pump) are running when Redis goes. The simulator
    worker used to exit after such a restart (AttributeError on the ack of a task that
    ran across it)."""
    procs, server = cluster
    procs.env.update(SIMULATOR_WEBHOOK_URL=captured_webhooks.url, SIMULATOR_RECEIPT_DELAY_MS="50")
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    balance: Decimal = campaign.account.balance
    workers = [procs.procfile(name) for name in ("worker", "dispatcher", "simulator")]
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
    offsets = {w.name: w.log.stat().st_size for w in workers}

    wait_for_completion(campaign)
    assert_every_message_sent_exactly_once(campaign)
    charge_check(campaign, balance_before=balance)
    # Nobody restarted them: they reconnected on their own, and each one is consuming
    # its queue again (beat sends each queue a task every second).
    for worker in workers:
        wait_until(
            lambda w=worker: not w.alive() or succeeded_since(w, offsets[w.name]) >= 3,
            timeout=60,
            what=f"{worker.name} to run tasks after the restarts",
        )
    assert [w.name for w in workers if not w.alive()] == [], procs.logs()
    assert beat.alive()


def pool_children(proc) -> list[int]:
    """The pids of a Celery main process's pool children."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        if int(fields[1]) == proc.pid:  # state, ppid, ...
            children.append(int(stat.parent.name))
    return children


@pytest.mark.timeout(240)
def test_a_pool_process_or_the_main_process_killed_loses_nothing_and_sends_nothing_twice(
    cluster,
):
    """kill -9 of one pool process of the Procfile's dispatcher (Celery replaces it),
    then kill -9 of its main process alone: its pool children are orphaned and finish
    what they hold while the process manager starts a new dispatcher beside them."""
    procs, _redis = cluster
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    balance = campaign.account.balance
    dispatcher = procs.procfile("dispatcher")
    procs.start(dispatcher, procs.procfile("worker"), procs.beat())

    sent_at_least(campaign, 0.2)
    before = pool_children(dispatcher)
    os.kill(random.choice(before), signal.SIGKILL)
    wait_until(
        lambda: len(set(pool_children(dispatcher)) - set(before)) == 1,
        timeout=30,
        what="Celery to replace the killed pool process",
    )
    assert dispatcher.alive()

    sent_at_least(campaign, 0.5)
    orphans = pool_children(dispatcher)
    old_group = dispatcher.pid
    os.kill(dispatcher.pid, signal.SIGKILL)  # the main process only
    dispatcher.popen.wait(timeout=10)
    try:
        procs.start(dispatcher)  # what a restarting process manager does
        offset = dispatcher.log.stat().st_size
        wait_for_completion(campaign)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(old_group, signal.SIGKILL)  # orphans still running, if any
    assert orphans
    assert_every_message_sent_exactly_once(campaign)
    charge_check(campaign, balance_before=balance)
    assert dispatcher.alive()
    wait_until(
        lambda: succeeded_since(dispatcher, offset) >= 3,
        timeout=30,
        what="the new dispatcher to run ticks",
    )


@pytest.mark.timeout(240)
def test_postgresql_dropping_every_connection_mid_campaign_loses_nothing(cluster):
    """PostgreSQL "restarts" under the workers: every backend on the test database is
    terminated (pg_terminate_backend, as a server restart does to them), twice. Only
    the test database's backends: the server is shared."""
    procs, _redis = cluster
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    balance = campaign.account.balance
    workers = [procs.procfile("dispatcher"), procs.procfile("worker")]
    procs.start(*workers, procs.beat())

    terminated = 0
    for share in (0.2, 0.5):
        sent_at_least(campaign, share)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            terminated += cursor.fetchone()[0]
    assert terminated >= 2
    offsets = {w.name: w.log.stat().st_size for w in workers}

    wait_for_completion(campaign)
    assert_every_message_sent_exactly_once(campaign)
    charge_check(campaign, balance_before=balance)
    for worker in workers:
        assert worker.alive(), worker.log_tail()
        wait_until(
            lambda w=worker: succeeded_since(w, offsets[w.name]) >= 3,
            timeout=30,
            what=f"{worker.name} to run tasks after the restart",
        )
