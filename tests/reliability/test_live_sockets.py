"""Live sockets over a real server (issue 14, item 3): uvicorn as the Procfile runs it,
a real WebSocket client with the browser's session cookie, the Redis channel layer.

1. A campaign's status socket held open for 30 s without a frame either way still gets
   the next push, and is still open. redis-py's 5 s socket timeout used to cut the
   channel layer's 5 s blocking read: every idle socket closed with 1006 (and a
   traceback) after ~5 s, and live updates only survived through polling.
2. The same socket on a private Redis that is killed (kill -9, all its data gone) and
   restarted: the server reconnects to the new Redis by itself and the next push
   arrives on a socket opened afterwards (the web process is not left dead).
"""

import json
import time
from contextlib import contextmanager

import pytest
from django.test import override_settings
from websockets.sync.client import ClientConnection, connect

from tests.factories import api_client, make_account, make_member, make_number
from tests.servers import uvicorn_thread
from tests.texting.test_status_live import add_messages, recipients, session_headers
from texting.models import Campaign, MessageStatus

from .conftest import RedisServer

IDLE_SECONDS = 30


def campaign_with_queue(account, manager) -> Campaign:
    sender = make_number(account, "+19715550433")
    campaign = Campaign.objects.create(
        account=account,
        created_by=manager,
        name="Idle socket",
        body="Polls close at 8",
        sender_ids=[sender.pk],
        status="sending",
    )
    add_messages(campaign, recipients(account, 2), MessageStatus.QUEUED)
    return campaign


@contextmanager
def status_socket(base_url: str, campaign: Campaign, user):
    """The Status tab's socket, opened the way the browser opens it (session cookie,
    same origin). No client pings: a browser sends none either."""
    headers = dict((k.decode(), v.decode()) for k, v in session_headers(user))
    url = base_url.replace("http://", "ws://") + f"/ws/campaigns/{campaign.pk}/"
    with connect(
        url,
        additional_headers={"cookie": headers["cookie"]},
        origin=base_url,
        ping_interval=None,
        open_timeout=10,
    ) as socket:
        first = json.loads(socket.recv(timeout=10))
        assert first["status"] == "sending"
        yield socket


def still_open_after_idle(socket: ClientConnection, seconds: float) -> None:
    """Nothing may arrive (nor the socket close) for `seconds`."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = socket.recv(timeout=left)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame while idle: {frame[:200]}")


def pause_and_receive(socket: ClientConnection, campaign: Campaign, manager) -> dict:
    """Pause the campaign through the API (its transition pushes a frame) and return
    the frame the socket gets."""
    api = api_client(manager, campaign.account)
    assert api.post(f"/api/v1/campaigns/{campaign.pk}/pause/").status_code == 200
    return json.loads(socket.recv(timeout=10))


@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_an_idle_status_socket_stays_open_and_gets_the_next_push():
    from config.asgi import application

    account = make_account()
    manager = make_member(account, "manager")
    campaign = campaign_with_queue(account, manager)
    with uvicorn_thread(application) as base, status_socket(base, campaign, manager) as socket:
        still_open_after_idle(socket, IDLE_SECONDS)
        frame = pause_and_receive(socket, campaign, manager)
        assert frame["status"] == "paused"
        socket.ping().wait(5)  # and it is still open after the push


@pytest.mark.timeout(240)
@pytest.mark.django_db(transaction=True)
def test_the_channel_layer_reconnects_after_a_redis_restart(tmp_path, settings):
    from channels.layers import channel_layers

    from config.asgi import application

    from .conftest import Processes

    procs = Processes(tmp_path)
    server = RedisServer(procs)
    server.start()
    # The project's channel layer configuration, pointed at the private server.
    layer = settings.CHANNEL_LAYERS["default"]
    host = layer["CONFIG"]["hosts"][0]
    host = {**host, "address": server.url} if isinstance(host, dict) else server.url
    layers = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
    account = make_account()
    manager = make_member(account, "manager")
    campaign = campaign_with_queue(account, manager)
    try:
        with override_settings(CHANNEL_LAYERS=layers), uvicorn_thread(application) as base:
            with status_socket(base, campaign, manager) as socket:
                server.kill9()
                time.sleep(1)
                server.start()
                time.sleep(2)
            # The browser reconnects (static/js live-socket backoff); the server serves it.
            with status_socket(base, campaign, manager) as socket:
                frame = pause_and_receive(socket, campaign, manager)
                assert frame["status"] == "paused"
    finally:
        procs.kill_all()
        channel_layers.backends.clear()
