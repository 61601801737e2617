"""The Telnyx adapter through the real SDK, with Telnyx's HTTP API faked by MockTransport."""

import json

import httpx
import pytest

from providers.base import (
    PermanentError,
    RateLimitedError,
    RetryableError,
    SendRequest,
    error_class_for,
)
from providers.registry import get_provider, reset_providers
from providers.telnyx_adapter import TelnyxProvider


def telnyx_with(handler, **kwargs) -> tuple[TelnyxProvider, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    provider = TelnyxProvider(
        api_key="KEY_TEST",
        base_url="https://api.telnyx.test/v2",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(record)),
        **kwargs,
    )
    return provider, seen


def sent_ok(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "data": {
                "record_type": "message",
                "direction": "outbound",
                "id": "40318f2a-0c7e-4a1b-9d55-2b6f0a9c1e11",
                "type": "SMS",
                "from": {
                    "phone_number": body["from"],
                    "carrier": "TELNYX LLC",
                    "line_type": "VoIP",
                },
                "to": [{"phone_number": body["to"], "status": "queued"}],
                "text": body["text"],
                "encoding": "GSM-7",
                "parts": 2,
                "errors": [],
            }
        },
    )


def message(**overrides) -> SendRequest:
    fields = {
        "from_": "+13125550001",
        "to": "+13125550002",
        "text": "Hi",
        "idempotency_key": "msg-42",
    }
    return SendRequest(**{**fields, **overrides})


def test_send_carries_the_idempotency_key_and_from():
    provider, seen = telnyx_with(sent_ok, messaging_profile_id="prof-1")
    result = provider.send(message())
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/v2/messages"
    assert request.headers["Idempotency-Key"] == "msg-42"
    assert request.headers["Authorization"] == "Bearer KEY_TEST"
    assert json.loads(request.content) == {
        "to": "+13125550002",
        "from": "+13125550001",
        "text": "Hi",
        "messaging_profile_id": "prof-1",
    }
    assert result.provider_message_id == "40318f2a-0c7e-4a1b-9d55-2b6f0a9c1e11"
    assert (result.parts, result.encoding) == (2, "GSM-7")


def test_sdk_retries_reuse_the_same_idempotency_key():
    # One 503 (retry-after-ms keeps the SDK's backoff short), then success.
    responses = [
        httpx.Response(
            503, headers={"retry-after-ms": "1"}, json={"errors": [{"code": "10007", "title": "x"}]}
        )
    ]
    provider, seen = telnyx_with(lambda request: responses.pop() if responses else sent_ok(request))
    provider.client = provider.client.with_options(max_retries=1)
    provider.send(message())
    assert [r.headers["Idempotency-Key"] for r in seen] == ["msg-42", "msg-42"]


def error_response(status: int, code: str | None, headers: dict | None = None):
    body = {"errors": [{"code": code, "title": "t", "detail": "d"}]} if code else {}
    return lambda request: httpx.Response(status, json=body, headers=headers or {})


@pytest.mark.parametrize(
    "status, code, expected",
    [
        (400, "40300", PermanentError),  # blocked due to STOP
        (400, "40310", PermanentError),  # invalid to
        (400, "40305", PermanentError),  # invalid from
        (400, "40010", PermanentError),  # unregistered 10DLC
        (400, "40008", RetryableError),  # undeliverable: retry with backoff
        (400, "40006", RetryableError),
        (429, "10011", RateLimitedError),
        (429, None, RateLimitedError),
        (400, "40318", RateLimitedError),  # queue full
        (500, None, RetryableError),
        (503, "10007", RetryableError),
        (401, "10009", PermanentError),
        (422, None, PermanentError),
    ],
)
def test_api_errors_map_to_our_classes(status, code, expected):
    provider, _ = telnyx_with(error_response(status, code))
    with pytest.raises(expected) as raised:
        provider.send(message())
    assert type(raised.value) is expected
    assert raised.value.code == (code or "")
    assert raised.value.http_status == status


def test_rate_limited_carries_retry_after():
    provider, _ = telnyx_with(error_response(429, "10011", {"retry-after": "3"}))
    with pytest.raises(RateLimitedError) as raised:
        provider.send(message())
    assert raised.value.retry_after == 3.0


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
def test_connection_errors_and_timeouts_are_retryable(exc):
    def fail(request):
        raise exc

    provider, _ = telnyx_with(fail)
    with pytest.raises(RetryableError) as raised:
        provider.send(message())
    assert type(raised.value) is RetryableError


