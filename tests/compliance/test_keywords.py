"""The inbound keyword classifier (compliance.keywords): every keyword with its casing,
spacing and punctuation variants, the plain-language phrases, and the messages that
must not opt anyone out. Pure functions: no database."""

import pytest

from compliance.eligibility import (
    HELP_REPLY,
    OPT_IN_CONFIRMATION,
    OPT_OUT_CONFIRMATION,
    OPTED_OUT,
    may_send_now,
)
from compliance.keywords import Intent, classify, keyword_effect, keyword_reply_text
from contacts.models import Contact, EventType, SmsStatus

OUT, HELP, IN = Intent.OPT_OUT, Intent.HELP, Intent.OPT_IN

# (text, intent, keyword recorded, rule)
OPT_OUT_KEYWORDS = [
    ("STOP", "STOP"),
    ("STOPALL", "STOPALL"),
    ("UNSUBSCRIBE", "UNSUBSCRIBE"),
    ("CANCEL", "CANCEL"),
    ("END", "END"),
    ("QUIT", "QUIT"),
    ("REVOKE", "REVOKE"),
    ("OPTOUT", "OPTOUT"),
    ("OPT OUT", "OPTOUT"),
    ("STOP ALL", "STOPALL"),
]

VARIANTS = [
    # casing
    ("stop", OUT, "STOP"),
    ("Stop", OUT, "STOP"),
    ("sToP", OUT, "STOP"),
    ("unsubscribe", OUT, "UNSUBSCRIBE"),
    ("Cancel", OUT, "CANCEL"),
    ("end", OUT, "END"),
    ("quit", OUT, "QUIT"),
    ("Revoke", OUT, "REVOKE"),
    ("optout", OUT, "OPTOUT"),
    ("stopall", OUT, "STOPALL"),
    # spacing
    ("  STOP  ", OUT, "STOP"),
    ("\nstop\n", OUT, "STOP"),
    ("S T O P", OUT, "STOP"),
    ("stop  all", OUT, "STOPALL"),
    ("Opt   Out", OUT, "OPTOUT"),
    # punctuation and symbols
    ("STOP.", OUT, "STOP"),
    ("Stop!!!", OUT, "STOP"),
    ("stop?", OUT, "STOP"),
    ("S.T.O.P.", OUT, "STOP"),
    ("'stop'", OUT, "STOP"),
    ("STOP 🛑", OUT, "STOP"),
    ("Opt-Out", OUT, "OPTOUT"),
    ("opt-out!", OUT, "OPTOUT"),
    ("Stop-All", OUT, "STOPALL"),
    ("UN-SUBSCRIBE", OUT, "UNSUBSCRIBE"),
    ("ＳＴＯＰ", OUT, "STOP"),  # full-width letters
    # a keyword with polite filler, or repeated
    ("stop please", OUT, "STOP"),
    ("Please STOP", OUT, "STOP"),
    ("STOP NOW", OUT, "STOP"),
    ("stop thank you", OUT, "STOP"),
    ("STOP STOP STOP", OUT, "STOP"),
    ("Ok stop.", OUT, "STOP"),
    ("cancel please", OUT, "CANCEL"),
    ("opt out please", OUT, "OPTOUT"),
    # Spanish (carriers' fuzzy opt-out)
    ("Baja", OUT, "BAJA"),
    ("PARAR", OUT, "PARAR"),
    # opt-out wins over any other keyword in the message
    ("HELP STOP", OUT, "STOP"),
    ("yes stop", OUT, "STOP"),
    # help
    ("HELP", HELP, "HELP"),
    ("help", HELP, "HELP"),
    ("Help!", HELP, "HELP"),
    ("INFO", HELP, "INFO"),
    ("info?", HELP, "INFO"),
    ("help please", HELP, "HELP"),
    ("H.E.L.P", HELP, "HELP"),
    # opt back in
    ("START", IN, "START"),
    ("start", IN, "START"),
    ("Start.", IN, "START"),
    ("UNSTOP", IN, "UNSTOP"),
    ("un-stop", IN, "UNSTOP"),
    ("YES", IN, "YES"),
    ("yes!", IN, "YES"),
    ("Yes please", IN, "YES"),
]

