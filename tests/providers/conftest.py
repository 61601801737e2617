"""Fixtures for provider tests. The network is the only thing faked: webhooks go to an
unresolvable host unless a test points them at `live_server`, and the Telnyx API is an
httpx.MockTransport."""

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from providers.signing import generate_key_pair
from providers.simulator.throughput import KEY_PREFIX
from providers.simulator.transport import event_body, signed_headers


@pytest.fixture(autouse=True)
def quiet_simulator(settings):
    settings.SIMULATOR_WEBHOOK_URL = "http://webhooks.invalid/webhooks/telnyx/"
    settings.SIMULATOR_LATENCY_MS = 0
    settings.SIMULATOR_RECEIPT_DELAY_MS = 0
    settings.PROVIDER = "simulator"


@pytest.fixture
def signing_keys(settings):
    """A fresh Ed25519 pair: the simulator signs with it, our endpoint verifies with it."""
    seed, public = generate_key_pair()
    settings.SIMULATOR_SIGNING_KEY = seed
    settings.TELNYX_PUBLIC_KEY = public
    return seed, public


@pytest.fixture
def celery_eager():
    """Run tasks inline. The Celery app read its settings at import, so flip its conf."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def mps_windows():
    """The simulator's per-number windows in the test Redis db; cleared before and after."""
    client = redis.Redis.from_url(django_settings.REDIS_URL)

    def clear():
        for key in client.scan_iter(f"{KEY_PREFIX}*"):
            client.delete(key)

    clear()
    yield client
    clear()


@pytest.fixture
def post_webhook(signing_keys):
    """POST an event to our endpoint the way Telnyx would (signed with the fresh key)."""

    def post(envelope=None, *, body: bytes | None = None, headers: dict | None = None):
        raw = body if body is not None else event_body(envelope)
        headers = signed_headers(raw) if headers is None else headers
        return Client().post(
            "/webhooks/telnyx/",
            data=raw,
            content_type="application/json",
            headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
        )

    return post


@pytest.fixture(autouse=True)
def no_drain_kick_pending():
    """The drain's debounce mark lives in the test Redis db; a test that kicked without
    a worker must not make the next one's kick look already queued."""
    from providers.services import DRAIN_KICK_KEY

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(DRAIN_KICK_KEY)
    yield client
    client.delete(DRAIN_KICK_KEY)


def receipts_for(provider_id: str, *, from_number: str, outcome: str = "delivered") -> list[dict]:
    """message.sent and message.finalized for a send the simulator accepted as
    `provider_id` (unsaved: only the events are built)."""
    import uuid

    from django.utils import timezone

    from providers.models import SimulatorMessage
    from providers.simulator import events

    sim = SimulatorMessage(
        id=uuid.UUID(provider_id),
        idempotency_key=str(uuid.uuid4()),
        from_number=from_number,
        to_number="+15035550100",
        text="Hi",
        parts=1,
        encoding="GSM-7",
        kind="long",
        accepted_at=timezone.now(),
        outcome=outcome,
        error_code="30003" if outcome == "delivery_failed" else "",
    )
    return [events.message_sent(sim), events.message_finalized(sim)]
