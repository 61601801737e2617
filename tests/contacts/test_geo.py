"""Timezone derivation: ZIP, then state, then the phone's area code, then the default."""

import pytest

from contacts.geo import guess_timezone

DEFAULT = "America/New_York"

CASES = [
    # phone, state, zip, expected timezone, expected source, must-include candidates
    ("+15035550100", "", "", "America/Los_Angeles", "phone", {"America/Los_Angeles"}),
    ("+16025550100", "", "", "America/Phoenix", "phone", {"America/Phoenix"}),
    (
        "+15035550100",
        "",
        "32501",
        "America/Chicago",
        "address",
        {"America/Chicago", "America/Los_Angeles"},
    ),
    ("+12125550100", "NY", "", "America/New_York", "address", {"America/New_York"}),
    ("+12085550100", "OR", "97914", "America/Boise", "address", {"America/Boise"}),
    # Multi-zone state: the phone's zone inside the state is the better guess...
    ("+15125550100", "TX", "", "America/Chicago", "address", {"America/Chicago", "America/Denver"}),
    # ...and every zone the state spans stays a candidate for quiet hours.
    ("+19155550100", "TX", "", "America/Denver", "address", {"America/Chicago", "America/Denver"}),
    # Toll-free spans 42 zones: treated as unknown.
    ("+18005550100", "", "", DEFAULT, "account_default", {DEFAULT}),
    ("+18005550100", "", "00000", DEFAULT, "account_default", {DEFAULT}),
    ("+17075550100", "", "", "America/Los_Angeles", "phone", {"America/Los_Angeles"}),
]


@pytest.mark.parametrize(("phone", "state", "zip_code", "tz", "source", "includes"), CASES)
def test_guess_timezone(phone, state, zip_code, tz, source, includes):
    guess = guess_timezone(phone=phone, state=state, zip_code=zip_code, default=DEFAULT)
    assert guess.timezone == tz
    assert guess.source == source
    assert includes <= set(guess.candidates)
    assert guess.timezone in guess.candidates


def test_split_area_code_keeps_both_zones():
    # 928-283 spans Navajo Nation (observes DST) and the rest of Arizona.
    guess = guess_timezone(phone="+19282830100", state="", zip_code="", default=DEFAULT)
    assert set(guess.candidates) == {"America/Denver", "America/Phoenix"}