# A stand-alone keyword sentence opts out even inside a longer message.
SENTENCES = [
    ("STOP! Who is this?", "STOP"),
    ("Who is this? Stop.", "STOP"),
    ("Unsubscribe. I never signed up", "UNSUBSCRIBE"),
    ("stop\nthis is my work phone", "STOP"),
]

PHRASES = [
    ("please stop texting me", "stop texting me"),
    ("Stop texting me!", "stop texting me"),
    ("PLEASE STOP MESSAGING ME", "stop messaging me"),
    ("stop sending me these", "stop sending me"),
    ("Can you stop texting this number", "stop texting this number"),
    ("stop texting", "stop texting"),
    ("stop all texts", "stop all texts"),
    ("stop it", "stop it"),
    ("remove me from this list", "remove me from this list"),
    ("Please remove me from your list.", "remove me from your list"),
    ("remove me", "remove me"),
    ("Remove me please", "remove me please"),
    ("unsubscribe me", "unsubscribe"),
    ("How do I unsubscribe?", "unsubscribe"),
    ("I already unsubscribed, why am I getting this", "unsubscribed"),
    ("take me off your list", "take me off your list"),
    ("Take me off the list now", "take me off the list"),
    ("take me off", "take me off"),
    ("don't text me anymore", "don't text me"),
    ("Don’t text me anymore", "don't text me"),  # typographic apostrophe
    ("dont text me", "dont text me"),
    ("Do not contact me again", "do not contact me"),
    ("never text this number again", "never text this number"),
    ("don't send me any more messages", "don't send me any more messages"),
    ("opt me out", "opt me out"),
    ("I opted out last week", "opted out"),
    ("delete my number", "delete my number"),
    ("no more texts please", "no more texts"),
    ("leave me alone", "leave me alone"),
    ("No more texts. Who gave you my number?", "no more texts"),
    ("I don't know who this is, stop texting me", "stop texting me"),
    ("no más", "no mas"),
]

# Must NOT opt out (nor be any keyword).
NOT_KEYWORDS = [
    "don't stop",
    "Don't stop!",
    "stop by the office",
    "Stop by the office at 5",
    "I can't stop smiling",
    "we should end early",
    "cancel my appointment?",
    "Can I cancel my RSVP?",
    "The end",
    "when does it end?",
    "please don't stop texting me",
    "I'll stop texting you now",
    "don't text me back, I'm driving",
    "remove me from the volunteer shift",
    "I didn't opt out",
    "don't unsubscribe me",
    "Take me to the polls",
    "help me find my polling place",
    "Can you help?",
    "yes I'll be there",
    "Yes, what time?",
    "start time?",
    "stopped by yesterday",
    "unstoppable",
    "ok",
    "thank you",
    "hello",
    "",
    "   ",
    "🛑",
]


@pytest.mark.parametrize(("text", "keyword"), OPT_OUT_KEYWORDS)
def test_every_opt_out_keyword(text, keyword):
    match = classify(text)
    assert (match.intent, match.keyword, match.rule) == (OUT, keyword, "keyword")


@pytest.mark.parametrize(("text", "intent", "keyword"), VARIANTS)
def test_case_spacing_and_punctuation_do_not_matter(text, intent, keyword):
    match = classify(text)
    assert match is not None, text
    assert (match.intent, match.keyword) == (intent, keyword)


@pytest.mark.parametrize(("text", "keyword"), SENTENCES)
def test_a_stand_alone_keyword_sentence_opts_out(text, keyword):
    match = classify(text)
    assert (match.intent, match.keyword, match.rule) == (OUT, keyword, "sentence")


@pytest.mark.parametrize(("text", "phrase"), PHRASES)
def test_plain_language_requests_opt_out(text, phrase):
    match = classify(text)
    assert match is not None, text
    assert (match.intent, match.keyword, match.rule) == (OUT, phrase, "phrase")


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_what_is_not_a_keyword(text):
    assert classify(text) is None


