"""Live campaign status: the snapshot (selectors), delivery health, the per-recipient
rows, and the WebSocket (consumer + texting.live coalescing) over real PostgreSQL,
Redis and the Redis channel layer."""

import asyncio
import datetime
import itertools
import json

import pytest
import redis
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.api import SESSION_ACCOUNT_KEY
from contacts.models import Contact
from tests.conftest import redis_keys_cleared
from tests.factories import api_client, make_account, make_event, make_member, make_number
from texting import live, tasks
from texting.models import Campaign, CampaignStatus, Message, MessageStatus
from texting.selectors import (
    HealthState,
    campaign_health,
    campaign_messages,
    campaign_status_snapshot,
    message_page,
)

_phones = itertools.count(1000)
SNAPSHOT_KEYS = {
    "status",
    "selected",
    "queued",
    "sent",
    "delivered",
    "failed",
    "opted_out",
    "replied",
    "progress",
    "eta",
}


# --- Small builders over the real tables (test data, not stand-ins) ----------------


def recipients(account, n: int, **fields) -> list[Contact]:
    return Contact.objects.bulk_create(
        [
            Contact(
                account=account,
                phone=f"+1503{next(_phones):07d}",
                timezone="America/Los_Angeles",
                timezone_source="phone",
                **fields,
            )
            for _ in range(n)
        ]
    )


def add_messages(campaign, contacts, status: str, *, sender: str = "+15035550100", **fields):
    now = timezone.now()
    return Message.objects.bulk_create(
        [
            Message(
                account_id=campaign.account_id,
                campaign=campaign,
                contact=contact,
                from_number=sender,
                to_number=contact.phone,
                body="Polls close at 8!\nReply STOP to opt out.",
                status=status,
                send_after=now,
                **fields,
            )
            for contact in contacts
        ]
    )


def campaign_in(account, status: str = CampaignStatus.SENDING, **fields) -> Campaign:
    fields.setdefault("send_started", timezone.now() - datetime.timedelta(minutes=10))
    return Campaign.objects.create(account=account, name="GOTV", body="Hi", status=status, **fields)


def ago(**kwargs) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**kwargs)


@pytest.fixture(autouse=True)
def clean_live_keys():
    """Throttle, dirty and last-frame keys from another test (or run) must not leak in."""
    yield from redis_keys_cleared("live:*")


# --- The snapshot -----------------------------------------------------------------


@pytest.mark.django_db
def test_snapshot_counts_every_state_once():
    account = make_account()
    campaign = campaign_in(account, status=CampaignStatus.PAUSED)
    people = recipients(account, 10)
    add_messages(campaign, people[0:2], MessageStatus.QUEUED)
    add_messages(campaign, people[2:3], MessageStatus.SENDING)
    add_messages(campaign, people[3:5], MessageStatus.SENT, sent_at=ago(minutes=1))
    add_messages(campaign, people[5:8], MessageStatus.DELIVERED, sent_at=ago(minutes=1))
    add_messages(campaign, people[8:9], MessageStatus.FAILED, failed_at=ago(minutes=1))
    add_messages(campaign, people[9:10], MessageStatus.CANCELED)
    # Another campaign's rows and events never count here.
    other = campaign_in(account)
    add_messages(other, recipients(account, 3), MessageStatus.DELIVERED)

    assert campaign_status_snapshot(campaign=campaign) == {
        "status": "paused",
        "selected": 10,
        "queued": 3,  # queued + sending: still waiting
        "sent": 5,  # sent + delivered
        "delivered": 3,
        "failed": 1,
        "opted_out": 0,
        "replied": 0,
        "progress": 0.7,
        "eta": None,  # only a sending campaign has an ETA
    }


@pytest.mark.django_db
def test_opted_out_and_replied_count_distinct_recipients_of_this_campaign():
    account, elsewhere = make_account(), make_account()
    campaign, other = campaign_in(account), campaign_in(account)
    ana, ben, cy = recipients(account, 3)
    add_messages(campaign, [ana, ben, cy], MessageStatus.DELIVERED)
    make_event(ana, "sms_received", campaign_id=campaign.pk, data={"text": "Yes!"})
    make_event(ana, "sms_received", campaign_id=campaign.pk, data={"text": "When?"})
    make_event(ben, "sms_received", campaign_id=campaign.pk, data={"text": "STOP"})
    make_event(ben, "sms_opt_out", campaign_id=campaign.pk)
    make_event(cy, "sms_received", campaign_id=other.pk)  # answered another campaign
    make_event(cy, "sms_opt_out")  # opted out, not in answer to a campaign
    (stranger,) = recipients(elsewhere, 1)
    make_event(stranger, "sms_received", campaign_id=campaign.pk)  # another tenant's row

    snapshot = campaign_status_snapshot(campaign=campaign)
    assert (snapshot["replied"], snapshot["opted_out"]) == (2, 1)


