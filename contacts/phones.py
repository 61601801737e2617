"""Phone parsing: any form a person types in, out as ASCII E.164 (default region US).

Every phone that enters the system (API, forms, CSV import and paste, the DNC list,
webhooks, the simulator) goes through `normalize_phone`, so one number has one spelling:
`+15035550189`. A number typed with full-width (`５`), Arabic-Indic (`٥`), Devanagari
(`५`) or mathematical (`𝟓`) digits, non-breaking or ideographic spaces, or any dash is
the same number, and must find the same contact, the same opt-out and the same DNC
entry; a second spelling would be a second contact that escapes both (issue 14).
The database holds the same rule for contacts and the DNC list (`E164_PATTERN`, a check
constraint on their `phone`).
"""

import re
import unicodedata

import phonenumbers

# What a stored phone looks like: `+`, a country code that does not start with 0, and
# 7 to 15 ASCII digits in all. `[0-9]`, not `\d`: `\d` matches any Unicode digit, in
# Python and in PostgreSQL alike.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_E164 = re.compile(E164_PATTERN)

# A plain North American number as people type it ("(503) 555-0100", "503.555.0100",
# "+1 503 555 0100", "15035550100"): the parsed number is known without `parse`, which
# costs as much as the validity check (a 50,000-row DNC import reads one per row).
# Anything else goes through `phonenumbers.parse`; the validity check is the same.
# ASCII only (re.ASCII): other digits and spaces take the full parser, which maps them.
_NANP = re.compile(
    r"\s*(?:\+?1[\s.\-]*)?\(?([2-9]\d{2})\)?[\s.\-]*(\d{3})[\s.\-]*(\d{4})\s*", re.ASCII
)


class InvalidPhone(ValueError):
    pass


def _canonical_text(raw: str) -> str:
    """NFKC folds compatibility forms to ASCII (full-width and mathematical digits,
    circled digits, non-breaking and ideographic spaces, full-width punctuation); format
    characters (zero-width spaces, direction marks, soft hyphens), which a copy from a
    web page or a spreadsheet carries invisibly, are dropped. Other scripts' digits
    (Arabic-Indic, Devanagari, ...) stay as they are: `phonenumbers` reads them."""
    if (raw or "").isascii():  # the usual case: nothing to fold (ASCII has no Cf)
        return (raw or "").strip()
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def is_e164(value: str) -> bool:
    """True for a phone already in the stored form (ASCII E.164)."""
    return isinstance(value, str) and _E164.fullmatch(value) is not None


def normalize_phone(raw: str, *, region: str = "US") -> str:
    """'(503) 555-0100' -> '+15035550100'. Raises InvalidPhone with a readable reason.

    The result is always ASCII E.164, whatever digits and separators were typed."""
    typed = (raw or "").strip()
    text = _canonical_text(typed)
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
        raise InvalidPhone(f"'{typed}' is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"'{typed}' is not a valid phone number.")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not is_e164(e164):  # belt and braces: never hand on anything but ASCII digits
        raise InvalidPhone(f"'{typed}' is not a valid phone number.")
    return e164


def ascii_digits(text: str) -> str:
    """The digits in `text`, whatever their script, as ASCII: '５０３-５' -> '5035' (for
    "phone contains" searches, which match the stored ASCII digits)."""
    return "".join(str(unicodedata.digit(ch)) for ch in text or "" if ch.isdecimal())


def try_normalize_phone(raw: str, *, region: str = "US") -> str | None:
    try:
        return normalize_phone(raw, region=region)
    except InvalidPhone:
        return None
