"""Phone normalisation: the quick path for plain North American numbers gives exactly
what `phonenumbers.parse` gives, valid or not."""

import phonenumbers
import pytest

from contacts.phones import InvalidPhone, normalize_phone


def parsed(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text.strip(), "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    "text",
    [
        "(503) 555-0100",
        "503.555.0100",
        "503-555-0100",
        "5035550100",
        "15035550100",
        "+15035550100",
        "+1 (503) 555-0100",
        "1-503-555-0100",
        " 971 555 0123 ",
        "(555) 555-0100",  # no such area code
        "(503) 055-0100",  # an exchange cannot start with 0
        "123-456-7890",
        "1503555010",  # one digit short
        "+44 20 7946 0958",  # not North American: the full parser
        "503-555-0100 x12",
        "call me",
    ],
)
def test_the_quick_path_agrees_with_the_parser(text):
    try:
        got = normalize_phone(text)
    except InvalidPhone:
        got = None
    assert got == parsed(text)
