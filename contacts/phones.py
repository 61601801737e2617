"""Phone parsing: any form a person types in, out as E.164 (default region US)."""

import phonenumbers


class InvalidPhone(ValueError):
    pass


def normalize_phone(raw: str, *, region: str = "US") -> str:
    """'(503) 555-0100' -> '+15035550100'. Raises InvalidPhone with a readable reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhone("A phone number is required.")
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
