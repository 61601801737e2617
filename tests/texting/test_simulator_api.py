"""POST /api/v1/simulator/inbound/: admin only, the account's own numbers, simulator only."""

import pytest

from providers.models import WebhookEvent
from tests.factories import api_client, make_member, make_number

pytestmark = pytest.mark.django_db

URL = "/api/v1/simulator/inbound/"


@pytest.fixture
def our_number(account):
    return make_number(account, "+19715550401")


def test_an_admin_injects_an_inbound_sms(admin_api, our_number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        res = admin_api.post(
            URL, {"from": "(503) 555-0177", "to": "971-555-0401", "text": "Hi!"}, format="json"
        )
    assert res.status_code == 202, res.json()
    assert set(res.json()) == {"event_id"}
    assert len(callbacks) == 1  # the simulator posts the signed event after commit
    assert WebhookEvent.objects.count() == 0  # nothing stored until it arrives at the webhook


@pytest.mark.parametrize("role", ["manager", "field", "viewer"])
def test_other_roles_may_not(account, our_number, role):
    client = api_client(make_member(account, role), account)
    res = client.post(
        URL, {"from": "5035550177", "to": "+19715550401", "text": "Hi"}, format="json"
    )
    assert res.status_code == 403


def test_anonymous_is_401(client):
    assert client.post(URL, {}, content_type="application/json").status_code in (401, 403)


def test_a_number_of_another_account_is_400_naming_to(admin_api, our_number, other_account):
    make_number(other_account, "+19715550402")
    res = admin_api.post(
        URL, {"from": "5035550177", "to": "+19715550402", "text": "Hi"}, format="json"
    )
    assert res.status_code == 400
    assert set(res.json()) == {"to"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"from": "hello", "to": "+19715550401", "text": "Hi"}, "from"),
        ({"to": "+19715550401", "text": "Hi"}, "from"),
        ({"from": "5035550177", "to": "+19715550401"}, "text"),
        ({"from": "5035550177", "to": "+19715550401", "text": "   "}, "text"),
        ({"from": "5035550177", "text": "Hi"}, "to"),
    ],
)
def test_invalid_input_is_400_naming_the_field(admin_api, our_number, body, field):
    res = admin_api.post(URL, body, format="json")
    assert res.status_code == 400
    assert field in res.json()


def test_409_when_the_provider_is_not_the_simulator(admin_api, our_number, settings):
    settings.PROVIDER = "telnyx"
    res = admin_api.post(
        URL, {"from": "5035550177", "to": "+19715550401", "text": "Hi"}, format="json"
    )
    assert res.status_code == 409
    assert "simulator" in res.json()["detail"]


def test_the_endpoint_is_in_the_schema(admin_api):
    res = admin_api.get("/api/v1/schema/", {"format": "json"})
    assert res.status_code == 200
    assert "post" in res.json()["paths"]["/api/v1/simulator/inbound/"]
