"""The provider interface: what the rest of the app may ask of a messaging provider.

Two implementations: `providers.telnyx_adapter.TelnyxProvider` (the real network, through
the official SDK) and `providers.simulator.adapter.SimulatorProvider` (the default). Pick
one with `providers.registry.get_provider()`.

Both speak Telnyx's event format, so parsing a webhook (`parse_telnyx_event`) is shared.
Errors come back as one small hierarchy, classified in one table (`error_class_for`), so
callers decide "retry / slow down / give up" without knowing the provider.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

from django.utils.dateparse import parse_datetime

from contacts.phones import try_normalize_phone

NumberKind = Literal["long", "toll_free", "short"]
RegistrationState = Literal["pending", "approved", "rejected"]


# --- Values ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SendRequest:
    from_: str
    to: str
    text: str
    # Ours (the outbound message's UUID): the provider replays the original answer for it.
    idempotency_key: str
    media_urls: list[str] = field(default_factory=list)
    messaging_profile_id: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    parts: int
    encoding: str
    raw: dict[str, Any] = field(default_factory=dict)
    # When the provider counted the request against the sender's MPS (its arrival), if
    # the answer says so. The dispatcher's window log keeps the carrier's time, not ours.
    accepted_at: datetime | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """One Telnyx-format messaging event, flattened (telnyx.md §2.2-2.5)."""

    event_id: str
    event_type: str
    occurred_at: datetime | None
    message_id: str  # data.payload.id: the provider's message id
    direction: str
    status: str  # to[0].status
    from_number: str
    to_number: str
    text: str
    parts: int
    cost: Decimal | None
    errors: list[dict[str, str]]
    media: list[dict[str, Any]]


@dataclass(frozen=True)
class AvailableNumber:
    e164: str
    kind: NumberKind
    state: str = ""
    locality: str = ""
    features: tuple[str, ...] = ("sms", "mms")
    monthly_cost: Decimal | None = None


@dataclass(frozen=True)
class OrderedNumber:
    e164: str
    kind: NumberKind
    provider_id: str
    status: str  # pending | active
    mps: Decimal | None = None


@dataclass(frozen=True)
class Registration:
    """A 10DLC brand, campaign or number assignment as the provider sees it."""

    id: str
    status: RegistrationState
    reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


TOLL_FREE_PREFIXES = ("800", "833", "844", "855", "866", "877", "888")


def infer_kind(number: str) -> NumberKind:
    """Short code (up to 6 digits), NANP toll-free, or a long code."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) <= 6:
        return "short"
    if len(digits) == 11 and digits.startswith("1") and digits[1:4] in TOLL_FREE_PREFIXES:
        return "toll_free"
    return "long"


# --- Errors ---------------------------------------------------------------------------
class ProviderError(Exception):
    """A provider said no (or could not be reached). `code` is Telnyx's string code."""

    def __init__(
        self, code: str = "", title: str = "", detail: str = "", http_status: int | None = None
    ):
        self.code = code
        self.title = title
        self.detail = detail
        self.http_status = http_status
        super().__init__(f"{code} {title}: {detail}".strip(" :"))


class RetryableError(ProviderError):
    """Transient: try the same request again later, with backoff."""