@pytest.mark.django_db
def test_eta_uses_the_rate_observed_over_the_last_minute():
    account = make_account()
    sender = make_number(account, mps=50)
    campaign = campaign_in(account, sender_ids=[sender.pk], send_started=ago(seconds=30))
    people = recipients(account, 90)
    add_messages(campaign, people[:30], MessageStatus.SENT, sent_at=ago(seconds=10))
    add_messages(campaign, people[30:], MessageStatus.QUEUED)

    before = timezone.now()
    eta = datetime.datetime.fromisoformat(campaign_status_snapshot(campaign=campaign)["eta"])
    # 30 left in the 30 s since the start: 1/s, so the 60 waiting need about a minute
    # (not the 50 MPS the sender would allow).
    assert before + datetime.timedelta(seconds=55) <= eta <= before + datetime.timedelta(seconds=62)
    assert eta.utcoffset() is not None  # ISO 8601 with an offset


@pytest.mark.django_db
@pytest.mark.parametrize(("max_mps", "seconds"), [(None, 10), ("2", 40)])
def test_eta_falls_back_to_the_senders_mps_capped_by_max_mps(max_mps, seconds):
    account = make_account()
    senders = [make_number(account, mps=5), make_number(account, mps=3)]
    campaign = campaign_in(
        account,
        sender_ids=[s.pk for s in senders],
        send_started=ago(seconds=1),  # too young to have an observed rate
        max_mps=max_mps,
    )
    add_messages(campaign, recipients(account, 80), MessageStatus.QUEUED)

    before = timezone.now()
    eta = datetime.datetime.fromisoformat(campaign_status_snapshot(campaign=campaign)["eta"])
    expected = before + datetime.timedelta(seconds=seconds)  # 80 / 8 MPS, or 80 / 2
    assert (
        expected - datetime.timedelta(seconds=1) <= eta <= expected + datetime.timedelta(seconds=2)
    )


@pytest.mark.django_db
def test_the_status_api_returns_the_snapshot_unchanged(account, admin_api):
    campaign = campaign_in(account, status=CampaignStatus.COMPLETED)
    add_messages(campaign, recipients(account, 4), MessageStatus.DELIVERED)
    body = admin_api.get(f"/api/v1/campaigns/{campaign.pk}/status/").json()
    assert set(body) == SNAPSHOT_KEYS
    assert body == campaign_status_snapshot(campaign=campaign)
    assert (body["status"], body["delivered"], body["progress"], body["eta"]) == (
        "completed",
        4,
        1.0,
        None,
    )


# --- Delivery health --------------------------------------------------------------


def finalized(campaign, *, delivered: int, failed: int, at, error=("30007", "Carrier filtered")):
    add_messages(
        campaign,
        recipients(campaign.account, delivered),
        MessageStatus.DELIVERED,
        sent_at=at,
        delivered_at=at,
    )
    add_messages(
        campaign,
        recipients(campaign.account, failed),
        MessageStatus.FAILED,
        sent_at=at,
        failed_at=at,
        error_code=error[0],
        error_reason=error[1],
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("earlier", "recent", "state", "words"),
    [
        ((0, 0), (10, 1), HealthState.QUIET, "11 messages finalized in the last 5 minutes"),
        ((0, 0), (95, 5), HealthState.OK, "95% of 100 messages finalized"),
        ((0, 0), (85, 15), HealthState.WARNING, "delivery rate dropped to 85%"),
        ((0, 0), (60, 40), HealthState.CRITICAL, "Only 60% of messages"),
        # 90% is fine on its own, but it fell 10 points from 100% before the window.
        ((100, 0), (90, 10), HealthState.WARNING, "fell to 90% in the last 5 minutes, from 100%"),
        # 95% delivered, but failures went from 1% to 5%.
        ((99, 1), (95, 5), HealthState.WARNING, "Failures spiked: 5%"),
    ],
)
def test_health_states_and_their_reasons(earlier, recent, state, words):
    account = make_account()
    campaign = campaign_in(account)
    if sum(earlier):
        finalized(campaign, delivered=earlier[0], failed=earlier[1], at=ago(minutes=30))
    finalized(campaign, delivered=recent[0], failed=recent[1], at=ago(minutes=2))

    health = campaign_health(campaign=campaign)

    assert health.state == state
    assert words in " ".join(health.reasons)
    if state in (HealthState.WARNING, HealthState.CRITICAL):
        assert "Most common recent error: 30007 Carrier filtered" in health.reasons[-1]


