"""The simulated network's receipt clock (providers.simulator.lifecycle) over real HTTP:
a send schedules its receipts in Redis, the pump posts them to our webhook."""

import time

import pytest
import redis
from django.conf import settings as django_settings

from providers.base import SendRequest
from providers.models import WebhookEvent
from providers.registry import get_provider
from providers.simulator import lifecycle
from tests.factories import make_account, make_number

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(live_server, settings, signing_keys, mps_windows):
    settings.SIMULATOR_WEBHOOK_URL = f"{live_server.url}/webhooks/telnyx/"
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(lifecycle.DUE, lifecycle.IN_FLIGHT, lifecycle.KICK, lifecycle.PUMPING)
    yield client
    client.delete(lifecycle.DUE, lifecycle.IN_FLIGHT, lifecycle.KICK, lifecycle.PUMPING)


def send(to: str, key: str) -> str:
    make_number(make_account(key), "+19715550601")
    result = get_provider().send(
        SendRequest(from_="+19715550601", to=to, text="Rally at 6pm", idempotency_key=key)
    )
    return result.provider_message_id


def test_an_accepted_send_gets_its_receipts_from_the_pump(clock):
    message_id = send("+12025550100", "life-1")  # the simulator: delivered
    assert clock.zscore(lifecycle.DUE, f"sent:{message_id}:1") is not None
    assert lifecycle.pump(seconds=10) == 2  # message.sent, then message.finalized
    events = {e.event_type for e in WebhookEvent.objects.filter(message_ref=message_id)}
    assert events == {"message.sent", "message.finalized"}
    assert clock.zcard(lifecycle.DUE) == clock.zcard(lifecycle.IN_FLIGHT) == 0


def test_receipts_a_dead_pump_had_taken_are_posted_once_their_lease_ends(clock):
    message_id = send("+12025550100", "life-2")
    member = f"sent:{message_id}:1"
    # A pump took the step and was killed before posting it: it sits in flight with a
    # deadline that has passed.
    clock.zrem(lifecycle.DUE, member)
    clock.zadd(lifecycle.IN_FLIGHT, {member: int(time.time() * 1000) - 1})
    assert lifecycle.pump(seconds=10) == 2
    assert WebhookEvent.objects.filter(message_ref=message_id).count() == 2


def test_a_failed_post_is_retried_later_not_lost(clock, settings):
    settings.SIMULATOR_WEBHOOK_URL = "http://127.0.0.1:9/webhooks/telnyx/"  # nothing listens
    message_id = send("+12025550100", "life-3")
    lifecycle.pump(seconds=2)
    retry = clock.zscore(lifecycle.DUE, f"sent:{message_id}:2")
    assert retry is not None and retry > time.time() * 1000  # attempt 2, with a backoff
    assert clock.zcard(lifecycle.IN_FLIGHT) == 0


def test_one_pump_at_a_time(clock):
    clock.set(lifecycle.PUMPING, "another pump", px=3000)
    send("+12025550100", "life-4")
    assert lifecycle.pump(seconds=2) == 0  # it leaves the work to the running one
    assert clock.zcard(lifecycle.DUE) == 1