class RateLimitedError(RetryableError):
    """Too fast for this sender or account: slow the sender down, then retry."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """Retrying the same request cannot succeed (bad number, opted out, unregistered...)."""


# Telnyx codes (telnyx.md §5). Docs guidance: "retry automatically with backoff: 40006,
# 40008"; "wait": 40020, 40320; the rate family slows the sender (the dispatcher's bucket).
# "Fix the cause, then retry" codes that are about content or spam (40002, 40017) are
# permanent for *this* message: an automatic retry would be blocked again.
_RATE_LIMITED_CODES = frozenset(
    {
        "10011",  # too many requests (HTTP 429)
        "40011",  # too many requests upstream
        "40016",  # T-Mobile 10DLC daily cap (resets at midnight PST)
        "40018",  # AT&T 10DLC per-minute limit
        "40318",  # message queue full
    }
)
_RETRYABLE_CODES = frozenset(
    {
        "10007",  # unexpected error
        "40005",  # expired during transmission
        "40006",  # recipient server unavailable
        "40008",  # undeliverable (generic carrier reject): docs say retry with backoff
        "40014",  # expired in Telnyx's queue
        "40020",  # 2FA traffic blocked for 24 h: wait
        "40320",  # `from` temporarily unusable (purchase pending): wait
    }
)
_PERMANENT_CODES = frozenset(
    {
        # request / account
        *("10001", "10002", "10003", "10004", "10005", "10006", "10009", "10010", "10015", "10016"),
        *("20002", "20006", "20012", "20013", "20014", "20015", "20016", "20017", "20100"),
        # delivery / carrier
        *("40001", "40002", "40003", "40004", "40009", "40010", "40012", "40013", "40015"),
        *("40017", "40019"),
        # provisioning
        *("40100", "40150", "40151", "40155"),
        # rejected at the API
        *("40300", "40301", "40302", "40304", "40305", "40306", "40307", "40308", "40309"),
        *("40310", "40311", "40312", "40313", "40314", "40315", "40316", "40317", "40319"),
        *("40321", "40322", "40323", "40325", "40328", "40329", "40330", "40331", "40333"),
    }
)

# The codes that say this recipient refuses messages (shared/reference/telnyx.md): 40300,
# "Blocked due to STOP message", an opt-out block rule at the carrier / profile for this
# recipient, answered at the API. The spam codes (40002/40003 "blocked as spam", 40015,
# 40017) are not among them: they judge the sending number or the content, not the
# recipient, and listing every recipient a blocked number tried would be wrong.
RECIPIENT_REFUSED_CODES = frozenset({"40300"})


def error_class_for(code: str | None, http_status: int | None = None) -> type[ProviderError]:
    """Which kind of failure this is. The Telnyx code wins; the HTTP status decides codes
    we do not know; no code and no status (a connection error or timeout) is retryable."""
    code = (code or "").strip()
    if code in _RATE_LIMITED_CODES:
        return RateLimitedError
    if code in _RETRYABLE_CODES:
        return RetryableError
    if code in _PERMANENT_CODES:
        return PermanentError
    if http_status is None:
        return RetryableError
    if http_status == 429:
        return RateLimitedError
    if http_status >= 500 or http_status in (408, 409):
        return RetryableError
    return PermanentError


def provider_error(
    *,
    code: str | None,
    http_status: int | None = None,
    title: str = "",
    detail: str = "",
    retry_after: float | None = None,
) -> ProviderError:
    cls = error_class_for(code, http_status)
    kwargs: dict[str, Any] = {
        "code": code or "",
        "title": title,
        "detail": detail,
        "http_status": http_status,
    }
    if cls is RateLimitedError:
        kwargs["retry_after"] = retry_after
    return cls(**kwargs)


# --- The interface ----------------------------------------------------------------------
class MessagingProvider(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def send(self, request: SendRequest) -> SendResult:
        """Hand one message to the network. Raises a ProviderError subclass."""

    def warm_up(self) -> None:  # noqa: B027 (optional hook: most adapters need nothing)
        """Open what the first send would otherwise open on the clock (connections,
        scripts), so a sender's first message reaches the network when it was booked.
        Called once per drain loop before it sends."""

    def parse_webhook(self, payload: dict[str, Any]) -> WebhookEvent:
        return parse_telnyx_event(payload)

    @abc.abstractmethod
    def search_numbers(
        self,
        *,
        kind: NumberKind = "long",
        state: str = "",
        area_code: str = "",
        locality: str = "",
        limit: int = 10,
    ) -> list[AvailableNumber]: ...

    @abc.abstractmethod
    def order_number(self, e164: str) -> OrderedNumber: ...

    @abc.abstractmethod
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
    ) -> Registration: ...

    @abc.abstractmethod
    def create_campaign_registration(
        self,
        *,
        brand_id: str,
        usecase: str,
        description: str,
        sample_messages: list[str] | None = None,
        message_flow: str = "",
    ) -> Registration: ...

    @abc.abstractmethod
    def assign_number_to_campaign(self, *, campaign_id: str, e164: str) -> Registration: ...

    @abc.abstractmethod
    def registration_status(
        self, *, kind: Literal["brand", "campaign", "number"], registration_id: str
    ) -> Registration:
        """For kind="number", registration_id is the E.164 number."""


# --- Telnyx event parsing (shared: the simulator speaks the same format) ----------------
def _phone(party: Any) -> str:
    """The party's number as we store numbers (ASCII E.164), so a webhook that spells a
    phone another way (spaces, other digits) still finds its contact, opt-out and DNC
    entry; a short code or an alphanumeric sender is kept as given."""
    raw = party.get("phone_number") if isinstance(party, dict) else party
    text = str(raw or "").strip()
    return try_normalize_phone(text) or text


# A message's carrier cost is a few cents; anything outside this is not a price (and
# would not fit the cost column: numeric(10, 5)), so it is read as unknown.
MAX_COST = Decimal("10000")
# SMS concatenation numbers parts in one byte; Telnyx stops at 10. A `parts` that is not
# a whole number in range is read as 1 rather than failing the event (issue 14).
MAX_PARTS = 255


def _cost(value: Any) -> Decimal | None:
    if not isinstance(value, dict) or value.get("amount") in (None, ""):
        return None
    try:
        cost = Decimal(str(value["amount"]))
    except InvalidOperation:
        return None
    return cost if cost.is_finite() and abs(cost) < MAX_COST else None


def web_url(url: Any) -> bool:
    """Whether `url` is an http(s) address with a host: the only kind of inbound media
    link a page may render. An MMS webhook is the sender's data; a `javascript:` or
    `data:` "media URL" in it must never become a link or an image source."""
    if not isinstance(url, str) or len(url) > 2048:
        return False
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _media(value: Any) -> list[dict[str, Any]]:
    """The message's attachments whose URL is http(s) (web_url); others are dropped
    here, so no Message row ever holds one (the stored event keeps them as sent)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict) and web_url(item.get("url"))]


