"""Money (per-segment debits, never below zero, pause when empty) and the drain loop
(several loops sharing senders through Redis ownership), against the simulator."""

import datetime
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis
from django.utils import timezone
from PIL import Image

from accounts.models import Account
from accounts.services import balance_debit
from phone_numbers.models import PhoneNumber
from providers.models import SimulatorMessage
from providers.simulator.selectors import violations
from tests.factories import make_account, make_contact, make_member, make_number
from texting import dispatch
from texting.commit import campaign_commit
from texting.media import media_upload
from texting.models import Campaign, CampaignStatus, Message
from texting.services import campaign_resume

pytestmark = pytest.mark.usefixtures("clean_dispatch_state")


def commit(account: Account, *, n: int, senders: list[tuple[str, int]], body: str = "Hi", **fields):
    user = make_member(account, "manager")
    numbers = [make_number(account, e164, mps=mps) for e164, mps in senders]
    contacts = [make_contact(account, f"+1503555{i:04d}") for i in range(1000, 1000 + n)]
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
        name="Money",
        body=body,
        sender_ids=[s.pk for s in numbers],
        audience={"contact_ids": [c.pk for c in contacts]},
        **fields,
    )
    return campaign_commit(campaign=campaign, actor=user)


@pytest.mark.django_db
def test_commit_estimates_the_cost_by_segment_and_sender_kind(settings):
    settings.SEGMENT_PRICE = {"long": "0.0100", "toll_free": "0.0200", "short": "0.0050"}
    account = make_account()
    # "Hi" + newline + stop language: one GSM-7 segment each.
    result = commit(account, n=4, senders=[("+19715550001", 10)])
    assert result.estimated_cost == Decimal("0.0400")
    assert Campaign.objects.get(pk=result.campaign.pk).estimated_cost == Decimal("0.0400")


@pytest.mark.django_db
def test_sends_are_debited_and_an_empty_balance_pauses_the_campaign(settings):
    settings.SEGMENT_PRICE = {"long": "0.0070"}
    account = make_account(balance=Decimal("1"))  # the commit's Tech Check needs enough
    campaign = commit(account, n=4, senders=[("+19715550002", 50)]).campaign
    # Money spent elsewhere after the commit: two segments' worth left.
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0140"))
    sender = "+19715550002"
    for _ in range(4):
        dispatch.dispatch_sender(sender=sender)
    statuses = sorted(Message.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert statuses == ["queued", "queued", "sent", "sent"]
    account.refresh_from_db()
    assert account.balance == Decimal("0")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert "balance" in campaign.status_reason
    assert SimulatorMessage.objects.filter(from_number=sender).count() == 2
    assert set(
        Message.objects.filter(campaign=campaign, status="sent").values_list("charged", flat=True)
    ) == {Decimal("0.0070")}

    # Funds added, campaign resumed: the rest goes.
    Account.objects.filter(pk=account.pk).update(balance=Decimal("1"))
    campaign_resume(campaign=campaign)
    for _ in range(3):
        dispatch.dispatch_sender(sender=sender)
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "sent"
    }


@pytest.mark.django_db
def test_a_message_that_fails_permanently_costs_nothing():
    account = make_account(balance=Decimal("1"))
    # +12025550111: the simulator rejects the destination (40310).
    user = make_member(account, "manager")
    number = make_number(account, "+19715550003", mps=50)
    contact = make_contact(account, "+12025550111")
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
        name="x",
        body="Hi",
        sender_ids=[number.pk],
        audience={"contact_ids": [contact.pk]},
    )
    campaign_commit(campaign=campaign, actor=user)
    dispatch.dispatch_sender(sender=number.e164)
    assert Message.objects.get(campaign=campaign).status == "failed"
    account.refresh_from_db()
    assert account.balance == Decimal("1")


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_never_take_the_balance_below_zero():
    account = make_account(balance=Decimal("0.0700"))
    barrier = threading.Barrier(20)

    def debit(_):
        barrier.wait()
        try:
            return balance_debit(account_id=account.pk, amount=Decimal("0.0070"))
        finally:
            from django.db import connection

            connection.close()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(debit, range(20)))
    assert results.count(True) == 10
    account.refresh_from_db()
    assert account.balance == Decimal("0")


@pytest.mark.django_db(transaction=True)
def test_two_drain_loops_share_the_senders_and_send_everything_once(settings):
    settings.SIMULATOR_LATENCY_MS = 20
    # Both loops, their threads and the simulator share one process (and its GIL) here,
    # so the jitter between a booked slot and the carrier's count is far larger than
    # with real processes: a wider margin keeps this test about correctness. `make
    # bench` measures the production margin (0.97) with separate worker processes.
    settings.DISPATCH_RATE_MARGIN = 0.85
    account = make_account()
    # Long codes: the simulator enforces 10 MPS for numbers it did not provision.
    senders = [("+19715550011", 10), ("+19715550012", 10), ("+19715550013", 5)]
    campaign = commit(account, n=50, senders=senders).campaign
    loops = [
        dispatch.Drainer(pool=ThreadPoolExecutor(8), max_in_flight=8, idle_exit=0.5)
        for _ in range(2)
    ]
    threads = [threading.Thread(target=loop.run, args=(10.0,)) for loop in loops]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started

    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "sent"
    }
    log = SimulatorMessage.objects.filter(from_number__in=[e for e, _ in senders])
    assert log.count() == 50
    assert log.values("idempotency_key").distinct().count() == 50
    for e164, _ in senders:
        assert violations(from_number=e164).count() == 0
    # Both loops worked: the second one took its share of the senders.
    assert all(loop.claimed > 0 for loop in loops), [loop.claimed for loop in loops]
    # Claims are sized to what the sender can send (the booking horizon, or its window
    # when catching up): few rows are claimed twice.
    assert 50 <= sum(loop.claimed for loop in loops) <= 65
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED
    assert elapsed < 10


