"""The whole loop over real HTTP: the simulator posts signed Telnyx events to our webhook
(a live server), which stores and applies them."""

import pytest

from contacts.models import Contact, EngagementEvent
from providers.base import SendRequest
from providers.models import WebhookEvent
from providers.registry import get_provider
from tests.factories import api_client, make_account, make_member, make_number

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhooks_to_live_server(live_server, settings, signing_keys, celery_eager):
    settings.SIMULATOR_WEBHOOK_URL = f"{live_server.url}/webhooks/telnyx/"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings.SIMULATOR_WEBHOOK_URL


def test_an_injected_inbound_sms_lands_on_the_contact(webhooks_to_live_server):
    account = make_account("e2e")
    make_number(account, "+19715550501")
    admin = api_client(make_member(account, "admin"), account)
    res = admin.post(
        "/api/v1/simulator/inbound/",
        {"from": "503.555.0188", "to": "+19715550501", "text": "What time is the rally?"},
        format="json",
    )
    assert res.status_code == 202
    event = WebhookEvent.objects.get(event_id=res.json()["event_id"])
    assert (event.event_type, event.status) == ("message.received", "processed")
    contact = Contact.objects.get(account=account, phone="+15035550188")
    (history,) = EngagementEvent.objects.filter(contact=contact, type="sms_received")
    assert history.data["text"] == "What time is the rally?"
    assert history.data["to"] == "+19715550501"


def test_a_send_produces_receipts_and_a_stop_reply(webhooks_to_live_server, mps_windows):
    account = make_account("e2e2")
    make_number(account, "+19715550502")
    result = get_provider().send(
        SendRequest(
            from_="+19715550502", to="+12025550106", text="Rally at 6pm", idempotency_key="e2e-1"
        )
    )
    stored = {e.event_type: e for e in WebhookEvent.objects.all()}
    assert set(stored) == {"message.sent", "message.finalized", "message.received"}
    assert stored["message.sent"].message_ref == result.provider_message_id
    assert stored["message.finalized"].payload["data"]["payload"]["to"][0]["status"] == "delivered"
    assert stored["message.sent"].status == stored["message.finalized"].status == "parked"
    assert stored["message.received"].status == "processed"
    contact = Contact.objects.get(account=account, phone="+12025550106")
    assert EngagementEvent.objects.get(contact=contact, type="sms_received").data["text"] == "STOP"