@pytest.mark.parametrize(
    "code, status, expected",
    [
        ("40001", 200, PermanentError),
        ("40003", None, PermanentError),
        ("40300", 400, PermanentError),
        ("40314", 400, PermanentError),
        ("40322", 400, PermanentError),
        ("40006", None, RetryableError),
        ("40008", None, RetryableError),
        ("40011", None, RateLimitedError),
        ("40018", None, RateLimitedError),
        ("10011", 429, RateLimitedError),
        ("99999", 400, PermanentError),  # unknown code: the status decides
        ("99999", 502, RetryableError),
        ("", None, RetryableError),  # nothing at all: a connection problem
        (None, 408, RetryableError),
    ],
)
def test_the_error_table(code, status, expected):
    assert error_class_for(code, status) is expected


def test_search_and_order_numbers():
    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/available_phone_numbers":
            return httpx.Response(
                200,
                json={
                    "data": [
                        {
                            "phone_number": "+13125550199",
                            "features": [{"name": "sms"}, {"name": "mms"}],
                            "cost_information": {"monthly_cost": "1.00", "currency": "USD"},
                            "region_information": [
                                {"region_type": "state", "region_name": "IL"},
                                {"region_type": "rate_center", "region_name": "CHICAGO"},
                            ],
                        }
                    ]
                },
            )
        return httpx.Response(200, json={"data": {"id": "order-1", "status": "pending"}})

    provider, seen = telnyx_with(api, messaging_profile_id="prof-1")
    (number,) = provider.search_numbers(kind="long", state="IL", area_code="312")
    assert (number.e164, number.kind, number.state, number.locality) == (
        "+13125550199",
        "long",
        "IL",
        "CHICAGO",
    )
    query = seen[0].url.params
    assert query["filter[national_destination_code]"] == "312"
    assert query["filter[phone_number_type]"] == "local"
    assert query["filter[administrative_area]"] == "IL"
    ordered = provider.order_number("+13125550199")
    assert (ordered.provider_id, ordered.status) == ("order-1", "pending")
    assert json.loads(seen[1].content) == {
        "phone_numbers": [{"phone_number": "+13125550199"}],
        "messaging_profile_id": "prof-1",
    }


def test_10dlc_calls_and_status_mapping():
    def api(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/10dlc/brand":
            return httpx.Response(
                200,
                json={
                    "brandId": "B1",
                    "country": "US",
                    "displayName": "X",
                    "email": "a@b.c",
                    "entityType": "NON_PROFIT",
                    "vertical": "POLITICAL",
                    "status": "REGISTRATION_FAILED",
                    "failureReasons": "EIN mismatch",
                },
            )
        if path == "/v2/10dlc/campaignBuilder":
            return httpx.Response(
                200,
                json={
                    "brandId": "B1",
                    "campaignId": "C1",
                    "usecase": "POLITICAL",
                    "campaignStatus": "TCR_PENDING",
                },
            )
        return httpx.Response(
            200,
            json={
                "campaignId": "C1",
                "phoneNumber": "+13125550199",
                "createdAt": "2026-01-01T00:00:00Z",
                "updatedAt": "2026-01-01T00:00:00Z",
                "assignmentStatus": "ASSIGNED",
            },
        )

    provider, seen = telnyx_with(api)
    brand = provider.create_brand(display_name="X", email="a@b.c", ein="12-3456789")
    assert (brand.id, brand.status, brand.reason) == ("B1", "rejected", "EIN mismatch")
    assert json.loads(seen[0].content)["displayName"] == "X"
    campaign = provider.create_campaign_registration(
        brand_id="B1", usecase="POLITICAL", description="GOTV", sample_messages=["Vote!"]
    )
    assert (campaign.id, campaign.status) == ("C1", "pending")
    assert json.loads(seen[1].content)["sample1"] == "Vote!"
    assigned = provider.assign_number_to_campaign(campaign_id="C1", e164="+13125550199")
    assert (assigned.id, assigned.status) == ("+13125550199", "approved")
    assert json.loads(seen[2].content) == {"campaignId": "C1", "phoneNumber": "+13125550199"}


def test_the_registry_builds_the_configured_provider(settings):
    settings.TELNYX_API_KEY = "KEY_TEST"
    reset_providers()
    try:
        assert isinstance(get_provider("telnyx"), TelnyxProvider)
        settings.PROVIDER = "telnyx"
        assert get_provider() is get_provider("telnyx")
        with pytest.raises(LookupError):
            get_provider("twilio")
    finally:
        reset_providers()
