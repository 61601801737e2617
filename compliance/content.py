"""Carrier content rules for a message body (compliance.md §7): pure functions, no
database.

`content_check(body, political=...)` returns one `Result` per problem found:

- **block**: the carriers filter or forbid it, so the message must not go. Clear SHAFT
  sales content (sex always; alcohol, firearms, tobacco, cannabis/CBD and gambling when
  the text sells them), other forbidden categories in unambiguous phrasing (payday
  loans, debt relief and credit repair, get-rich-quick), and public URL shorteners.
- **warn**: risky words a person should look at before sending (a mention of beer or
  guns in a rally invitation is not a sale, but carrier filters read words, not intent),
  and a political text without a "Paid for by" disclaimer.

Terms match whole words, case-insensitively. A few safe phrases are taken out of the
text first so that everyday or political speech does not trip a rule ("I hate to bother
you", "same-sex marriage", "gun safety", "weed the garden"); word boundaries already
keep "Sexton Street" or "Essex" clear of "sex".
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    BLOCK = "block"
    WARN = "warn"


@dataclass(frozen=True)
class Result:
    level: Level
    name: str  # the rule: "sex", "alcohol", ..., "url_shortener", "political_disclaimer"
    message: str
    remediation: str


def _words(*terms: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation; terms are regex fragments."""
    return re.compile(r"(?<![\w-])(?:" + "|".join(terms) + r")(?![\w-])", re.IGNORECASE)


# Selling something: together with a restricted category's word, the text is promotion
# of that category (block), not a mention (warn).
_SALES_CUES = _words(
    r"buy",
    r"buying",
    r"order (?:now|today|online|yours)",
    r"place your order",
    r"shop(?:ping)?",
    r"on sale",
    r"for sale",
    r"sale",
    r"discounts?",
    r"deals?",
    r"coupons?",
    r"promo(?: code)?",
    r"\d+\s?% off",
    r"\$\d+(?:\.\d\d)? off",
    r"free shipping",
    r"free delivery",
    r"same[- ]day delivery",
    r"in stock",
    r"special offer",
    r"limited time",
    r"bonus bets?",
    r"free bets?",
)


@dataclass(frozen=True)
class _Category:
    name: str
    label: str
    always_block: re.Pattern[str] | None  # unambiguous: blocked on sight
    risky: re.Pattern[str] | None  # warned on; blocked with a sales cue when `sold_blocks`
    sold_blocks: bool
    remediation: str


_SEX_REMEDIATION = "Remove the sexual content: carriers never approve it on SMS/MMS (Twilio 30873)."
_AGE_GATED = (
    "US carriers forbid or age-gate this content on SMS; remove the promotion, or if "
    "this is only a mention, reword it so it cannot read as an offer."
)
_FORBIDDEN = (
    "This category is forbidden on US A2P SMS (carrier policy); remove it from the message."
)

_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        "sex",
        "sexual content",
        _words(
            r"porn",
            r"porno",
            r"pornography",
            r"nudes?",
            r"nude (?:pics?|photos?|videos?)",
            r"xxx",
            r"escorts?",
            r"escort services?",
            r"sex chat",
            r"sexting",
            r"hook-?ups?",
            r"cam ?girls?",
            r"onlyfans",
            r"adult (?:content|videos?|entertainment|chat)",
            r"sexy singles",
        ),
        _words(r"sex", r"sexy"),
        False,
        _SEX_REMEDIATION,
    ),
    _Category(
        "hate",
        "hateful content",
        _words(r"white power", r"heil hitler", r"race war"),
        _words(r"hate", r"hatred"),
        False,
        "Remove hateful language: carriers block hate content (SHAFT).",
    ),
    _Category(
        "alcohol",
        "alcohol",
        None,
        _words(
            r"beers?",
            r"wines?",
            r"liquor",
            r"vodka",
            r"whiske?y",
            r"tequila",
            r"rum",
            r"gin",
            r"cocktails?",
            r"booze",
            r"brewery",
            r"happy hour",
            r"craft beer",
        ),
        True,
        _AGE_GATED
        + " Alcohol offers need a registered 21+ program with a full date-of-birth gate.",
    ),
    _Category(
        "firearms",
        "firearms",
        _words(r"buy (?:a )?guns?", r"ammo sale"),
        _words(
            r"guns?",
            r"firearms?",
            r"rifles?",
            r"pistols?",
            r"handguns?",
            r"shotguns?",
            r"ammo",
            r"ammunition",
            r"ar-?15s?",
        ),
        True,
        _AGE_GATED,
    ),
    _Category(
        "tobacco",
        "tobacco or vaping",
        None,
        _words(
            r"cigarettes?",
            r"cigars?",
            r"tobacco",
            r"vapes?",
            r"vaping",
            r"e-?cigs?",
            r"e-?cigarettes?",
            r"juul",
            r"nicotine",
            r"hookah",
        ),
        True,
        "Remove the tobacco or vape promotion: carriers do not allow it even with an "
        "age gate (Twilio 30878).",
    ),
    _Category(
        "cannabis",
        "cannabis or CBD",
        _words(r"dispensar(?:y|ies)", r"edibles", r"cbd oil", r"thc gummies"),
        _words(r"cannabis", r"marijuana", r"weed", r"cbd", r"thc", r"kush"),
        True,
        "Cannabis and CBD are forbidden on US SMS even where they are legal; remove the "
        "promotion (a policy message about a ballot measure should say so plainly).",
    ),
    _Category(
        "high_risk_finance",
        "high-risk financial services",
        _words(
            r"payday loans?",
            r"payday lenders?",
            r"cash advances?",
            r"title loans?",
            r"no credit check",
            r"bad credit ok",
            r"guaranteed approval",
            r"instant approval",
        ),
        _words(r"loans?", r"crypto(?:currency)?", r"bitcoin"),
        False,
        _FORBIDDEN,
    ),
    _Category(
        "debt",
        "debt collection, relief or credit repair",
        _words(
            r"debt relief",
            r"debt consolidation",
            r"debt settlement",
            r"credit repair",
            r"fix your credit",
            r"erase your debt",
        ),
        None,
        False,
        _FORBIDDEN,
    ),
    _Category(
        "get_rich_quick",
        "get-rich-quick offers",
        _words(
            r"get rich quick",
            r"make money fast",
            r"double your money",
            r"earn \$\d[\d,]* (?:a|per) (?:day|week)",
            r"make \$\d[\d,]* (?:a|per) (?:day|week)",
        ),
        None,
        False,
        _FORBIDDEN,
    ),
    _Category(
        "gambling",
        "gambling",
        None,
        _words(
            r"casinos?",
            r"sportsbooks?",
            r"betting",
            r"place your bets?",
            r"poker",
            r"slot machines?",
            r"jackpots?",
        ),
        True,
        "Gambling promotions need a program registered for it; remove the promotion.",
    ),
)

