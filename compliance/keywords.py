"""Inbound keywords: is this text an opt-out, a request for help, or an opt-in?

Pure functions over the message text (no database); `texting.keywords` applies the
result before anything else sees an inbound message. The rulebook is
shared/reference/compliance.md §2 (CTIA 5.1.3, FCC § 64.1200(a)(10), the carriers' and
vendors' keyword sets, unioned).

How a text is read (`classify`):

1. **Normalised**: Unicode compatibility forms folded (full-width letters), accents
   dropped ("más" -> "mas"), lower case, typographic apostrophes made plain.
2. **Whole-message keyword**: the message with everything but letters removed is a
   keyword ("STOP", "s.t.o.p!", "Opt-Out", "stop all" -> "stopall"), or the message's
   words are only keywords and polite filler ("stop please", "please STOP", "STOP STOP",
   "yes!"). This is the carriers' rule (exact single-word reply) made insensitive to
   case, spacing and punctuation, plus filler. It is the only rule for HELP and for
   opting in: "help me find my polling place" or "yes I'll be there" are conversation,
   not keywords.
3. **Opt-out only, a sentence on its own**: a sentence (split at . ! ? ; and line
   breaks) that is an opt-out keyword by rule 2 ("STOP! Who is this?").
4. **Opt-out only, plain-language phrases** (`_OPT_OUT_PHRASES`): clear requests that
   name what to stop ("please stop texting me", "remove me from this list", "take me
   off your list", "unsubscribe me", "opt me out", "don't text me anymore", "no more
   texts", "leave me alone"), matched inside one sentence. A phrase preceded within
   three words by a negation ("don't", "never", "didn't", ...) does not count
   ("please don't stop texting me", "I didn't opt out").

What deliberately does **not** opt out: an ambiguous keyword inside a longer sentence
("don't stop", "stop by the office", "I can't stop smiling", "we should end early",
"cancel my appointment?", "the end"). The 2025 FCC rule accepts any reasonable means,
but a lone word like "stop", "end" or "cancel" mid-sentence is not a reasonable request
(CTIA 5.1.3: "except where a specific word could cause an unintended opt-out"). A
missed opt-out is the costlier error, so a stand-alone keyword sentence counts even in
a longer message (rule 3); the price is that "Stop! You're hilarious" opts out (the
contact can text START).

Opt-out wins over everything else ("HELP STOP" is an opt-out). YES is an opt-in only
where the contact had opted out or is pending double opt-in: the classifier flags it
(`KeywordMatch.conditional`) and `keyword_effect` turns that into the statuses it may
change; whether it applies is decided against the contact's status by the service.
"""

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from accounts.models import DEFAULT_OPT_IN_CONFIRMATION, DEFAULT_OPT_OUT_CONFIRMATION
from contacts.models import EventType, SmsStatus

from .eligibility import HELP_REPLY, OPT_IN_CONFIRMATION, OPT_OUT_CONFIRMATION

# Replies, when the caller gives no account text (CTIA: one confirmation, no marketing;
# the opt-in confirmation carries HELP and STOP instructions). Each account has its own
# (Account.opt_out_confirmation / opt_in_confirmation, edited on the Settings page).
OPT_OUT_CONFIRMATION_TEXT = DEFAULT_OPT_OUT_CONFIRMATION
OPT_IN_CONFIRMATION_TEXT = DEFAULT_OPT_IN_CONFIRMATION


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    HELP = "help"
    OPT_IN = "opt_in"


@dataclass(frozen=True)
class KeywordMatch:
    intent: Intent
    keyword: str  # what matched, for the record: "STOP", "YES", or the phrase's words
    rule: str  # "keyword", "sentence" or "phrase"
    # YES: opts in only where the contact had opted out or is pending double opt-in.
    conditional: bool = False


