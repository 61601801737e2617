"""SMS segments as carriers count them (telnyx.md §1.5): GSM-7 160/153, UCS-2 70/67."""

import math

# GSM 03.38 basic set plus the extension table (which costs two septets per character).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
MAX_PARTS = 10


def segment_count(text: str) -> tuple[int, str]:
    """(parts, encoding) for an SMS body; encoding is "GSM-7" or "UCS-2"."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = len(text) + sum(1 for ch in text if ch in _GSM_EXTENDED)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2  # astral characters are two code units
        single, multi, encoding = 70, 67, "UCS-2"
    parts = 1 if units <= single else math.ceil(units / multi)
    return parts, encoding
