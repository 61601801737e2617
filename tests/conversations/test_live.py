"""The live inbox: conversations.live (coalesced pushes to `account.<id>.conversations`)
and the WebSocket consumer (`ws/conversations/`), over real PostgreSQL, Redis and the
Redis channel layer. Inbound messages come in through the real webhook path
(tests.inbound.text_in: stored and applied as the webhook worker applies them)."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from conversations import live
from conversations.models import Conversation
from tests.conftest import redis_keys_cleared
from tests.factories import make_account, make_contact, make_member, make_number
from tests.inbound import text_in
from tests.texting.test_status_live import WebsocketCommunicator, drain, session_headers

OURS = "+19715550901"
ANA = "+15035550911"


@pytest.fixture(autouse=True)
def clean_live_keys():
    yield from redis_keys_cleared("live:conv:*")


def ws(headers) -> WebsocketCommunicator:
    from config.asgi import application

    return WebsocketCommunicator(application, "/ws/conversations/", headers=headers)


async def frames_after(communicators, action, *, quiet: float = 1.5) -> list[list[dict]]:
    """Run `action` (sync, in a thread), then collect every frame each socket gets
    until it has been quiet for `quiet` seconds (the consumers' 1 s trailing flush
    included)."""
    await database_sync_to_async(action)()
    return [await drain(c, quiet=quiet) for c in communicators]


def events_of(frames: list[dict]) -> list[dict]:
    return [event for frame in frames for event in frame["events"]]


@pytest.mark.django_db(transaction=True)
def test_a_new_inbound_message_reaches_the_admin_but_not_a_field_user_without_it():
    account = make_account()
    admin = make_member(account, "admin")
    field = make_member(account, "field")
    make_number(account, OURS)
    make_contact(account, ANA)
    admin_headers, field_headers = session_headers(admin), session_headers(field)

    async def scenario():
        admin_ws, field_ws = ws(admin_headers), ws(field_headers)
        assert (await admin_ws.connect())[0]
        assert (await field_ws.connect())[0]
        got = await frames_after([admin_ws, field_ws], lambda: text_in(ANA, OURS, "Count me in"))
        await admin_ws.disconnect()
        await field_ws.disconnect()
        return got

    admin_frames, field_frames = async_to_sync(scenario)()

    conversation = Conversation.objects.get(account=account, phone=ANA)
    assert conversation.assigned_to_id is None
    assert {"id": conversation.pk, "kind": "new_message"} in events_of(admin_frames)
    assert field_frames == []  # not even the id of a thread they may not open


@pytest.mark.django_db(transaction=True)
def test_a_field_user_hears_about_the_thread_assigned_to_them():
    account = make_account()
    field = make_member(account, "field")
    other_field = make_member(account, "field")
    make_number(account, OURS)
    make_contact(account, ANA)
    text_in(ANA, OURS, "Hello?")
    conversation = Conversation.objects.get(account=account, phone=ANA)
    Conversation.objects.filter(pk=conversation.pk).update(assigned_to=field)
    mine, theirs = session_headers(field), session_headers(other_field)

    async def scenario():
        mine_ws, theirs_ws = ws(mine), ws(theirs)
        assert (await mine_ws.connect())[0]
        assert (await theirs_ws.connect())[0]
        got = await frames_after([mine_ws, theirs_ws], lambda: text_in(ANA, OURS, "Still there?"))
        await mine_ws.disconnect()
        await theirs_ws.disconnect()
        return got

    mine_frames, their_frames = async_to_sync(scenario)()

    assert {"id": conversation.pk, "kind": "new_message"} in events_of(mine_frames)
    assert their_frames == []


@pytest.mark.django_db(transaction=True)
def test_a_burst_is_coalesced_into_a_few_frames_and_nothing_is_lost():
    account = make_account()
    admin = make_member(account, "admin")
    headers = session_headers(admin)
    ids = list(range(1, 41))

    def burst():
        for conversation_id in ids:
            live.conversation_changed(
                account_id=account.pk, conversation_id=conversation_id, kind=live.Kind.STATUS
            )

    async def scenario():
        communicator = ws(headers)
        assert (await communicator.connect())[0]
        got = await frames_after([communicator], burst)
        await communicator.disconnect()
        return got[0]

    frames = async_to_sync(scenario)()

    assert 1 <= len(frames) <= 3  # a leading edge, then the trailing flush
    assert sorted(e["id"] for e in events_of(frames)) == ids


@pytest.mark.django_db(transaction=True)
def test_strangers_and_other_tenants_are_refused():
    account, other = make_account(), make_account()
    outsider = make_member(other, "admin")
    make_member(account, "admin")

    async def attempt(headers) -> bool:
        communicator = ws(headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert not async_to_sync(attempt)([(b"origin", b"http://testserver")])
    # The outsider connects to their own account's group, never to ours.
    assert async_to_sync(attempt)(session_headers(outsider))

    def change_ours():
        live.conversation_changed(account_id=account.pk, conversation_id=7, kind="new_message")

    async def listen():
        communicator = ws(session_headers_outsider)
        assert (await communicator.connect())[0]
        got = await frames_after([communicator], change_ours)
        await communicator.disconnect()
        return got[0]

    session_headers_outsider = session_headers(outsider)
    assert async_to_sync(listen)() == []


@pytest.mark.django_db
def test_changes_wait_for_the_callers_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        live.conversation_changed(account_id=1, conversation_id=2, kind="update")
    assert len(callbacks) == 1


def test_conversation_changed_never_raises_when_redis_is_down(settings, db):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    live._changed_now(1, {"id": 2, "kind": "update", "to": []})  # logged, not raised
    assert live.claim_pending(1) is None