# Compact forms: the keyword with everything but letters removed.
OPT_OUT_KEYWORDS = frozenset(
    {
        "stop",
        "stopall",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        # Spanish, as carriers' fuzzy opt-out reads it (reference §2.1).
        "baja",
        "parar",
        "cancelar",
    }
)
HELP_KEYWORDS = frozenset({"help", "info"})
OPT_IN_KEYWORDS = frozenset({"start", "unstop"})
CONDITIONAL_OPT_IN_KEYWORDS = frozenset({"yes"})

# Words that may surround a keyword without changing what it asks for.
_FILLER = frozenset(
    {"please", "pls", "plz", "now", "thanks", "thank", "you", "thx", "ty", "ok", "okay"}
)
_NEGATIONS = frozenset(
    {
        "don't",
        "dont",
        "not",
        "never",
        "didn't",
        "didnt",
        "won't",
        "wont",
        "can't",
        "cant",
        "cannot",
        "shouldn't",
        "shouldnt",
        "wouldn't",
        "wouldnt",
        "doesn't",
        "doesnt",
    }
)
_NEGATION_WINDOW = 3  # words before a phrase in which a negation cancels it

_SENTENCE_BREAK = re.compile(r"[.!?;\n\r]+")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_NOT_LETTER = re.compile(r"[^a-z]+")

# Matched against one sentence's words joined by single spaces (see `_words`).
_ME = r"(?:me|us|this number|my number|my phone|this phone)"
_LIST = r"(?:list|lists|texts?|messages?|msgs?|contacts?|database|system|group|thread|number)"
_OPT_OUT_PHRASES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        # "stop texting me", "please stop sending", but not "I'll stop texting you".
        r"\bstop (?:texting|txting|messaging|msging|sending|contacting|spamming|bothering)"
        rf"(?: {_ME}\b|$| please\b| now\b| thanks?\b)",
        r"\bstop all (?:texts|messages|msgs)\b",
        r"^(?:please )?stop it(?: please| now)?$",
        # "don't text me (anymore)", but not "don't text me back" or "I don't text much".
        rf"\b(?:don't|dont|do not|never) (?:text|txt|message|msg|sms|contact) {_ME}\b(?! back\b)",
        r"\b(?:don't|dont|do not|never) send me (?:any more |anymore )?(?:texts|messages|msgs)\b",
        r"\bunsubscribed?\b",
        r"\bopt(?:ed)? (?:me )?out\b",
        r"\boptout\b",
        # "remove me", "remove me from this list", but not "remove me from the shift".
        rf"\b(?:remove|delete) me(?:$| please\b| now\b| (?:from|off) "
        rf"(?:\w+ ){{0,2}}{_LIST}\b)",
        rf"\btake me off(?:$| please\b| now\b| (?:\w+ ){{0,2}}{_LIST}\b)",
        r"\b(?:remove|delete|lose|erase) my (?:number|phone number|info|name)\b",
        r"\bno more (?:texts|txts|messages|msgs|texting)\b",
        r"\bleave me alone\b",
        r"^no mas(?: mensajes)?$",
    )
)


def _normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return folded.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _keyword_intent(compact: str) -> tuple[Intent, bool] | None:
    if compact in OPT_OUT_KEYWORDS:
        return Intent.OPT_OUT, False
    if compact in HELP_KEYWORDS:
        return Intent.HELP, False
    if compact in OPT_IN_KEYWORDS:
        return Intent.OPT_IN, False
    if compact in CONDITIONAL_OPT_IN_KEYWORDS:
        return Intent.OPT_IN, True
    return None


# Which intent wins when one message holds keywords of several: opting out first,
# then help (it changes nothing), then opting in.
_PRECEDENCE = {Intent.OPT_OUT: 0, Intent.HELP: 1, Intent.OPT_IN: 2}


