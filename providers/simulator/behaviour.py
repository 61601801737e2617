"""What the simulated network does with a message, and the knobs that steer it.

Settings (config/settings.py, all from the environment):
- SIMULATOR_LATENCY_MS: sleep inside send(), like the API round trip.
- SIMULATOR_DELIVERED_RATIO / SIMULATOR_FAILED_RATIO: the rest is delivery_unconfirmed.
- SIMULATOR_REPLY_RATE: share of delivered messages the recipient answers;
  SIMULATOR_STOP_RATE: share of delivered messages answered "STOP" (part of the replies).
- SIMULATOR_RECEIPT_DELAY_MS: from message.sent to message.finalized.
- SIMULATOR_SEED: outcomes are drawn from Random(f"{seed}:{idempotency key}"), so the
  same message always gets the same fate, whichever worker handles it.
- SIMULATOR_DEFAULT_MPS: per kind, for senders the simulator did not provision itself.

Reserved recipients (fictional 202-555-01xx numbers) force an outcome for tests and
demos, whatever the ratios say:

| to            | what happens                                             |
|---------------|----------------------------------------------------------|
| +12025550100  | delivered                                                |
| +12025550101  | delivery_failed 40008 Undeliverable                      |
| +12025550102  | delivery_failed 40001 Not routable (landline)            |
| +12025550103  | delivery_failed 40012 Invalid destination                |
| +12025550104  | delivery_unconfirmed                                     |
| +12025550105  | delivered, then the recipient replies                    |
| +12025550106  | delivered, then the recipient replies STOP               |
| +12025550107  | delivered; the request reaches the carrier 1.2 s late    |
| +12025550110  | rejected at the API: 40300 Blocked due to STOP message   |
| +12025550111  | rejected at the API: 40310 Invalid 'to'                  |
"""

import random
from dataclasses import dataclass
from decimal import Decimal

import phonenumbers
from django.conf import settings

from ..base import NumberKind

DEFAULT_MPS: dict[str, float] = {"long": 10, "toll_free": 20, "short": 100}

ERROR_TITLES: dict[str, tuple[str, str]] = {
    "40001": ("Not routable", "The destination is a landline or cannot receive SMS."),
    "40002": ("Blocked as spam - temporary", "The message was flagged as spam by the carrier."),
    "40008": ("Undeliverable", "The message was rejected by the recipient carrier."),
    "40012": (
        "Invalid destination number",
        "The destination is unowned, deactivated or out of credit.",
    ),
    "40300": (
        "Blocked due to STOP message",
        "The recipient opted out of messages from this sender.",
    ),
    "40310": ("Invalid 'to' address", "The 'to' address is not a valid destination."),
}
# Failures drawn at random, weighted like a typical US campaign.
_RANDOM_FAILURES = (("40008", 5), ("40001", 3), ("40012", 2))


@dataclass(frozen=True)
class Fate:
    outcome: str  # delivered | delivery_failed | delivery_unconfirmed
    error_code: str = ""
    reply: str = ""  # "" | "reply" | "stop"


TEST_RECIPIENTS: dict[str, Fate] = {
    "+12025550100": Fate("delivered"),
    "+12025550101": Fate("delivery_failed", "40008"),
    "+12025550102": Fate("delivery_failed", "40001"),
    "+12025550103": Fate("delivery_failed", "40012"),
    "+12025550104": Fate("delivery_unconfirmed"),
    "+12025550105": Fate("delivered", reply="reply"),
    "+12025550106": Fate("delivered", reply="stop"),
    "+12025550107": Fate("delivered"),
}
API_REJECTIONS: dict[str, str] = {"+12025550110": "40300", "+12025550111": "40310"}
# Recipients whose send request reaches the carrier this many seconds after send() is
# called: what a sender thread stalled between its rate check and its request looks like
# from the carrier (the MPS window counts the request when it arrives).
SLOW_UPLINK_SECONDS: dict[str, float] = {"+12025550107": 1.2}

REPLIES = (
    "Thanks!",
    "Who is this?",
    "Yes, count me in.",
    "Not interested, thanks.",
    "What time does it start?",
    "Can you send me more info?",
    "Already voted!",
    "How do I volunteer?",
    "👍",
    "Sure, see you there",
)

CARRIERS = ("T-MOBILE USA, INC.", "AT&T", "VERIZON WIRELESS", "US CELLULAR")


def setting(name: str, default):
    return getattr(settings, name, default)


def rng_for(key: str) -> random.Random:
    return random.Random(f"{setting('SIMULATOR_SEED', '')}:{key}")


