"""Phone parsing: any form a person types in, out as E.164 (default region US)."""

import re

import phonenumbers

# A plain North American number as people type it ("(503) 555-0100", "503.555.0100",
# "+1 503 555 0100", "15035550100"): the parsed number is known without `parse`, which
# costs as much as the validity check (a 50,000-row DNC import reads one per row).
# Anything else goes through `phonenumbers.parse`; the validity check is the same.
_NANP = re.compile(r"\s*(?:\+?1[\s.\-]*)?\(?([2-9]\d{2})\)?[\s.\-]*(\d{3})[\s.\-]*(\d{4})\s*")


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str, *, region: str = "US") -> str:
    """'(503) 555-0100' -> '+15035550100'. Raises InvalidPhone with a readable reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("A phone number is required.")
    nanp = _NANP.fullmatch(text) if region == "US" else None
    if nanp is not None:
        digits = "".join(nanp.groups())
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
        if phonenumbers.is_valid_number(number):
            return f"+1{digits}"
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"'{text}' is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"'{text}' is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str, *, region: str = "US") -> str | None:
    try:
        return normalize_phone(raw, region=region)
    except InvalidPhone:
        return None