@pytest.mark.django_db
def test_old_failures_do_not_count_against_recent_health():
    account = make_account()
    campaign = campaign_in(account)
    finalized(campaign, delivered=10, failed=90, at=ago(minutes=20))  # a bad patch, over
    finalized(campaign, delivered=50, failed=0, at=ago(minutes=1))
    health = campaign_health(campaign=campaign)
    assert health.state == HealthState.OK
    assert health.reasons[0].startswith("100% of 50 messages finalized")


# --- Per-recipient rows -----------------------------------------------------------


@pytest.mark.django_db
def test_rows_filter_by_status_and_search_by_name_or_phone_within_the_account():
    account, elsewhere = make_account(), make_account()
    campaign = campaign_in(account)
    (ana,) = recipients(account, 1, first_name="Ana", last_name="Alvarez")
    (ben,) = recipients(account, 1, first_name="Ben", last_name="Brooks", preferred_name="Benny")
    add_messages(campaign, [ana], MessageStatus.DELIVERED)
    add_messages(campaign, [ben], MessageStatus.FAILED)
    # An Ana in another account, and an Ana this account never texted in this campaign.
    recipients(elsewhere, 1, first_name="Ana", last_name="Alvarez")
    recipients(account, 1, first_name="Ana", last_name="Other")

    def contacts(**kwargs) -> set[int]:
        return set(
            campaign_messages(campaign=campaign, **kwargs).values_list("contact_id", flat=True)
        )

    assert contacts() == {ana.pk, ben.pk}
    assert contacts(status="failed") == {ben.pk}
    assert contacts(q="ana") == {ana.pk}
    assert contacts(q="ALVAREZ ana") == {ana.pk}
    assert contacts(q="benny") == {ben.pk}
    assert contacts(q=ben.phone[-7:]) == {ben.pk}
    assert contacts(q=f"({ben.phone[2:5]}) {ben.phone[5:8]}-{ben.phone[8:]}") == {ben.pk}
    assert contacts(q="ana", status="failed") == set()
    assert contacts(q="12") == set()  # too few digits to mean a phone


@pytest.mark.django_db
def test_keyset_pages_walk_forward_and_back_without_gaps():
    account = make_account()
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 23, first_name="Pat"), MessageStatus.QUEUED)
    rows = campaign_messages(campaign=campaign)
    all_ids = list(rows.order_by("id").values_list("id", flat=True))

    first = message_page(rows=rows, size=10)
    second = message_page(rows=rows, after=first.next_after, size=10)
    third = message_page(rows=rows, after=second.next_after, size=10)
    assert [r.id for r in first.rows + second.rows + third.rows] == all_ids
    assert (first.prev_before, third.next_after) == (None, None)
    assert all(contact.first_name == "Pat" for _, contact in second.with_contacts())

    back = message_page(rows=rows, before=third.prev_before, size=10)
    assert [r.id for r in back.rows] == [r.id for r in second.rows]
    assert back.next_after == second.next_after


@pytest.mark.django_db
def test_api_messages_search_by_name_and_csv_with_names(account, admin_api, other_account):
    campaign = campaign_in(account)
    (ana,) = recipients(account, 1, first_name="Ana")
    (ben,) = recipients(account, 1, first_name="=HYPERLINK(1)")
    add_messages(campaign, [ana], MessageStatus.DELIVERED, delivered_at=ago(minutes=1))
    add_messages(campaign, [ben], MessageStatus.QUEUED)
    url = f"/api/v1/campaigns/{campaign.pk}/messages/"

    rows = admin_api.get(url, {"q": "ana"}).json()["results"]
    assert [(r["contact_id"], r["status"]) for r in rows] == [(ana.pk, "delivered")]

    lines = admin_api.get(url, {"format": "csv"}).content.decode().splitlines()
    assert lines[0] == "id,contact_id,phone,status,from_number,sent_at,delivered_at,error,name"
    assert len(lines) == 3
    assert lines[1].endswith(",Ana")
    assert lines[2].endswith(",'=HYPERLINK(1)")  # a name never becomes a spreadsheet formula
    theirs = campaign_in(other_account)
    assert admin_api.get(f"/api/v1/campaigns/{theirs.pk}/messages/").status_code == 404


