"""The simulator's only outbound HTTP: posting a signed event to the webhook URL."""

import json
import time
from typing import Any

import httpx
from django.conf import settings

from ..signing import sign

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def event_body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def signed_headers(
    body: bytes, *, seed_b64: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Telnyx's headers for this exact body, signed with the simulator's private key."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = sign(seed_b64=seed_b64 or settings.SIMULATOR_SIGNING_KEY, timestamp=ts, body=body)
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature,
        TIMESTAMP_HEADER: ts,
        "user-agent": "telnyx-webhooks (a2p simulator)",
    }


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One client per process: building one (and its SSL context) per post costs ~100 ms."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=TIMEOUT)
    return _client


def post_signed_event(envelope: dict[str, Any], *, url: str | None = None) -> int:
    """POST one event like Telnyx does; returns the HTTP status (raises httpx.HTTPError
    when the endpoint cannot be reached)."""
    body = event_body(envelope)
    response = _http().post(
        url or settings.SIMULATOR_WEBHOOK_URL,
        content=body,
        headers=signed_headers(body),
        timeout=TIMEOUT,
    )
    return response.status_code
