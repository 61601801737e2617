"""One number, one spelling (issue 14): however a phone is typed (any script's digits,
any space or dash, parentheses, a country prefix, invisible marks from a copy), it
parses to the same ASCII E.164, or is refused; never to a non-ASCII "phone" that would
be a second contact escaping the first one's STOP and DNC entry. Pure functions here
(many examples, no database); tests/compliance/test_phone_twins.py goes end to end."""

import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contacts.phones import InvalidPhone, ascii_digits, is_e164, normalize_phone
from tests.phone_spellings import DIGIT_FORMS, INVISIBLE, numbers, typed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), digits=numbers)
def test_every_spelling_of_a_number_is_the_same_ascii_e164(data, digits):
    assert normalize_phone(data.draw(typed(digits))) == f"+1{digits}"


@settings(max_examples=100, deadline=None)
@given(
    digits=numbers,
    marks=st.lists(st.tuples(st.integers(0, 12), st.sampled_from(INVISIBLE)), max_size=3),
    padding=st.sampled_from(["", " ", "\u3000", "\u00a0", "\t"]),
)
def test_invisible_marks_from_a_copy_and_odd_padding_change_nothing(digits, marks, padding):
    text = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    for at, mark in sorted(marks, reverse=True):
        text = text[:at] + mark + text[at:]
    assert normalize_phone(padding + text + padding) == f"+1{digits}"


@settings(max_examples=250, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
@example("503-5５5-0189")
@example("+15035５50189")
@example("(503)５55-0189")
def test_anything_typed_is_ascii_e164_or_refused(text):
    """No input, however odd, comes out as anything but ASCII E.164."""
    try:
        e164 = normalize_phone(text)
    except InvalidPhone:
        return
    assert is_e164(e164)
    assert set(e164) <= set("+" + string.digits)


@pytest.mark.parametrize("form", sorted(DIGIT_FORMS))
def test_one_digit_in_another_script_is_the_same_number(form):
    """The issue's case: one full-width digit in `503-5５5-0189` made `+15035５50189`."""
    five = DIGIT_FORMS[form][5]
    assert normalize_phone(f"503-5{five}5-0189") == "+15035550189"
    assert normalize_phone(f"({five}03){five}55-0189") == "+15035550189"


def test_search_digits_are_ascii_whatever_was_typed():
    assert ascii_digits("５٠३-𝟓") == "5035"
    assert ascii_digits("no digits") == ""
