import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from django.db import connection

from ..base import (
    AvailableNumber,
    MessagingProvider,
    NumberKind,
    OrderedNumber,
    Registration,
    SendRequest,
    SendResult,
    provider_error,
)
from ..models import SimulatorNumber, SimulatorRegistration
from . import services
from .behaviour import SLOW_UPLINK_SECONDS, fabricate_numbers, setting

MONTHLY_COST = {"long": Decimal("1.00"), "toll_free": Decimal("1.50"), "short": Decimal("1000.00")}


class SimulatorProvider(MessagingProvider):
    """The carrier simulator behind the provider interface (see the package docstring)."""

    name = "simulator"

    def send(self, request: SendRequest) -> SendResult:
        # The carrier counts a request against the sender's MPS when it arrives; the
        # latency is how long the answer (or the error) takes to come back. A reserved
        # recipient can make the request itself late (a stalled caller, a slow link).
        uplink = SLOW_UPLINK_SECONDS.get(request.to, 0.0)
        if uplink:
            time.sleep(uplink)
        arrival_us = time.time_ns() // 1000  # what the carrier's window counts
        latency_ms = int(setting("SIMULATOR_LATENCY_MS", 100))
        try:
            msg = services.message_accept(request=request, arrival_us=arrival_us)
        finally:
            if latency_ms > 0:
                # The carrier's database is not ours to hold while the answer travels:
                # give the connection back to the pool for the round trip.
                if not connection.in_atomic_block:
                    connection.close()
                time.sleep(latency_ms / 1000)  # the API round trip
        return SendResult(
            provider_message_id=str(msg.id),
            parts=msg.parts,
            encoding=msg.encoding,
            accepted_at=datetime.fromtimestamp(arrival_us / 1_000_000, tz=UTC),
            raw={
                "id": str(msg.id),
                "parts": msg.parts,
                "encoding": msg.encoding,
                "to": [{"phone_number": msg.to_number, "status": "queued"}],
                "from": {"phone_number": msg.from_number},
            },
        )

    def warm_up(self) -> None:
        from django.conf import settings

        from .throughput import _SLIDING_WINDOW, _client

        _client(settings.REDIS_URL).script_load(_SLIDING_WINDOW)
        SimulatorNumber.objects.filter(e164="").exists()

    def search_numbers(
        self,
        *,
        kind: NumberKind = "long",
        state: str = "",
        area_code: str = "",
        locality: str = "",
        limit: int = 10,
    ) -> list[AvailableNumber]:
        taken = set(SimulatorNumber.objects.values_list("e164", flat=True))
        found = fabricate_numbers(
            kind=kind, state=state, area_code=area_code, locality=locality, limit=limit, taken=taken
        )
        return [
            AvailableNumber(
                e164=e164, kind=kind, state=st, locality=locality, monthly_cost=MONTHLY_COST[kind]
            )
            for e164, st in found
        ]

    def order_number(self, e164: str) -> OrderedNumber:
        number = services.number_provision(e164=e164)
        return OrderedNumber(
            e164=number.e164,
            kind=number.kind,
            provider_id=f"sim-{number.pk}",
            status="active",
            mps=number.mps,
        )

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
        brand = services.registration_create(
            kind=SimulatorRegistration.Kind.BRAND,
            name=f"{display_name} {company_name}".strip(),
            data={"email": email, "ein": ein, "entity_type": entity_type, "vertical": vertical},
        )
        return self._registration(brand)

    def create_campaign_registration(
        self,
        *,
        brand_id: str,
        usecase: str,
        description: str,
        sample_messages: list[str] | None = None,
        message_flow: str = "",
    ) -> Registration:
        if not SimulatorRegistration.objects.filter(pk=brand_id, kind="brand").exists():
            raise provider_error(
                code="10005",
                http_status=404,
                title="Resource not found",
                detail=f"brand {brand_id}",
            )
        campaign = services.registration_create(
            kind=SimulatorRegistration.Kind.CAMPAIGN,
            name=usecase,
            parent_id=brand_id,
            data={
                "description": description,
                "samples": sample_messages or [],
                "message_flow": message_flow,
            },
        )
        return self._registration(campaign)

    def assign_number_to_campaign(self, *, campaign_id: str, e164: str) -> Registration:
        if not SimulatorRegistration.objects.filter(pk=campaign_id, kind="campaign").exists():
            raise provider_error(
                code="10005",
                http_status=404,
                title="Resource not found",
                detail=f"campaign {campaign_id}",
            )
        assignment = services.registration_create(
            kind=SimulatorRegistration.Kind.NUMBER,
            name=e164,
            parent_id=campaign_id,
            pk=f"number:{e164}",
        )
        return self._registration(assignment, public_id=e164)

    def registration_status(
        self, *, kind: Literal["brand", "campaign", "number"], registration_id: str
    ) -> Registration:
        pk = f"number:{registration_id}" if kind == "number" else registration_id
        registration = SimulatorRegistration.objects.filter(pk=pk, kind=kind).first()
        if registration is None:
            raise provider_error(
                code="10005",
                http_status=404,
                title="Resource not found",
                detail=f"{kind} {registration_id}",
            )
        return self._registration(registration, public_id=registration_id)

    @staticmethod
    def _registration(
        registration: SimulatorRegistration, public_id: str | None = None
    ) -> Registration:
        state, reason = services.registration_state(registration)
        return Registration(
            id=public_id or registration.pk,
            status=state,  # type: ignore[arg-type]
            reason=reason,
            raw={
                "kind": registration.kind,
                "name": registration.name,
                "parent_id": registration.parent_id,
            },
        )
