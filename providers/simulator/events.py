"""Telnyx v2 webhook bodies (telnyx.md §2.2-2.5), built from the simulator's send log.

Event ids are derived from the message id and the stage (uuid5), so a lifecycle task that
runs twice posts the same event ids and our endpoint stores them once.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..models import SimulatorMessage
from .behaviour import ERROR_TITLES, carrier_for, segment_cost

_NAMESPACE = uuid.UUID("6f1d3c52-1f0e-4d7b-9a55-0b4f3e2a7c10")
PROFILE_ID = "00000000-5151-4000-8000-00000000a2b0"  # the simulator's one messaging profile


def stable_id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, parts))))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds") if at else None


def envelope(
    *, event_type: str, event_id: str, occurred_at: datetime, payload: dict[str, Any]
) -> dict[str, Any]:
    return {
        "data": {
            "event_type": event_type,
            "id": event_id,
            "occurred_at": _iso(occurred_at),
            "record_type": "event",
            "payload": payload,
        },
        "meta": {"attempt": 1, "delivered_to": settings.SIMULATOR_WEBHOOK_URL},
    }


def _outbound_payload(
    msg: SimulatorMessage, *, status: str, now: datetime, final: bool
) -> dict[str, Any]:
    errors = []
    if msg.error_code and final:
        title, detail = ERROR_TITLES.get(msg.error_code, ("Undeliverable", ""))
        errors.append({"code": msg.error_code, "title": title, "detail": detail})
    return {
        "id": str(msg.id),
        "record_type": "message",
        "direction": "outbound",
        "type": "MMS" if msg.media_urls else "SMS",
        "messaging_profile_id": PROFILE_ID,
        "encoding": msg.encoding,
        "parts": msg.parts,
        "text": msg.text,
        "media": [
            {"url": url, "content_type": None, "size": None, "sha256": None}
            for url in msg.media_urls
        ],
        "from": {"phone_number": msg.from_number, "carrier": "Telnyx", "line_type": "Wireless"},
        "to": [
            {
                "phone_number": msg.to_number,
                "status": status,
                "carrier": carrier_for(msg.to_number),
                "line_type": "Wireless",
            }
        ],
        "cc": [],
        "cost": {"amount": segment_cost(kind=msg.kind, parts=msg.parts), "currency": "USD"},
        "received_at": _iso(msg.accepted_at),
        "sent_at": _iso(now),
        "completed_at": _iso(now) if final else None,
        "valid_until": _iso(msg.accepted_at + timedelta(hours=4)),
        "errors": errors,
        "tags": [],
        "webhook_url": settings.SIMULATOR_WEBHOOK_URL,
        "webhook_failover_url": None,
    }


def message_sent(msg: SimulatorMessage) -> dict[str, Any]:
    now = timezone.now()
    return envelope(
        event_type="message.sent",
        event_id=stable_id(msg.id, "sent"),
        occurred_at=now,
        payload=_outbound_payload(msg, status="sent", now=now, final=False),
    )


def message_finalized(msg: SimulatorMessage) -> dict[str, Any]:
    now = timezone.now()
    return envelope(
        event_type="message.finalized",
        event_id=stable_id(msg.id, "finalized"),
        occurred_at=now,
        payload=_outbound_payload(msg, status=msg.outcome, now=now, final=True),
    )


def message_received(
    *,
    message_id: str,
    event_id: str,
    from_: str,
    to: str,
    text: str,
    parts: int,
    encoding: str,
    media: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    now = timezone.now()
    return envelope(
        event_type="message.received",
        event_id=event_id,
        occurred_at=now,
        payload={
            "id": message_id,
            "record_type": "message",
            "direction": "inbound",
            "type": "MMS" if media else "SMS",
            "messaging_profile_id": PROFILE_ID,
            "encoding": encoding,
            "parts": parts,
            "text": text,
            "from": {"phone_number": from_, "carrier": carrier_for(from_), "line_type": "Wireless"},
            "to": [
                {
                    "phone_number": to,
                    "status": "webhook_delivered",
                    "carrier": "Telnyx",
                    "line_type": "Wireless",
                }
            ],
            "cc": [],
            "media": media or [],
            "received_at": _iso(now),
            "sent_at": None,
            "completed_at": None,
            "cost": {"amount": "0.0000", "currency": "USD"},
            "autoresponse_type": None,
            "errors": [],
            "tags": [],
            "webhook_url": settings.SIMULATOR_WEBHOOK_URL,
            "webhook_failover_url": None,
        },
    )