# --- live.campaign_changed is safe on hot paths -----------------------------------


@pytest.mark.django_db
def test_campaign_changed_never_raises_when_redis_is_down(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    campaign = campaign_in(make_account())
    live.campaign_changed(campaign.pk)  # inside the test's transaction: deferred
    live.campaign_changed(None)
    assert live.flush_dirty() == 0
    assert "Redis unavailable" in caplog.text


@pytest.mark.django_db
def test_campaign_changed_waits_for_the_callers_commit(django_capture_on_commit_callbacks):
    campaign = campaign_in(make_account())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        live.campaign_changed(campaign.pk)
    assert len(callbacks) == 1  # nothing pushed before the change is visible to readers


@pytest.mark.django_db(transaction=True)
def test_a_campaign_nobody_watches_costs_no_snapshot_reads():
    campaign = campaign_in(make_account())
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = [f"{live.THROTTLE_PREFIX}{campaign.pk}", f"{live.WATCH_PREFIX}{campaign.pk}"]
    client.delete(*keys)
    client.srem(live.DIRTY_KEY, campaign.pk)
    live.campaign_changed(campaign.pk)
    live.campaigns_changed([campaign.pk], push=False)  # the dispatcher's way: dirty only
    assert not client.exists(keys[0])  # no leading-edge read
    assert live.flush_dirty() == 0  # the flush drops it unread
    assert not client.sismember(live.DIRTY_KEY, campaign.pk)
    # A Status tab opens it: the next change is read and pushed (throttle taken).
    live.watch(campaign.pk)
    live.campaign_changed(campaign.pk)
    assert client.exists(keys[0])
    client.delete(*keys)


# --- The WebSocket ----------------------------------------------------------------


def session_headers(user, account=None) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    if account is not None:
        session = client.session
        session[SESSION_ACCOUNT_KEY] = account.slug
        session.save()
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return [
        (b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()),
        (b"origin", b"http://testserver"),
    ]


class WebsocketCommunicator(ApplicationCommunicator):
    """channels.testing.WebsocketCommunicator's connect/receive/disconnect, on asgiref's
    communicator: `import channels.testing` needs daphne (its live-server test case),
    which this project does not install."""

    def __init__(self, application, path: str, headers=None):
        scope = {"type": "websocket", "path": path, "query_string": b"", "headers": headers or []}
        super().__init__(application, scope)

    async def connect(self, timeout: float = 2) -> tuple[bool, object]:
        await self.send_input({"type": "websocket.connect"})
        response = await self.receive_output(timeout)
        if response["type"] == "websocket.close":
            return False, response.get("code", 1000)
        assert response["type"] == "websocket.accept"
        return True, response.get("subprotocol")

    async def receive_json_from(self, timeout: float = 1) -> dict:
        response = await self.receive_output(timeout)
        assert response["type"] == "websocket.send", response
        return json.loads(response["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def ws(campaign_id: int, headers) -> WebsocketCommunicator:
    from config.asgi import application

    return WebsocketCommunicator(application, f"/ws/campaigns/{campaign_id}/", headers=headers)


async def drain(communicator: WebsocketCommunicator, quiet: float = 0.6) -> list[dict]:
    """Every frame until the socket has been quiet for `quiet` seconds."""
    frames = []
    # receive_nothing polls without a timeout error (one kills the application).
    while not await communicator.receive_nothing(timeout=quiet, interval=0.02):
        frames.append(await communicator.receive_json_from())
    return frames


async def beat(communicator: WebsocketCommunicator, seconds: float) -> list[dict]:
    """Run the beat's trailing flush (texting.tasks.flush_live) every 0.25 s for
    `seconds`, collecting the frames that arrive."""
    frames = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await database_sync_to_async(tasks.flush_live)()
        frames += await drain(communicator, quiet=0.25)
    return frames


@pytest.mark.django_db(transaction=True)
def test_connect_sends_the_whole_snapshot():
    account = make_account()
    viewer = make_member(account, "viewer")
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 3), MessageStatus.DELIVERED)
    add_messages(campaign, recipients(account, 2), MessageStatus.QUEUED)

    headers = session_headers(viewer)

    async def scenario():
        communicator = ws(campaign.pk, headers)
        connected, _ = await communicator.connect()
        first = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, first

    connected, first = async_to_sync(scenario)()
    assert connected
    assert set(first) == SNAPSHOT_KEYS
    assert (first["selected"], first["delivered"], first["queued"]) == (5, 3, 2)


@pytest.mark.django_db(transaction=True)
def test_strangers_are_refused():
    account, other = make_account(), make_account()
    both = make_member(account, "manager")
    from accounts.models import Membership

    Membership.objects.create(user=both, account=other, role="admin")
    outsider = make_member(other, "admin")
    campaign = campaign_in(account)

    async def attempt(headers) -> bool:
        communicator = ws(campaign.pk, headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    anonymous = [(b"origin", b"http://testserver")]
    assert not async_to_sync(attempt)(anonymous)
    assert not async_to_sync(attempt)(session_headers(outsider))  # another tenant
    # A member of both accounts whose session is on the other account: the page's
    # account decides, as it does for pages.
    assert not async_to_sync(attempt)(session_headers(both, other))
    assert async_to_sync(attempt)(session_headers(both, account))
    assert not async_to_sync(attempt)(session_headers(both, account)[:1])  # no Origin


@pytest.mark.django_db(transaction=True)
def test_fifty_rapid_changes_push_a_few_frames_and_the_last_is_final():
    account = make_account()
    viewer = make_member(account, "viewer")
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 50), MessageStatus.SENT)
    ids = list(Message.objects.filter(campaign=campaign).values_list("id", flat=True))

    def burst():
        for message_id in ids:  # as the receipt worker would: a change, then the call
            Message.objects.filter(pk=message_id).update(status=MessageStatus.DELIVERED)
            live.campaign_changed(campaign.pk)

    headers = session_headers(viewer)

    async def scenario():
        communicator = ws(campaign.pk, headers)
        assert (await communicator.connect())[0]
        on_connect = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(burst)()
        during = await drain(communicator, quiet=0.5)
        # The trailing edge: the final numbers always arrive.
        after = await beat(communicator, seconds=2.0)
        await communicator.disconnect()
        return on_connect, during, after

    on_connect, during, after = async_to_sync(scenario)()
    assert on_connect["delivered"] == 0
    frames = during + after
    assert 1 <= len(frames) <= 5, [f["delivered"] for f in frames]  # not 50
    assert frames[-1]["delivered"] == 50 and frames[-1]["sent"] == 50


