"""Carrier content rules (compliance.md §7): what blocks a message, what only warns,
and everyday or political speech that must pass untouched."""

import pytest

from compliance.content import Level, content_check


def found(body: str, *, political: bool = False) -> set[tuple[str, str]]:
    return {(r.level.value, r.name) for r in content_check(body, political=political)}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Sex: explicit content blocks on sight; a bare mention only warns.
        ("Hot singles near you: free porn videos tonight", ("block", "sex")),
        ("See my nudes at the link", ("block", "sex")),
        ("Talk about sex with your doctor", ("warn", "sex")),
        # Hate: slogans block; the word itself warns.
        ("White power rally Saturday", ("block", "hate")),
        ("We hate them all", ("warn", "hate")),
        # Alcohol, firearms, tobacco, cannabis, gambling: a sale blocks, a mention warns.
        ("20% off all wines this weekend, order now!", ("block", "alcohol")),
        ("Beer and pizza after the canvass", ("warn", "alcohol")),
        ("Guns and ammo on sale at Joe's", ("block", "firearms")),
        ("The sheriff will talk about rifles", ("warn", "firearms")),
        ("Vape pens: buy 2 get 1 free", ("block", "tobacco")),
        ("Nicotine is addictive", ("warn", "tobacco")),
        ("CBD oil delivered to your door", ("block", "cannabis")),
        ("Visit our dispensary today", ("block", "cannabis")),
        ("Vote yes on the cannabis measure", ("warn", "cannabis")),
        ("Free bets at our sportsbook", ("block", "gambling")),
        ("Casino night fundraiser", ("warn", "gambling")),
        # Other forbidden categories.
        ("Need cash? Payday loans, no credit check", ("block", "high_risk_finance")),
        ("Get a cash advance in minutes", ("block", "high_risk_finance")),
        ("Ask us about crypto", ("warn", "high_risk_finance")),
        ("Debt relief is one call away", ("block", "debt")),
        ("Credit repair specialists", ("block", "debt")),
        ("Make $500 a day from home!", ("block", "get_rich_quick")),
        ("Double your money in a week", ("block", "get_rich_quick")),
    ],
)
def test_categories(body, expected):
    assert expected in found(body)


@pytest.mark.parametrize(
    "body",
    [
        "Canvass meets at 123 Sexton Street at 10am",
        "Essex County volunteers: thank you!",
        "I hate to bother you, but polls close at 8pm",
        "We'd hate to miss you at the rally",
        "Stop hate crimes: call your senator",
        "Same-sex marriage is on the ballot",
        "Town hall on gun safety and gun violence tonight",
        "Help us weed the garden at the community center",
        "It's payday: chip in $5 for the campaign",
        "Student loan forgiveness town hall",
        "Bake sale Saturday! Wine and cheese at 6",
        "Ginger snaps and rummage sale at the church",
        "Volunteer time slots are open for Saturday",
        "Your polling place is at Lincoln High School",
        "Read the plan at https://example.org/plan?ref=t.co",
    ],
)
def test_everyday_and_political_speech_passes(body):
    assert found(body) == set()


@pytest.mark.parametrize(
    "link",
    [
        "bit.ly/3xYz",
        "https://bit.ly/3xYz",
        "HTTP://TinyURL.com/abc",
        "goo.gl/maps/x",
        "ow.ly/abc",
        "https://t.co/abc",
        "is.gd/abc",
        "buff.ly/abc",
        "rebrand.ly/abc",
        "cutt.ly/abc",
        "shorturl.at/abc",
        "tiny.cc/abc",
        "www.bit.ly/abc",
    ],
)
def test_public_shorteners_block_with_the_remedy(link):
    (result,) = content_check(f"RSVP here: {link}. See you there")
    assert (result.level, result.name) == (Level.BLOCK, "url_shortener")
    assert "full links" in result.remediation
    assert "branded domain" in result.remediation


@pytest.mark.parametrize(
    "link",
    [
        "https://vote.example.org/rsvp",
        "https://at.com/x",  # not t.co
        "https://habit.ly/x",  # not bit.ly
        "https://t.com/x",
        "https://bit.lyrics.example/x",
        "https://example.org/t.co",  # a path, not a host
    ],
)
def test_full_and_lookalike_links_pass(link):
    assert not [r for r in content_check(f"Details: {link}") if r.name == "url_shortener"]


def test_political_texts_are_reminded_of_the_disclaimer():
    assert ("warn", "political_disclaimer") in found("Vote Sam for mayor!", political=True)
    assert found("Vote Sam for mayor! Paid for by Sam for Mayor", political=True) == set()
    assert found("Vote Sam for mayor!", political=False) == set()


def test_every_result_explains_itself():
    for result in content_check("Payday loans at bit.ly/x, beer 50% off", political=True):
        assert result.message and result.remediation