# Phrases taken out before the categories are matched: everyday and political speech
# that contains a risky word without being about it.
_SAFE = _words(
    r"(?:i|we|i'd|we'd|i'll|we'll|would|i would|we would) hate to",
    r"hate to",
    r"hate crimes?",
    r"hate speech",
    r"same-sex",
    r"same sex",
    r"sex education",
    r"sex ed",
    r"sex offenders?",
    r"sex trafficking",
    r"sex discrimination",
    r"gun safety",
    r"gun violence",
    r"gun control",
    r"gun laws?",
    r"gun reform",
    r"gun owners?",
    r"weed (?:the|your|our|out)",
    r"weeding",
    r"wine and cheese",
    r"payday",  # "it's payday" (a payday loan is matched before this is removed)
    r"student loans?",
    r"loan forgiveness",
)

# Public, shared URL shorteners (compliance.md §7: carriers filter them; AT&T blocks
# them outright). Our own short links use the account's branded domain instead.
URL_SHORTENERS = (
    "bit.ly",
    "bitly.com",
    "bit.do",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "t.co",
    "is.gd",
    "v.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "t.ly",
    "shrtco.de",
    "lnkd.in",
    "s.id",
    "tr.im",
    "soo.gd",
    "clck.ru",
    "x.co",
    "qr.net",
)
# A shortener's host where a link starts (after a space or an opening bracket or
# quote, with or without a scheme or "www."), not part of a longer name ("at.com",
# "bit.lyrics", "x.bit.ly") nor of a path or query ("example.org/t.co", "?ref=t.co").
_SHORTENER = re.compile(
    r"(?:^|(?<=[\s(<\[\"'“‘]))(?:https?://)?(?:www\.)?("
    + "|".join(re.escape(d) for d in URL_SHORTENERS)
    + r")(?![\w-])(?!\.\w)",
    re.IGNORECASE,
)
_PAID_FOR_BY = re.compile(r"\bpaid\s+for\s+by\b", re.IGNORECASE)


def _found(pattern: re.Pattern[str] | None, text: str) -> list[str]:
    if pattern is None:
        return []
    return list(dict.fromkeys(m.group(0).lower() for m in pattern.finditer(text)))


def _quoted(words: list[str]) -> str:
    return ", ".join(f"“{w}”" for w in words)


def category_results(body: str) -> list[Result]:
    """SHAFT and the other forbidden categories."""
    results = []
    # Unambiguous phrases are read before the safe phrases are taken out, so a safe
    # word inside one ("payday" in "payday loan") cannot hide it.
    safe_text = _SAFE.sub(" ", body)
    selling = bool(_SALES_CUES.search(body))
    for category in _CATEGORIES:
        blocked = _found(category.always_block, body)
        risky = _found(category.risky, safe_text)
        if blocked or (risky and selling and category.sold_blocks):
            words = blocked or risky
            results.append(
                Result(
                    Level.BLOCK,
                    category.name,
                    f"Carriers block {category.label} ({_quoted(words)}).",
                    category.remediation,
                )
            )
        elif risky:
            results.append(
                Result(
                    Level.WARN,
                    category.name,
                    f"Mentions {category.label} ({_quoted(risky)}); carrier filters may flag it.",
                    "Make sure the message cannot read as promoting it, or reword it.",
                )
            )
    return results


def shortener_results(body: str) -> list[Result]:
    hosts = list(dict.fromkeys(m.group(1).lower() for m in _SHORTENER.finditer(body)))
    if not hosts:
        return []
    return [
        Result(
            Level.BLOCK,
            "url_shortener",
            f"Public link shorteners are filtered by US carriers ({_quoted(hosts)}).",
            "Use full links; the platform shortens them on the branded domain.",
        )
    ]


def disclaimer_results(body: str, *, political: bool) -> list[Result]:
    if not political or _PAID_FOR_BY.search(body):
        return []
    return [
        Result(
            Level.WARN,
            "political_disclaimer",
            "No “Paid for by” disclaimer: several states (CA, FL, WA) require one on "
            "political texts.",
            "Add “Paid for by <committee name>” (or a link to the disclosure page) to "
            "the first message.",
        )
    ]


def content_check(body: str, *, political: bool = False) -> list[Result]:
    """Every content problem in `body`, blocks and warnings, in rule order."""
    return [
        *category_results(body),
        *shortener_results(body),
        *disclaimer_results(body, political=political),
    ]


def blocks(results: list[Result]) -> list[Result]:
    return [r for r in results if r.level == Level.BLOCK]


def warnings(results: list[Result]) -> list[Result]:
    return [r for r in results if r.level == Level.WARN]
