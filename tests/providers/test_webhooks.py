"""POST /webhooks/telnyx/: verified like Telnyx (Ed25519, 5-minute window), stored once,
answered at once, applied by a task."""

import json
import time

import pytest
from telnyx.lib.webhook_verification import verify_webhook_signature

from contacts.models import Contact, EngagementEvent
from providers.models import WebhookEvent, WebhookStatus
from providers.simulator.transport import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    event_body,
    signed_headers,
)
from tests.factories import make_account, make_number
from tests.inbound import inbound as inbound_sms

pytestmark = pytest.mark.django_db


def inbound(to="+19715550123", from_="+15035550199", text="Hello there"):
    return inbound_sms(from_, to, text)


def test_the_sdk_verifier_accepts_what_the_simulator_signs(signing_keys):
    _, public = signing_keys
    body = event_body(inbound())
    verify_webhook_signature(body, signed_headers(body), public)  # raises when it disagrees
    verify_webhook_signature(body.decode(), signed_headers(body), public)


def test_a_signed_event_is_stored_and_answered_200(post_webhook):
    envelope = inbound()
    res = post_webhook(envelope)
    assert res.status_code == 200
    stored = WebhookEvent.objects.get()
    assert stored.event_id == envelope["data"]["id"]
    assert stored.event_type == "message.received"
    assert stored.message_ref == envelope["data"]["payload"]["id"]
    assert stored.payload == envelope
    assert stored.status == WebhookStatus.RECEIVED


def _one_byte_changed(body: bytes) -> bytes:
    i = body.index(b"Hello")
    return body[:i] + b"J" + body[i + 1 :]


def _stale(body: bytes) -> dict:
    return signed_headers(body, timestamp=int(time.time()) - 301)


def _without(header: str):
    return lambda body: {k: v for k, v in signed_headers(body).items() if k != header}


@pytest.mark.parametrize(
    "tamper_body, make_headers",
    [
        pytest.param(_one_byte_changed, signed_headers, id="one-byte-changed"),
        pytest.param(None, _without(SIGNATURE_HEADER), id="missing-signature"),
        pytest.param(None, _without(TIMESTAMP_HEADER), id="missing-timestamp"),
        pytest.param(None, lambda body: {}, id="no-headers"),
        pytest.param(None, _stale, id="stale-timestamp"),
        pytest.param(
            None, lambda body: signed_headers(body, timestamp=int(time.time()) + 360), id="future"
        ),
    ],
)
def test_bad_or_missing_signatures_are_403_and_store_nothing(
    post_webhook, tamper_body, make_headers
):
    body = event_body(inbound())
    headers = make_headers(body)  # signed over the original body
    sent = tamper_body(body) if tamper_body else body
    res = post_webhook(body=sent, headers=headers)
    assert res.status_code == 403
    assert WebhookEvent.objects.count() == 0


def test_a_signature_from_another_key_is_403(post_webhook):
    from providers.signing import generate_key_pair

    other_seed, _ = generate_key_pair()
    body = event_body(inbound())
    res = post_webhook(body=body, headers=signed_headers(body, seed_b64=other_seed))
    assert res.status_code == 403
    assert WebhookEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"data": {"event_type": "message.sent"}}).encode(),
        b'{"data": "x"}',
    ],
    ids=["malformed", "array", "missing-data-id", "data-not-object"],
)
def test_signed_but_not_an_event_is_400(post_webhook, body):
    res = post_webhook(body=body)
    assert res.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_only_post_is_allowed(client, signing_keys):
    assert client.get("/webhooks/telnyx/").status_code == 405


def test_the_same_event_twice_is_stored_and_applied_once(
    post_webhook, celery_eager, django_capture_on_commit_callbacks
):
    account = make_account()
    make_number(account, "+19715550123")
    envelope = inbound(to="+19715550123", from_="+15035550199", text="Count me in")
    with django_capture_on_commit_callbacks(execute=True):
        first = post_webhook(envelope)
    redelivery = {**envelope, "meta": {**envelope["meta"], "attempt": 2}}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = post_webhook(redelivery)
    assert (first.status_code, second.status_code) == (200, 200)
    assert callbacks == []  # nothing enqueued for the duplicate
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookStatus.PROCESSED
    assert stored.attempts == 1
    contact = Contact.objects.get(account=account, phone="+15035550199")
    received = EngagementEvent.objects.filter(contact=contact, type="sms_received")
    assert received.count() == 1
    assert received.get().data["text"] == "Count me in"
