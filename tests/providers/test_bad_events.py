"""Signed events with content we cannot use as sent (issue 14, items 10 and 12): stored,
answered 200 and applied (or parked with the reason), never refused at every retry
until Telnyx gives up, never retried forever; inbound media links that are not http(s)
never reach a page as a link.

Telnyx retries a non-2xx answer at most 3 times per URL (6 with the failover URL) and
then drops the event (shared/reference/telnyx.md 2.6): a 4xx or 5xx to a signed inbound
loses it. So what PostgreSQL cannot hold is replaced and stored, and what the handler
cannot apply is parked with its reason.
"""

import json
import uuid

import pytest
from django.test import Client

from conversations.models import Conversation
from providers import hooks
from providers.models import WebhookEvent, WebhookStatus
from providers.services import events_due_for_retry, webhook_event_process, webhook_events_drain
from providers.simulator import events
from providers.simulator.transport import signed_headers
from tests.factories import make_account, make_member, make_number
from texting.models import Direction, Message

pytestmark = pytest.mark.django_db

OURS, ANA = "+19715550881", "+15035550881"


@pytest.fixture
def ours():
    account = make_account("badevents")
    make_number(account, OURS, mps=50)
    return account


def received(text: str = "Hello", **payload) -> dict:
    envelope = events.message_received(
        message_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        from_=ANA,
        to=OURS,
        text=text,
        parts=1,
        encoding="GSM-7",
    )
    envelope["data"]["payload"].update(payload)
    return envelope


def post(raw: bytes):
    headers = signed_headers(raw)
    return Client().post(
        "/webhooks/telnyx/",
        data=raw,
        content_type="application/json",
        headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
    )


def inbound_messages():
    return Message.objects.filter(direction=Direction.INBOUND, from_number=ANA)


def test_an_inbound_with_nul_surrogate_or_nan_is_stored_and_reaches_the_inbox(ours, signing_keys):
    envelope = received("Where do I vote?\x00 \ud800", cost={"amount": float("nan")})
    raw = json.dumps(envelope).encode()  # NaN and "\ud800" as a JSON writer spells them
    assert b"NaN" in raw and b"\\u0000" in raw and b"\\ud800" in raw

    assert post(raw).status_code == 200
    assert post(raw).status_code == 200  # a redelivery: stored once
    (event,) = WebhookEvent.objects.all()
    assert len(event.payload["x_a2p_cleaned"]) == 2  # what was replaced is on record
    webhook_events_drain()
    event.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED
    (message,) = inbound_messages()
    assert message.body == "Where do I vote?\ufffd \ufffd"
    assert Conversation.objects.filter(account=ours, contact__phone=ANA).exists()


@pytest.mark.parametrize("parts", [40_000, 10**30, "many", -3, [2]])
def test_an_oversized_or_nonsense_parts_value_does_not_stop_the_inbound(ours, signing_keys, parts):
    assert post(json.dumps(received("Hi", parts=parts)).encode()).status_code == 200
    webhook_events_drain()
    event = WebhookEvent.objects.get()
    assert (event.status, event.last_error) == (WebhookStatus.PROCESSED, "")
    assert inbound_messages().get().segments == 1


def test_a_receipt_with_an_absurd_cost_or_time_is_stored_and_applied(ours, signing_keys):
    envelope = received("Hi", cost={"amount": "1e400", "currency": "USD"})
    envelope["data"]["occurred_at"] = "2026-13-45T99:00:00Z"  # well-formed, impossible
    assert post(json.dumps(envelope).encode()).status_code == 200
    webhook_events_drain()
    assert WebhookEvent.objects.get().status == WebhookStatus.PROCESSED
    assert inbound_messages().count() == 1


def test_a_body_nested_beyond_any_event_is_refused_not_a_server_error(signing_keys):
    deep = ('{"data":' * 5000 + "1" + "}" * 5000).encode()
    assert post(deep).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.fixture
def swap_handler():
    original = hooks.event_handler()
    yield hooks.register_event_handler
    hooks.register_event_handler(original)


def test_an_event_whose_content_fails_the_handler_is_parked_with_the_reason(
    ours, signing_keys, swap_handler
):
    """A handler failing on the event's own data (here an out-of-range value) parks it
    with the reason, retried with growing delays for 24 h, not every few seconds
    forever; a passing failure (a connection) is still retried as before."""

    def out_of_range(event):
        raise OverflowError("int too large to convert")

    swap_handler(out_of_range)
    assert post(json.dumps(received("Hi")).encode()).status_code == 200
    webhook_events_drain()
    event = WebhookEvent.objects.get()
    assert event.status == WebhookStatus.PARKED
    assert "OverflowError: int too large to convert" in event.last_error
    first_wait = event.next_attempt_at

    # The sweep's retry re-parks it, later each time; it stays on record.
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=event.received_at)
    assert event.pk in events_due_for_retry()
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.PARKED
    event.refresh_from_db()
    assert event.next_attempt_at - event.received_at > first_wait - event.received_at
    # Past 24 h the sweep leaves it parked, for a person to look at.
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=event.received_at.replace(year=event.received_at.year - 1),
        next_attempt_at=event.received_at,
    )
    assert event.pk not in events_due_for_retry()


def test_inbound_media_links_are_http_only_on_the_thread_page(ours, signing_keys):
    media = [
        {"url": "javascript:alert(document.cookie)", "content_type": "image/png"},
        {"url": "JaVaScRiPt:alert(2)", "content_type": "application/pdf"},
        {
            "url": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "content_type": "text/html",
        },
        {"url": " vbscript:msgbox", "content_type": "image/gif"},
        {"url": "https://media.example.org/photo.jpg", "content_type": "image/jpeg"},
        {"url": "http://media.example.org/flyer.pdf", "content_type": "application/pdf"},
    ]
    assert post(json.dumps(received("See attached", media=media)).encode()).status_code == 200
    webhook_events_drain()
    conversation = Conversation.objects.get(account=ours, contact__phone=ANA)

    client = Client()
    client.force_login(make_member(ours, "admin", "badevents-admin"))
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    lowered = page.lower()
    assert "javascript:" not in lowered
    assert "data:text/html" not in lowered
    assert "vbscript:" not in lowered
    assert 'src="https://media.example.org/photo.jpg"' in page
    assert 'href="http://media.example.org/flyer.pdf"' in page
    # The API shows the same two attachments.
    stored = inbound_messages().get().media
    assert [m["url"] for m in stored] == [
        "https://media.example.org/photo.jpg",
        "http://media.example.org/flyer.pdf",
    ]

    # Rows stored before this check are rendered safely too.
    inbound_messages().update(media=media)
    page = client.get(f"/conversations/{conversation.pk}/").content.decode().lower()
    assert "javascript:" not in page and "data:text/html" not in page and "vbscript:" not in page
    assert 'src="https://media.example.org/photo.jpg"' in page