def test_none_is_not_a_keyword():
    assert classify(None) is None


def test_only_yes_is_conditional():
    assert classify("YES").conditional
    assert not classify("START").conditional
    assert not classify("UNSTOP").conditional


# (intent text, contact status before) -> the status after (None: unchanged), and
# whether the reply goes: the service applies `keyword_effect` like this.
EFFECTS = [
    ("STOP", SmsStatus.NONE, SmsStatus.OPTED_OUT, OPT_OUT_CONFIRMATION),
    ("STOP", SmsStatus.OPTED_IN, SmsStatus.OPTED_OUT, OPT_OUT_CONFIRMATION),
    ("STOP", SmsStatus.PENDING, SmsStatus.OPTED_OUT, OPT_OUT_CONFIRMATION),
    ("STOP", SmsStatus.OPTED_OUT, None, None),  # a second STOP: no second confirmation
    ("HELP", SmsStatus.OPTED_IN, None, HELP_REPLY),
    ("HELP", SmsStatus.OPTED_OUT, None, HELP_REPLY),  # answered opted out or not
    ("START", SmsStatus.OPTED_OUT, SmsStatus.OPTED_IN, OPT_IN_CONFIRMATION),
    ("START", SmsStatus.NONE, SmsStatus.OPTED_IN, OPT_IN_CONFIRMATION),
    ("START", SmsStatus.OPTED_IN, None, None),
    ("UNSTOP", SmsStatus.OPTED_OUT, SmsStatus.OPTED_IN, OPT_IN_CONFIRMATION),
    ("YES", SmsStatus.OPTED_OUT, SmsStatus.OPTED_IN, OPT_IN_CONFIRMATION),
    ("YES", SmsStatus.PENDING, SmsStatus.OPTED_IN, OPT_IN_CONFIRMATION),
    ("YES", SmsStatus.NONE, None, None),  # a plain "yes" is a reply, not consent
    ("YES", SmsStatus.OPTED_IN, None, None),
]


@pytest.mark.parametrize(("text", "before", "after", "reply"), EFFECTS)
def test_what_each_keyword_does_to_a_contact(text, before, after, reply):
    effect = keyword_effect(classify(text))
    applies = (
        effect.to_status is not None
        and effect.to_status != before
        and (effect.only_from is None or before in effect.only_from)
    )
    assert (effect.to_status if applies else None) == after
    replied = applies or not effect.reply_on_change_only
    assert (effect.reply_kind if replied else None) == reply
    if applies:
        expected = EventType.SMS_OPT_OUT if after == SmsStatus.OPTED_OUT else EventType.SMS_OPT_IN
        assert effect.event_type == expected


def test_reply_texts():
    assert (
        keyword_reply_text(kind=OPT_OUT_CONFIRMATION, help_text="x")
        == "You've been unsubscribed. Reply START to opt back in."
    )
    assert keyword_reply_text(kind=HELP_REPLY, help_text="Acme: help@acme.org") == (
        "Acme: help@acme.org"
    )
    assert "STOP" in keyword_reply_text(kind=OPT_IN_CONFIRMATION, help_text="x")


@pytest.mark.parametrize(
    ("kind", "allowed"),
    [
        (None, False),
        (OPT_IN_CONFIRMATION, False),
        ("anything else", False),
        (OPT_OUT_CONFIRMATION, True),
        (HELP_REPLY, True),
    ],
)
def test_only_a_stop_confirmation_or_help_reply_reaches_an_opted_out_number(kind, allowed):
    opted_out = Contact(sms_status=SmsStatus.OPTED_OUT)
    assert may_send_now(contact=opted_out, kind=kind) == (
        (True, "") if allowed else (False, OPTED_OUT)
    )
    assert may_send_now(contact=Contact(sms_status=SmsStatus.OPTED_IN), kind=kind) == (True, "")
