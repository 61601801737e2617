"""What a send costs us to charge: settings.SEGMENT_PRICE (USD per segment, by number
kind), or settings.MMS_PRICE per message for an MMS. Receipts later record the
provider's own cost on each message."""

from decimal import Decimal

from django.conf import settings


def segment_price(kind: str) -> Decimal:
    prices = settings.SEGMENT_PRICE
    return Decimal(str(prices.get(kind, prices.get("long", "0"))))


def message_price(*, kind: str, segments: int, mms: bool = False) -> Decimal:
    """One message's price: per segment by sender kind, or `mms_price()` for an MMS
    (a campaign with media), whatever its length."""
    return mms_price() if mms else segment_price(kind) * segments


def mms_price() -> Decimal:
    """settings.MMS_PRICE (USD per MMS message: MMS is not billed per segment)."""
    return Decimal(str(settings.MMS_PRICE))