def decide_fate(*, to: str, idempotency_key: str) -> Fate:
    if to in TEST_RECIPIENTS:
        return TEST_RECIPIENTS[to]
    rng = rng_for(idempotency_key)
    delivered = float(setting("SIMULATOR_DELIVERED_RATIO", 0.95))
    failed = float(setting("SIMULATOR_FAILED_RATIO", 0.03))
    draw = rng.random()
    if draw < delivered:
        fate = Fate("delivered")
    elif draw < delivered + failed:
        codes, weights = zip(*_RANDOM_FAILURES, strict=True)
        return Fate("delivery_failed", rng.choices(codes, weights)[0])
    else:
        fate = Fate("delivery_unconfirmed")
    stop = float(setting("SIMULATOR_STOP_RATE", 0.01))
    any_reply = max(float(setting("SIMULATOR_REPLY_RATE", 0.05)), stop)
    draw = rng.random()
    if draw < stop:
        return Fate(fate.outcome, reply="stop")
    if draw < any_reply:
        return Fate(fate.outcome, reply="reply")
    return fate


def reply_text(*, kind: str, key: str) -> str:
    return "STOP" if kind == "stop" else rng_for(f"reply:{key}").choice(REPLIES)


def carrier_for(number: str) -> str:
    return CARRIERS[sum(map(ord, number)) % len(CARRIERS)]


def default_mps(kind: str) -> float:
    configured = setting("SIMULATOR_DEFAULT_MPS", DEFAULT_MPS) or DEFAULT_MPS
    return float(configured.get(kind, DEFAULT_MPS.get(kind, 1)))


def segment_cost(*, kind: str, parts: int) -> str:
    prices = setting("SEGMENT_PRICE", {})
    price = Decimal(str(prices.get(kind, "0.0070")))
    return f"{price * parts:.4f}"


# --- Fabricated inventory -------------------------------------------------------------
STATE_AREA_CODES: dict[str, tuple[str, ...]] = {
    "AL": ("205", "256"), "AK": ("907",), "AZ": ("480", "602"), "AR": ("479", "501"),
    "CA": ("213", "415", "510"), "CO": ("303", "720"), "CT": ("203", "860"), "DE": ("302",),
    "DC": ("202",), "FL": ("305", "407"), "GA": ("404", "470"), "HI": ("808",),
    "ID": ("208",), "IL": ("312", "773"), "IN": ("317", "219"), "IA": ("515", "319"),
    "KS": ("316", "785"), "KY": ("502", "859"), "LA": ("504", "225"), "ME": ("207",),
    "MD": ("410", "301"), "MA": ("617", "508"), "MI": ("313", "616"), "MN": ("612", "651"),
    "MS": ("601", "228"), "MO": ("314", "816"), "MT": ("406",), "NE": ("402", "308"),
    "NV": ("702", "775"), "NH": ("603",), "NJ": ("201", "973"), "NM": ("505", "575"),
    "NY": ("212", "718", "518"), "NC": ("704", "919"), "ND": ("701",), "OH": ("614", "216"),
    "OK": ("405", "918"), "OR": ("503", "971", "541"), "PA": ("215", "412"), "RI": ("401",),
    "SC": ("803", "843"), "SD": ("605",), "TN": ("615", "901"), "TX": ("512", "713", "214"),
    "UT": ("801", "385"), "VT": ("802",), "VA": ("804", "703"), "WA": ("206", "509"),
    "WV": ("304",), "WI": ("414", "608"), "WY": ("307",),
}  # fmt: skip
TOLL_FREE_PREFIXES = ("833", "844", "855", "866", "877", "888")


def state_for_area_code(area_code: str) -> str:
    return next((st for st, codes in STATE_AREA_CODES.items() if area_code in codes), "")


def fabricate_numbers(
    *, kind: NumberKind, state: str, area_code: str, locality: str, limit: int, taken: set[str]
) -> list[tuple[str, str]]:
    """Plausible available numbers as (e164, state); deterministic per query."""
    rng = rng_for(f"search:{kind}:{state}:{area_code}:{locality}")
    if kind == "short":
        pool = [str(rng.randint(20000, 99999)) for _ in range(limit * 3)]
        return [(n, "") for n in dict.fromkeys(pool) if n not in taken][:limit]
    if kind == "toll_free":
        prefixes: tuple[str, ...] = TOLL_FREE_PREFIXES
    elif area_code:
        prefixes = (area_code,)
    else:
        prefixes = STATE_AREA_CODES.get(state.upper(), ("503",))
    found: list[tuple[str, str]] = []
    for _ in range(limit * 20):
        if len(found) >= limit:
            break
        prefix = rng.choice(prefixes)
        exchange = rng.randint(200, 999)
        if exchange % 100 == 11 or exchange == 555:
            continue
        e164 = f"+1{prefix}{exchange}{rng.randint(0, 9999):04d}"
        if e164 in taken or any(e == e164 for e, _ in found):
            continue
        if not phonenumbers.is_valid_number(phonenumbers.parse(e164)):
            continue
        found.append(
            (e164, "" if kind == "toll_free" else (state.upper() or state_for_area_code(prefix)))
        )
    return found
