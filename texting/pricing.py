"""What a send costs us to charge: settings.SEGMENT_PRICE (USD per segment, by number
kind). Receipts later record the provider's own cost on each message."""

from decimal import Decimal

from django.conf import settings


def segment_price(kind: str) -> Decimal:
    prices = settings.SEGMENT_PRICE
    return Decimal(str(prices.get(kind, prices.get("long", "0"))))


def message_price(*, kind: str, segments: int) -> Decimal:
    return segment_price(kind) * segments


def mms_price() -> Decimal:
    """settings.MMS_PRICE (USD per MMS message: MMS is not billed per segment)."""
    return Decimal(str(settings.MMS_PRICE))
