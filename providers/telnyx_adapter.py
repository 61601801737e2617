"""Telnyx through the official SDK (`telnyx` 4.189.0).

One SDK client per adapter, and `providers.registry` keeps one adapter per process. Every
send carries an `Idempotency-Key` (our outbound message's id): the SDK retries POSTs on
timeouts and 5xx, and without the key a retry after Telnyx accepted the message would
text the recipient twice (telnyx.md §1.6).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import httpx
import telnyx
from django.conf import settings

from .base import (
    AvailableNumber,
    MessagingProvider,
    NumberKind,
    OrderedNumber,
    ProviderError,
    Registration,
    RegistrationState,
    SendRequest,
    SendResult,
    infer_kind,
    provider_error,
)

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

_SEARCH_TYPES: dict[str, str] = {"long": "local", "toll_free": "toll_free"}

_BRAND_STATES: dict[str, RegistrationState] = {
    "OK": "approved",
    "REGISTRATION_PENDING": "pending",
    "REGISTRATION_FAILED": "rejected",
}
_CAMPAIGN_APPROVED = frozenset({"MNO_PROVISIONED"})
_CAMPAIGN_REJECTED = frozenset(
    {
        "TCR_FAILED",
        "TCR_SUSPENDED",
        "TCR_EXPIRED",
        "TELNYX_FAILED",
        "MNO_REJECTED",
        "MNO_PROVISIONING_FAILED",
    }
)
_ASSIGNMENT_STATES: dict[str, RegistrationState] = {
    "ASSIGNED": "approved",
    "FAILED_ASSIGNMENT": "rejected",
    "PENDING_ASSIGNMENT": "pending",
}


def _retry_after(response: httpx.Response | None) -> float | None:
    if response is None:
        return None
    for header, scale in (
        ("retry-after-ms", 0.001),
        ("retry-after", 1.0),
        ("x-ratelimit-reset", 1.0),
    ):
        value = response.headers.get(header)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


def translate_sdk_error(exc: telnyx.APIError) -> ProviderError:
    """An SDK exception as our error classes (the code table lives in providers.base)."""
    if isinstance(exc, telnyx.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        errors = body.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        return provider_error(
            code=str(first.get("code") or ""),
            http_status=exc.status_code,
            title=str(first.get("title") or ""),
            detail=str(first.get("detail") or exc.message),
            retry_after=_retry_after(exc.response),
        )
    # APIConnectionError / APITimeoutError (after the SDK's own retries): transient.
    title = "Timeout" if isinstance(exc, telnyx.APITimeoutError) else "Connection error"
    return provider_error(code=None, http_status=None, title=title, detail=str(exc))


@contextmanager
def _sdk_errors() -> Iterator[None]:
    try:
        yield
    except telnyx.APIError as exc:
        raise translate_sdk_error(exc) from exc


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


class TelnyxProvider(MessagingProvider):
    name = "telnyx"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        messaging_profile_id: str | None = None,
        max_retries: int = 2,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.messaging_profile_id = (
            messaging_profile_id or settings.TELNYX_MESSAGING_PROFILE_ID or None
        )
        self.client = telnyx.Telnyx(
            api_key=api_key or settings.TELNYX_API_KEY,
            base_url=base_url or settings.TELNYX_BASE_URL or None,
            max_retries=max_retries,
            timeout=timeout,
            http_client=http_client,
        )

    # --- messages ---
    def send(self, request: SendRequest) -> SendResult:
        kwargs: dict[str, Any] = {
            "to": request.to,
            "from_": request.from_,
            "text": request.text,
            "idempotency_key": request.idempotency_key,
        }
        if request.media_urls:
            kwargs["media_urls"] = list(request.media_urls)
        profile = request.messaging_profile_id or self.messaging_profile_id
        if profile:
            kwargs["messaging_profile_id"] = profile
        with _sdk_errors():
            response = self.client.messages.send(**kwargs)
        data = response.data
        raw = response.to_dict()
        if data is None or not data.id:
            raise provider_error(
                code="10007", http_status=200, title="Unexpected error", detail="no message id"
            )
        return SendResult(
            provider_message_id=data.id,
            parts=data.parts or 1,
            encoding=data.encoding or "",
            raw=raw,
            accepted_at=data.received_at,
        )

    # --- numbers ---
    def search_numbers(
        self,
        *,
        kind: NumberKind = "long",
        state: str = "",
        area_code: str = "",
        locality: str = "",
        limit: int = 10,
    ) -> list[AvailableNumber]:
        if kind not in _SEARCH_TYPES:
            return []  # short codes are provisioned through carrier certification, not search
        filters: dict[str, Any] = {
            "country_code": "US",
            "phone_number_type": _SEARCH_TYPES[kind],
            "features": ["sms", "mms"],
            "limit": limit,
        }
        if state:
            filters["administrative_area"] = state
        if area_code:
            filters["national_destination_code"] = area_code
        if locality:
            filters["locality"] = locality
        with _sdk_errors():
            response = self.client.available_phone_numbers.list(filter=filters)
        found = []
        for item in response.data or []:
            if not item.phone_number:
                continue
            regions = {r.region_type: r.region_name for r in item.region_information or []}
            cost = item.cost_information.monthly_cost if item.cost_information else None
            found.append(
                AvailableNumber(
                    e164=item.phone_number,
                    kind=infer_kind(item.phone_number),
                    state=regions.get("state") or "",
                    locality=regions.get("rate_center") or regions.get("location") or "",
                    features=tuple(f.name for f in item.features or [] if f.name),
                    monthly_cost=_decimal(cost),
                )
            )
        return found

    def order_number(self, e164: str) -> OrderedNumber:
        kwargs: dict[str, Any] = {"phone_numbers": [{"phone_number": e164}]}
        if self.messaging_profile_id:
            kwargs["messaging_profile_id"] = self.messaging_profile_id
        with _sdk_errors():
            response = self.client.number_orders.create(**kwargs)
        order = response.data
        status = order.status if order and order.status else "pending"
        return OrderedNumber(
            e164=e164,
            kind=infer_kind(e164),
            provider_id=(order.id if order else "") or "",
            status="active" if status == "success" else status,
        )

    # --- 10DLC ---
    def create_brand(
        self,
        *,
        display_name: str,
        email: str,
        company_name: str = "",
        ein: str = "",
        entity_type: str = "NON_PROFIT",
        vertical: str = "POLITICAL",
        website: str = "",
        country: str = "US",
    ) -> Registration:
        optional = {"company_name": company_name, "ein": ein, "website": website}
        with _sdk_errors():
            brand = self.client.messaging_10dlc.brand.create(
                country=country,
                display_name=display_name,
                email=email,
                entity_type=entity_type,  # type: ignore[arg-type]
                vertical=vertical,  # type: ignore[arg-type]
                **{k: v for k, v in optional.items() if v},
            )
        return self._brand_registration(brand)

    def create_campaign_registration(
        self,
        *,
        brand_id: str,
        usecase: str,
        description: str,
        sample_messages: list[str] | None = None,
        message_flow: str = "",
    ) -> Registration:
        samples = {
            f"sample{i}": text for i, text in enumerate((sample_messages or [])[:5], start=1)
        }
        if message_flow:
            samples["message_flow"] = message_flow
        with _sdk_errors():
            campaign = self.client.messaging_10dlc.campaign_builder.submit(
                brand_id=brand_id, usecase=usecase, description=description, **samples
            )
        return self._campaign_registration(campaign)

    def assign_number_to_campaign(self, *, campaign_id: str, e164: str) -> Registration:
        with _sdk_errors():
            assignment = self.client.messaging_10dlc.phone_number_campaigns.create(
                campaign_id=campaign_id, phone_number=e164
            )
        return self._assignment_registration(assignment)

    def registration_status(
        self, *, kind: Literal["brand", "campaign", "number"], registration_id: str
    ) -> Registration:
        with _sdk_errors():
            if kind == "brand":
                return self._brand_registration(
                    self.client.messaging_10dlc.brand.retrieve(registration_id)
                )
            if kind == "campaign":
                return self._campaign_registration(
                    self.client.messaging_10dlc.campaign.retrieve(registration_id)
                )
            return self._assignment_registration(
                self.client.messaging_10dlc.phone_number_campaigns.retrieve(registration_id)
            )

    @staticmethod
    def _brand_registration(brand: Any) -> Registration:
        state = _BRAND_STATES.get(getattr(brand, "status", None) or "", "pending")
        return Registration(
            id=getattr(brand, "brand_id", "") or "",
            status=state,
            reason=(getattr(brand, "failure_reasons", "") or "") if state == "rejected" else "",
            raw=brand.to_dict(),
        )

    @staticmethod
    def _campaign_registration(campaign: Any) -> Registration:
        status = getattr(campaign, "campaign_status", None) or ""
        state: RegistrationState = "pending"
        if status in _CAMPAIGN_APPROVED:
            state = "approved"
        elif (
            status in _CAMPAIGN_REJECTED or getattr(campaign, "submission_status", None) == "FAILED"
        ):
            state = "rejected"
        return Registration(
            id=getattr(campaign, "campaign_id", "") or "",
            status=state,
            reason=(getattr(campaign, "failure_reasons", "") or status)
            if state == "rejected"
            else "",
            raw=campaign.to_dict(),
        )

    @staticmethod
    def _assignment_registration(assignment: Any) -> Registration:
        state = _ASSIGNMENT_STATES.get(
            getattr(assignment, "assignment_status", None) or "", "pending"
        )
        return Registration(
            id=getattr(assignment, "phone_number", "") or "",
            status=state,
            reason=(getattr(assignment, "failure_reasons", "") or "")
            if state == "rejected"
            else "",
            raw=assignment.to_dict(),
        )