def _when(value: Any) -> datetime | None:
    """The event's time; None (stored as unknown) when absent or not a real time."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:  # well-formed but impossible: 2026-13-45T99:00:00Z
        return None


def _parts(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    try:
        parts = int(value)
    except (TypeError, ValueError, OverflowError):  # "many", NaN, Infinity, a list
        return 1
    return parts if 1 <= parts <= MAX_PARTS else 1


def parse_telnyx_event(envelope: dict[str, Any]) -> WebhookEvent:
    """Flatten a Telnyx v2 webhook body. Raises ValueError when it is not one."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        raise ValueError("not a Telnyx event: data.id is missing")
    payload = data.get("payload") or {}
    to = payload.get("to")
    first_to = to[0] if isinstance(to, list) and to else to  # WhatsApp sends a plain string
    errors = [
        {
            "code": str(e.get("code", "")),
            "title": e.get("title", ""),
            "detail": e.get("detail") or "",
        }
        for e in payload.get("errors") or []
        if isinstance(e, dict)
    ]
    occurred = data.get("occurred_at")
    return WebhookEvent(
        event_id=str(data["id"]),
        event_type=str(data.get("event_type") or ""),
        occurred_at=_when(occurred),
        message_id=str(payload.get("id") or ""),
        direction=str(payload.get("direction") or ""),
        status=str(first_to.get("status") or "") if isinstance(first_to, dict) else "",
        from_number=_phone(payload.get("from")),
        to_number=_phone(first_to),
        text=str(payload.get("text") or ""),
        parts=_parts(payload.get("parts")),
        cost=_cost(payload.get("cost")),
        errors=errors,
        media=_media(payload.get("media")),
    )