@pytest.mark.django_db
def test_a_message_retried_after_a_crash_is_charged_once(settings):
    settings.SEGMENT_PRICE = {"long": "0.0070"}
    account = make_account(balance=Decimal("1"))
    campaign = commit(account, n=1, senders=[("+19715550004", 50)]).campaign
    (row,) = dispatch.claim(sender="+19715550004", limit=1)
    message = Message.objects.get(pk=row.id)
    # The worker charged the message, then died before calling the provider.
    assert dispatch._charge(message, Decimal("0.0070"))
    Message.objects.filter(pk=row.id).update(lease_until=message.created_at)
    assert dispatch.reclaim_expired_leases() == 1
    dispatch.dispatch_sender(sender="+19715550004")
    assert Message.objects.get(campaign=campaign).status == "sent"
    account.refresh_from_db()
    assert account.balance == Decimal("0.9930")


@pytest.mark.django_db
def test_a_claim_pays_for_its_whole_batch_or_leaves_it_to_be_paid_one_by_one(settings):
    settings.SEGMENT_PRICE = {"long": "0.0070"}
    account = make_account(balance=Decimal("0.0280"))  # exactly four segments' worth
    campaign = commit(account, n=4, senders=[("+19715550021", 50)]).campaign
    rows = dispatch.claim(sender="+19715550021", limit=4)
    assert [row.paid for row in rows] == [True] * 4
    account.refresh_from_db()
    assert account.balance == Decimal("0")
    assert set(Message.objects.filter(campaign=campaign).values_list("charged", flat=True)) == {
        Decimal("0.0070")
    }

    # Money for two of the next four: the batch debit does not go through at all...
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0140"))
    dispatch.requeue([row.id for row in rows], after=0, undo_attempt=True)  # refunds them
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0140"))
    rows = dispatch.claim(sender="+19715550021", limit=4)
    assert [row.paid for row in rows] == [False] * 4
    account.refresh_from_db()
    assert account.balance == Decimal("0.0140")
    # ... and the final check charges one by one: two go, the rest wait, paused.
    info = dispatch.sender_info(["+19715550021"])["+19715550021"]
    batch, result = dispatch.prepare(info, [(row, 0.0) for row in rows])
    assert len(batch.calls) == 2 and result.deferred == 2
    account.refresh_from_db()
    assert account.balance == Decimal("0")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    assert Message.objects.filter(campaign=campaign, status="queued", charged=None).count() == 2


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.django_db
def test_an_mms_is_estimated_and_charged_per_message_at_the_mms_price(settings, tmp_path):
    settings.SEGMENT_PRICE = {"long": "0.0070"}
    settings.MMS_PRICE = "0.0200"
    settings.MEDIA_ROOT = str(tmp_path)
    account = make_account(balance=Decimal("1"))
    flyer = media_upload(account=account, actor=None, data=_png(), name="flyer.png")
    sender = "+19715550031"
    # 200 characters: two segments as an SMS (2 x 0.0070 each), one MMS message each.
    mms = commit(account, n=3, senders=[(sender, 50)], body="x" * 200, media_ids=[flyer.pk])
    assert mms.estimated_cost == Decimal("0.0600")
    assert Campaign.objects.get(pk=mms.campaign.pk).estimated_cost == Decimal("0.0600")
    # An SMS campaign from the same number, claimed in the same batch, pays per segment.
    user = make_member(account, "manager")
    sms = Campaign.objects.create(
        account=account,
        created_by=user,
        name="SMS",
        body="Hi",
        sender_ids=[PhoneNumber.objects.get(e164=sender).pk],
        audience={"contact_ids": [make_contact(account, "+15035559990").pk]},
    )
    assert campaign_commit(campaign=sms, actor=user).estimated_cost == Decimal("0.0070")

    rows = dispatch.claim(sender=sender, limit=10)

    assert len(rows) == 4 and all(row.paid for row in rows)
    charged = dict(Message.objects.values_list("campaign_id", "charged").distinct())
    assert charged == {mms.campaign.pk: Decimal("0.0200"), sms.pk: Decimal("0.0070")}
    account.refresh_from_db()
    assert account.balance == Decimal("0.9330")

    # Not enough for the MMS batch: charged one by one, each at the MMS price.
    mms_ids = [r.id for r in rows if Message.objects.get(pk=r.id).campaign_id == mms.campaign.pk]
    dispatch.requeue(mms_ids, after=0, undo_attempt=True)  # refunds them
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.0400"))
    rows = dispatch.claim(sender=sender, limit=10)
    assert [row.paid for row in rows] == [False] * 3
    info = dispatch.sender_info([sender])[sender]
    batch, result = dispatch.prepare(info, [(row, 0.0) for row in rows])
    assert len(batch.calls) == 2 and result.deferred == 1
    account.refresh_from_db()
    assert account.balance == Decimal("0")
    assert sorted(
        Message.objects.filter(campaign=mms.campaign).values_list("charged", flat=True),
        key=str,
    ) == [Decimal("0.0200"), Decimal("0.0200"), None]


