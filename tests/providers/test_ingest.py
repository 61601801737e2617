"""The ASGI fast path for POST /webhooks/telnyx/ (providers.ingest), over real HTTP: the
production ASGI application (config.asgi) under uvicorn, answering exactly as the Django
view does, and storing each event once however many times it is redelivered at once."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.test import Client

from providers.models import WebhookEvent, WebhookStatus
from providers.simulator import events
from providers.simulator.transport import SIGNATURE_HEADER, event_body, signed_headers
from tests.servers import uvicorn_thread

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/webhooks/telnyx/"


@pytest.fixture(scope="module")
def asgi_url():
    """config.asgi.application under uvicorn in a thread, as the Procfile runs it."""
    from config.asgi import application

    with uvicorn_thread(application) as url:
        yield url


def inbound(event_id: str | None = None) -> dict:
    return events.message_received(
        message_id=str(uuid.uuid4()),
        event_id=event_id or str(uuid.uuid4()),
        from_="+15035550199",
        to="+19715550123",
        text="Hello there",
        parts=1,
        encoding="GSM-7",
    )


def _signed(body: bytes) -> tuple[bytes, dict]:
    return body, signed_headers(body)


def _tampered(body: bytes) -> tuple[bytes, dict]:
    i = body.index(b"Hello")
    return body[:i] + b"J" + body[i + 1 :], signed_headers(body)


def _unsigned(body: bytes) -> tuple[bytes, dict]:
    return body, {k: v for k, v in signed_headers(body).items() if k != SIGNATURE_HEADER}


def _stale(body: bytes) -> tuple[bytes, dict]:
    return body, signed_headers(body, timestamp=int(time.time()) - 301)


def _not_an_event(_body: bytes) -> tuple[bytes, dict]:
    return _signed(json.dumps({"data": {"event_type": "message.sent"}}).encode())


def _malformed(_body: bytes) -> tuple[bytes, dict]:
    return _signed(b"{not json")


def _id_too_long(_body: bytes) -> tuple[bytes, dict]:
    return _signed(event_body(inbound(event_id="x" * 101)))


@pytest.mark.parametrize(
    "make, expected",
    [
        pytest.param(_signed, 200, id="signed-event"),
        pytest.param(_tampered, 403, id="one-byte-changed"),
        pytest.param(_unsigned, 403, id="missing-signature"),
        pytest.param(_stale, 403, id="stale-timestamp"),
        pytest.param(_not_an_event, 400, id="signed-not-an-event"),
        pytest.param(_malformed, 400, id="signed-malformed"),
        pytest.param(_id_too_long, 400, id="signed-id-too-long"),
    ],
)
def test_the_fast_path_answers_as_the_view_does(asgi_url, signing_keys, make, expected):
    body, headers = make(event_body(inbound()))
    fast = httpx.post(f"{asgi_url}{PATH}", content=body, headers=headers)
    stored_by_fast_path = WebhookEvent.objects.count()
    view = Client().post(PATH, data=body, content_type="application/json", headers=headers)
    assert (fast.status_code, view.status_code) == (expected, expected)
    assert fast.text == view.content.decode()
    assert stored_by_fast_path == (1 if expected == 200 else 0)  # before its answer
    assert WebhookEvent.objects.count() == stored_by_fast_path  # the view: a duplicate


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD"])
def test_only_post_is_allowed(asgi_url, signing_keys, method):
    fast = httpx.request(method, f"{asgi_url}{PATH}")
    view = Client().generic(method, PATH)
    assert (fast.status_code, view.status_code) == (405, 405)
    assert fast.headers["allow"] == view.headers["Allow"] == "POST"


def test_a_host_django_would_refuse_is_refused(asgi_url, signing_keys):
    body, headers = _signed(event_body(inbound()))
    fast = httpx.post(f"{asgi_url}{PATH}", content=body, headers={**headers, "host": "evil.test"})
    view = Client(HTTP_HOST="evil.test").post(
        PATH, data=body, content_type="application/json", headers=headers
    )
    assert (fast.status_code, view.status_code) == (400, 400)
    assert WebhookEvent.objects.count() == 0


def test_a_body_over_the_upload_limit_is_refused(asgi_url, signing_keys, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    body, headers = _signed(event_body(inbound()))
    assert len(body) > 200
    res = httpx.post(f"{asgi_url}{PATH}", content=body, headers=headers)
    assert res.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_the_fast_path_serves_the_views_url():
    from django.urls import reverse

    from providers.ingest import WEBHOOK_PATH

    assert reverse("webhook-telnyx") == WEBHOOK_PATH == PATH


def test_other_paths_still_reach_django(asgi_url):
    assert httpx.get(f"{asgi_url}/login/").status_code == 200
    assert httpx.get(f"{asgi_url}/webhooks/telnyx").status_code != 200  # no slash: Django's


def test_concurrent_redeliveries_are_stored_once(asgi_url, signing_keys):
    """Telnyx retries and sends duplicates at the same time: 10 events, each delivered 8
    times by 40 concurrent connections, are 80 answers 200 and 10 rows, all waiting for
    the worker."""
    bodies = [event_body(inbound()) for _ in range(10)]
    posts = [_signed(body) for body in bodies for _ in range(8)]

    def post(request: tuple[bytes, dict]) -> int:
        body, headers = request
        return httpx.post(f"{asgi_url}{PATH}", content=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(post, posts))
    assert statuses == [200] * len(posts)
    stored = WebhookEvent.objects.all()
    assert sorted(e.event_id for e in stored) == sorted(
        json.loads(body)["data"]["id"] for body in bodies
    )
    assert {e.status for e in stored} == {WebhookStatus.RECEIVED}


def test_values_the_database_cannot_hold_are_stored_replaced_in_the_same_batch(
    asgi_url, signing_keys
):
    """PostgreSQL's jsonb refuses a NUL character, a lone surrogate and NaN. Such an
    event was answered 500 at every retry until Telnyx gave up (the inbound was lost);
    now the value is replaced, the event stored with the others of its batch and
    answered 200."""
    poison = inbound()
    poison["data"]["payload"]["text"] = "nul \x00 here \ud800"
    poison["data"]["payload"]["cost"] = {"amount": float("nan"), "currency": "USD"}
    good = [inbound() for _ in range(6)]
    requests = [_signed(json.dumps(e).encode()) for e in [*good[:3], poison, *good[3:]]]

    def post(request: tuple[bytes, dict]) -> int:
        body, headers = request
        return httpx.post(f"{asgi_url}{PATH}", content=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        statuses = list(pool.map(post, requests))
    assert statuses == [200] * 7
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {
        e["data"]["id"] for e in [*good, poison]
    }
    stored = WebhookEvent.objects.get(event_id=poison["data"]["id"]).payload
    assert stored["data"]["payload"]["text"] == "nul \ufffd here \ufffd"
    assert stored["data"]["payload"]["cost"]["amount"] is None