def _keyword_message(text: str, rule: str) -> KeywordMatch | None:
    """Rule 2 over `text` (a whole message or one sentence, normalised)."""
    compact = _NOT_LETTER.sub("", text)
    found = _keyword_intent(compact)
    if found is not None:
        return KeywordMatch(found[0], compact.upper(), rule, conditional=found[1])
    words = [w for w in _words(text) if w not in _FILLER]
    if not words:
        return None
    # "opt out" and "stop all" are two words but one keyword.
    joined = " ".join(words).replace("opt out", "optout").replace("stop all", "stopall")
    matches = []
    for word in joined.split():
        found = _keyword_intent(word)
        if found is None:
            return None
        matches.append(KeywordMatch(found[0], word.upper(), rule, conditional=found[1]))
    return min(matches, key=lambda m: (_PRECEDENCE[m.intent], m.conditional))


def _phrase(sentence: str) -> KeywordMatch | None:
    words = _words(sentence)
    joined = " ".join(words)
    for pattern in _OPT_OUT_PHRASES:
        for found in pattern.finditer(joined):
            before = joined[: found.start()].split()[-_NEGATION_WINDOW:]
            # The phrases that start with their own negation ("don't text me") are
            # judged as they are; the others are cancelled by one just before them.
            own_negation = found.group(0).split()[0] in _NEGATIONS | {"do", "no"}
            if not own_negation and _NEGATIONS.intersection(before):
                continue
            return KeywordMatch(Intent.OPT_OUT, found.group(0), "phrase")
    return None


def classify(text: str | None) -> KeywordMatch | None:
    """What the inbound `text` asks for: opt out, help, opt in, or None (a reply like
    any other). See the module docstring for the rules and their order."""
    if not text:
        return None
    normalized = _normalize(text)
    whole = _keyword_message(normalized, "keyword")
    if whole is not None:
        return whole
    sentences = [s for s in _SENTENCE_BREAK.split(normalized) if s.strip()]
    for sentence in sentences:
        match = _keyword_message(sentence, "sentence")
        if match is not None and match.intent == Intent.OPT_OUT:
            return match
    for sentence in sentences:
        match = _phrase(sentence)
        if match is not None:
            return match
    return None


@dataclass(frozen=True)
class KeywordEffect:
    """What a keyword does to the contact, as the inbound service applies it."""

    # The contact's new sms_status (None: unchanged), and the statuses it may come from
    # (None: any other).
    to_status: str | None
    only_from: frozenset[str] | None
    event_type: str | None  # the history event written when the status changes
    # The reply's message kind (compliance.eligibility), and whether it goes only when
    # the status changed: a second STOP gets no second confirmation.
    reply_kind: str
    reply_on_change_only: bool


def keyword_effect(match: KeywordMatch) -> KeywordEffect:
    if match.intent == Intent.OPT_OUT:
        return KeywordEffect(
            to_status=SmsStatus.OPTED_OUT,
            only_from=None,
            event_type=EventType.SMS_OPT_OUT,
            reply_kind=OPT_OUT_CONFIRMATION,
            reply_on_change_only=True,
        )
    if match.intent == Intent.OPT_IN:
        return KeywordEffect(
            to_status=SmsStatus.OPTED_IN,
            only_from=(
                frozenset({SmsStatus.OPTED_OUT, SmsStatus.PENDING}) if match.conditional else None
            ),
            event_type=EventType.SMS_OPT_IN,
            reply_kind=OPT_IN_CONFIRMATION,
            reply_on_change_only=True,
        )
    # HELP: answered every time, subscribed or not (reference §2).
    return KeywordEffect(
        to_status=None,
        only_from=None,
        event_type=None,
        reply_kind=HELP_REPLY,
        reply_on_change_only=False,
    )


def keyword_reply_text(
    *,
    kind: str,
    help_text: str,
    opt_out_text: str = OPT_OUT_CONFIRMATION_TEXT,
    opt_in_text: str = OPT_IN_CONFIRMATION_TEXT,
) -> str:
    """The reply of `kind`: the account's help text for HELP, its STOP or opt-in
    confirmation for the others (the defaults when not given)."""
    if kind == HELP_REPLY:
        return help_text
    if kind == OPT_OUT_CONFIRMATION:
        return opt_out_text
    return opt_in_text