@pytest.mark.django_db(transaction=True)
def test_a_running_loop_waits_for_a_message_due_shortly_and_sends_it_on_time(settings):
    settings.SIMULATOR_LATENCY_MS = 0
    account = make_account()
    campaign = commit(account, n=1, senders=[("+19715550031", 10)]).campaign
    due = timezone.now() + datetime.timedelta(seconds=1.5)
    Message.objects.filter(campaign=campaign).update(send_after=due)
    loop = dispatch.Drainer(pool=ThreadPoolExecutor(4), max_in_flight=4, idle_exit=0.5)
    # Nothing is due yet: the loop must not give up after its idle time and leave the
    # message to the next kick; it claims it when it comes due.
    loop.run(6.0)
    message = Message.objects.get(campaign=campaign)
    assert message.status == "sent"
    assert (message.sent_at - due).total_seconds() < 0.5


@pytest.mark.django_db(transaction=True)
def test_a_sender_behind_its_pace_sends_its_backlog_at_once_within_its_window(settings):
    """Ten messages overdue on a 10 MPS number: they go together (the window has room
    for ten), not one every 0.1 s, so a stall is not carried as a lasting lag."""
    settings.SIMULATOR_LATENCY_MS = 0
    account = make_account()
    sender = "+19715550041"
    campaign = commit(account, n=10, senders=[(sender, 10)]).campaign
    Message.objects.filter(campaign=campaign).update(
        send_after=timezone.now() - datetime.timedelta(seconds=2)
    )
    loop = dispatch.Drainer(pool=ThreadPoolExecutor(12), max_in_flight=12, idle_exit=0.3)
    loop.run(5.0)
    accepted = sorted(
        SimulatorMessage.objects.filter(from_number=sender).values_list("accepted_at", flat=True)
    )
    assert len(accepted) == 10
    assert (accepted[-1] - accepted[0]).total_seconds() < 0.5  # paced, it would be ~0.93 s
    assert violations(from_number=sender).count() == 0


@pytest.mark.django_db
def test_a_message_handed_back_keeps_its_place_in_a_paced_stream():
    account = make_account()
    campaign = commit(account, n=1, senders=[("+19715550051", 10)]).campaign
    due = timezone.now() + datetime.timedelta(seconds=0.25)
    Message.objects.filter(campaign=campaign).update(send_after=due)
    # Claimed ahead of its time (within the horizon), then handed back at once.
    [row] = dispatch.claim(sender="+19715550051", limit=5, ahead=dispatch.HORIZON)
    dispatch.requeue([row.id], after=0)
    message = Message.objects.get(pk=row.id)
    assert message.status == "queued"
    assert message.send_after == due  # not pulled earlier, to the moment of the hand-back


@pytest.mark.django_db
def test_a_campaign_that_starts_sending_kicks_the_dispatch_loops(
    settings, django_capture_on_commit_callbacks
):
    settings.DISPATCH_KICK_LOOPS = 3
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete("dispatch")
    account = make_account()
    with django_capture_on_commit_callbacks(execute=True):
        commit(account, n=2, senders=[("+19715550061", 10)])
    # Three drain loops asked for now, not one per beat tick.
    assert client.llen("dispatch") == 3
    client.delete("dispatch")


@pytest.mark.django_db
def test_loops_share_senders_by_what_they_cost_not_only_by_mps():
    """Every sender needs its own claims several times a second, so ten 10 MPS long
    codes weigh on a loop far more than their 100 MPS: three loops sharing them and a
    100 MPS short code must not leave eight long codes on one loop."""
    account = make_account()
    senders = [("+19715550070", 100)] + [(f"+1971555008{i}", 10) for i in range(10)]
    commit(account, n=200, senders=senders)  # hashed: every sender gets some
    loops = [dispatch.Drainer(pool=ThreadPoolExecutor(1), max_in_flight=1) for _ in range(3)]
    for loop in loops:
        loop._heartbeat()
    for _ in range(2):  # a second round settles what the first handed back
        for loop in loops:
            loop.refresh_ownership()
    owned = [set(loop.owned) for loop in loops]
    assert set().union(*owned) == {e164 for e164, _ in senders}
    assert max(len(o) for o in owned) <= 5, [sorted(o) for o in owned]
    for loop in loops:
        loop.release_all()