@pytest.mark.django_db(transaction=True)
def test_a_change_inside_the_throttle_window_arrives_with_the_trailing_flush():
    account = make_account()
    viewer = make_member(account, "viewer")
    campaign = campaign_in(account)
    first, second = add_messages(campaign, recipients(account, 2), MessageStatus.SENT)

    def deliver(message):
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.DELIVERED)
        live.campaign_changed(campaign.pk)

    headers = session_headers(viewer)

    async def scenario():
        communicator = ws(campaign.pk, headers)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(deliver)(first)  # leading edge: pushed at once
        leading = await communicator.receive_json_from(timeout=2)
        await database_sync_to_async(deliver)(second)  # inside the window: held
        held = await drain(communicator, quiet=0.4)
        trailing = await beat(communicator, seconds=1.5)
        again = await beat(communicator, seconds=0.6)  # nothing left to flush
        await communicator.disconnect()
        return leading, held, trailing, again

    leading, held, trailing, again = async_to_sync(scenario)()
    assert leading["delivered"] == 1
    assert held == []
    assert [f["delivered"] for f in trailing] == [2]
    assert again == []


@pytest.mark.django_db(transaction=True)
def test_a_status_transition_is_pushed():
    account = make_account()
    manager = make_member(account, "manager")
    campaign = campaign_in(account)
    add_messages(campaign, recipients(account, 2), MessageStatus.QUEUED)
    api = api_client(manager, account)

    def pause():  # services.campaign_transition reports the change itself
        assert api.post(f"/api/v1/campaigns/{campaign.pk}/pause/").status_code == 200

    headers = session_headers(manager)

    async def scenario():
        communicator = ws(campaign.pk, headers)
        assert (await communicator.connect())[0]
        await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(pause)()
        frame = await communicator.receive_json_from(timeout=2)
        await communicator.disconnect()
        return frame

    assert async_to_sync(scenario)()["status"] == "paused"
