"""The compliance rules: quiet hours, frequency caps, automation budgets, mode gating.

Pure functions over plain data (times, zone names, state codes, counts, statuses): no
ORM inside a rule. The send engine evaluates them set-based at commit (once per distinct
(zones, state) group of an audience, `texting.commit`) and per message right before the
call (`texting.dispatch.final_check`); the SQL over message history lives in `texting`,
which hands its counts to these rules. Numbers and citations: the compliance reference
(`shared/reference/compliance.md`), cited by section below.

Quiet hours (§1.6, §3.1, §3.2, §4.3). A recipient may be texted only when their local
time is inside the allowed window for EVERY candidate zone and EVERY candidate state
(the most restrictive result wins). The window is the account's (Settings: quiet hours
start/end), never looser than the federal 08:00–21:00, narrowed by the state's row in
`STATE_RULES` for the local weekday. A message that would land in quiet hours is queued
until the earliest instant allowed everywhere (`next_allowed`), never dropped.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contacts.models import SmsStatus, TimezoneSource

from .eligibility import CAMPAIGN, RELATIONSHIP, SENT_DESPITE_OPT_OUT

UTC = datetime.UTC

# --- Windows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Allowed local wall-clock times on one day: `start` <= t < `end`. Never wraps
    midnight (every rule we encode ends by 21:00)."""

    start: datetime.time
    end: datetime.time

    def __bool__(self) -> bool:
        return self.start < self.end

    def contains(self, t: datetime.time) -> bool:
        return self.start <= t.replace(tzinfo=None) < self.end

    def narrowed(self, other: Window | None) -> Window | None:
        """The part of this window also inside `other` (None: `other` forbids the day)."""
        if other is None:
            return None
        return Window(max(self.start, other.start), min(self.end, other.end))


def _t(hour: int, minute: int = 0) -> datetime.time:
    return datetime.time(hour, minute)


# 47 CFR § 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. local
# time at the called party's location (§1.6). The engine applies it to every campaign
# message, consented or not, political too (§1.6 "Engine default").
FEDERAL = Window(_t(8), _t(21))
END_OF_DAY = datetime.time.max


def account_window(*, quiet_start: datetime.time, quiet_end: datetime.time) -> Window:
    """The account's allowed window from its quiet hours (Settings: quiet from
    `quiet_start` until `quiet_end`, 21:00 → 08:00 by default), never looser than
    `FEDERAL` (§1.6): the allowed part is `quiet_end` → `quiet_start`, cut to
    08:00–21:00. Quiet hours that do not cross midnight (e.g. 00:30 → 07:00) leave the
    rest of the day, which the federal window then cuts. The result may be empty (an
    account that allows only 06:00–07:00 can text nobody); `next_allowed` then finds
    no instant."""
    start = quiet_end
    end = quiet_start if quiet_start > quiet_end else END_OF_DAY
    return Window(max(start, FEDERAL.start), min(end, FEDERAL.end))


# --- The state table (§3.1) -----------------------------------------------------------


@dataclass(frozen=True)
class Cap:
    """At most `messages` marketing messages per recipient per rolling `hours`."""

    messages: int
    hours: int

    def implies(self, other: Cap) -> bool:
        """Whoever keeps this cap keeps `other` too (no more messages in a longer or
        equal window)."""
        return self.messages <= other.messages and self.hours >= other.hours


@dataclass(frozen=True)
class StateRule:
    """One row of the state table. `days`: the allowed window per weekday, Monday
    first; None forbids the day. `covers_texts`: the law is known to reach texts; rows
    the reference marks [UNVERIFIED] are False and apply only when a campaign asks
    (`compliance: {"unverified_state_rules": true}`). `no_holidays`: nothing on the
    state's and federal holidays. `source`: the reference row the values come from."""

    state: str
    days: tuple[Window | None, ...]
    source: str
    covers_texts: bool = True
    no_holidays: bool = False
    cap: Cap | None = None

    def window_on(self, day: datetime.date) -> Window | None:
        if self.no_holidays and is_holiday(self.state, day):
            return None
        return self.days[day.weekday()]


def _daily(window: Window) -> tuple[Window, ...]:
    return (window,) * 7


THREE_PER_DAY = Cap(messages=3, hours=24)
_8_TO_8 = _daily(Window(_t(8), _t(20)))
_8_TO_9 = _daily(Window(_t(8), _t(21)))

STATE_RULES: dict[str, StateRule] = {
    rule.state: rule
    for rule in (
        StateRule(
            "FL", _8_TO_8, "§3.1 Florida; §8 row 16 (Fla. Stat. 501.616(6))", cap=THREE_PER_DAY
        ),
        StateRule("OK", _8_TO_8, "§3.1 Oklahoma; §8 row 17 (15 O.S. 775C)", cap=THREE_PER_DAY),
        StateRule(
            "MD", _8_TO_8, "§3.1 Maryland; §8 row 18 (Stop the Spam Calls Act)", cap=THREE_PER_DAY
        ),
        StateRule("WA", _8_TO_8, "§3.1 Washington; §8 row 19 (RCW 80.36.390)"),
        StateRule("OR", _8_TO_8, "§3.1 Oregon; §8 row 22 (HB 3865)", cap=THREE_PER_DAY),
        StateRule("CT", _daily(Window(_t(9), _t(20))), "§3.1 Connecticut; §8 row 20 (CGS 42-288a)"),
        StateRule(
            "TX",
            (Window(_t(9), _t(21)),) * 6 + (Window(_t(12), _t(21)),),
            "§3.1 Texas; §8 row 21 (Tex. Bus. & Com. Code 301.051)",
        ),
        StateRule("VA", _8_TO_9, "§3.1 Virginia; §8 row 23 (§ 59.1-511)"),
        StateRule("NJ", _8_TO_9, "§3.1 New Jersey; §8 row 24 (N.J.S.A. 56:8-128)"),
        StateRule("TN", _8_TO_9, "§3.1 Tennessee (SB 868)"),
        # Whether texts are "telephonic sales calls" is [UNVERIFIED] (§3.1), and the law
        # reaches unsolicited calls only; our bulk sends all go to opted-in contacts.
        # Decision: in the table, off unless a campaign asks (covers_texts=False).
        StateRule(
            "RI",
            (Window(_t(9), _t(18)),) * 5 + (Window(_t(10), _t(17)), None),
            "§3.1 Rhode Island; §8 row 25 (R.I.G.L. 5-61-2(2), 3.6) [UNVERIFIED for texts]",
            covers_texts=False,
            no_holidays=True,
        ),
        # Stricter *call* hours from vendor tables (§3.1, after the table); whether they
        # reach texts is [UNVERIFIED]. Same treatment as RI.
        StateRule("KY", _daily(Window(_t(10), _t(21))), "§3.1 vendor tables [UNVERIFIED]", False),
        StateRule("MA", _8_TO_8, "§3.1 vendor tables [UNVERIFIED]", False),
        StateRule("MI", _daily(Window(_t(9), _t(21))), "§3.1 vendor tables [UNVERIFIED]", False),
        StateRule("MN", _daily(Window(_t(9), _t(21))), "§3.1 vendor tables [UNVERIFIED]", False),
        StateRule("NV", _daily(Window(_t(9), _t(20))), "§3.1 vendor tables [UNVERIFIED]", False),
    )
}


@cache
def _holidays(state: str, year: int) -> frozenset[datetime.date]:
    import holidays  # only the RI row needs it, and only when enabled

    try:
        return frozenset(holidays.US(subdiv=state, years=year))
    except NotImplementedError:  # not a subdivision the package knows
        return frozenset(holidays.US(years=year))


def is_holiday(state: str, day: datetime.date) -> bool:
    """A US federal holiday or one of `state`'s (the `holidays` package)."""
    return day in _holidays(state, day.year)


def state_rule(state: str, *, unverified: bool = False) -> StateRule | None:
    """The row that applies to `state` (None: only the federal/account window).
    `unverified`: also rows whose reach to texts is not established."""
    rule = STATE_RULES.get((state or "").upper())
    if rule is None or not (rule.covers_texts or unverified):
        return None
    return rule


def allowed_window(
    state: str, local_date: datetime.date, account_window: Window, *, unverified: bool = False
) -> Window | None:
    """The window in which a recipient in `state` may be texted on `local_date` (their
    local date): the account's window narrowed by the state's row for that weekday
    (§3.1; §4.3 `window = ∩ state_window ∩ federal`). None: not at all that day (RI on
    Sunday or a holiday). An unknown or blank state gets the account's window."""
    rule = state_rule(state, unverified=unverified)
    window = account_window if rule is None else account_window.narrowed(rule.window_on(local_date))
    return window if window else None


# --- Zones ---------------------------------------------------------------------------


@cache
def zone(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None when there is no such IANA zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zone(name: str) -> ZoneInfo:
    tz = zone(name)
    if tz is None:
        raise ValueError(f"{name!r} is not an IANA time zone (use recipient_zones)")
    return tz


def recipient_zones(
    *,
    candidates: Sequence[str] | None,
    timezone: str,
    source: str,
    account_zone: str,
) -> tuple[str, ...]:
    """The zones a recipient may be in (§4.3 `candidate_tz`): every candidate the data
    allows, else their best guess. Unknown (`timezone_source` = account default, or no
    valid zone at all) → the account's zone; Tech Check counts those as a warning."""
    if source == TimezoneSource.ACCOUNT_DEFAULT:
        return (account_zone,)
    names = [n for n in (candidates or [timezone]) if n and zone(n) is not None]
    return tuple(dict.fromkeys(names)) or (account_zone,)


def _states(states: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.upper() for s in states if s)) or ("",)


def is_quiet(
    moment_utc: datetime.datetime,
    zones: Sequence[str],
    states: Iterable[str],
    account_window: Window,
    *,
    unverified: bool = False,
) -> bool:
    """True when the recipient may NOT be texted at `moment_utc`: in some candidate
    zone, the local time is outside the window of some candidate state (§0 item 1,
    §4.3: allowed only if allowed for every zone and every state)."""
    states = _states(states)
    for name in zones:
        local = moment_utc.astimezone(_zone(name))
        for state in states:
            window = allowed_window(state, local.date(), account_window, unverified=unverified)
            if window is None or not window.contains(local.time()):
                return True
    return False


def wall_to_utc(day: datetime.date, at: datetime.time, zone_name: str) -> datetime.datetime:
    """The first instant the wall clock of `zone_name` reads `at` or later on `day`.
    The fall-back repeated hour gives its first occurrence; a time inside the
    spring-forward gap (it never appears on the clock) gives the moment of the jump,
    when the clock first shows a later time."""
    tz = _zone(zone_name)
    first = datetime.datetime.combine(day, at, tzinfo=tz)  # fold=0
    utc = first.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == first.replace(tzinfo=None):
        return utc
    # In a gap: fold=0 reads it with the offset before the jump (too late), fold=1 with
    # the one after (too early). The jump lies between; find it to the second.
    low = first.replace(fold=1).astimezone(UTC)
    high = utc
    target = datetime.datetime.combine(day, at)
    while high - low > datetime.timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= target:
            high = mid
        else:
            low = mid
    if high.microsecond:  # transitions fall on whole seconds
        high = high.replace(microsecond=0) + datetime.timedelta(seconds=1)
    return high


SEARCH_DAYS = 10  # a week, plus a holiday Monday after a forbidden Sunday, plus slack


def next_allowed(
    moment_utc: datetime.datetime,
    zones: Sequence[str],
    states: Iterable[str],
    account_window: Window,
    *,
    unverified: bool = False,
) -> datetime.datetime | None:
    """The earliest instant >= `moment_utc` allowed in every zone for every state
    (§4.3 "QUEUE until the earliest instant allowed in all tz"). DST-correct: window
    starts are wall-clock times turned into instants with zoneinfo per local date, so a
    search that crosses a spring-forward or fall-back day lands on 08:00 local, not
    07:00 or 09:00. None when no instant within `SEARCH_DAYS` is allowed (an account
    window that leaves nothing of a state's window)."""
    states = _states(states)
    if not is_quiet(moment_utc, zones, states, account_window, unverified=unverified):
        return moment_utc
    # The allowed set is an intersection of unions of [start, end) intervals, so its
    # earliest point after `moment` is one of the interval starts.
    starts: set[datetime.datetime] = set()
    for name in zones:
        today = moment_utc.astimezone(_zone(name)).date()
        for offset in range(SEARCH_DAYS + 1):
            day = today + datetime.timedelta(days=offset)
            for state in states:
                window = allowed_window(state, day, account_window, unverified=unverified)
                if window is not None:
                    at = wall_to_utc(day, window.start, name)
                    if at > moment_utc:
                        starts.add(at)
    for at in sorted(starts):
        if not is_quiet(at, zones, states, account_window, unverified=unverified):
            return at
    return None


# --- Frequency caps and budgets ------------------------------------------------------

# Default: at most 3 marketing messages per recipient per 7 days. Not a legal number
# (the states that cap say 3 per 24 h, §3.1), the engine's own default for good
# practice; a campaign may set its own (`compliance: {"frequency_cap": {"messages": N,
# "days": D}}`). State caps (§3.1, §8 rows 16–18, 22) apply on top, whatever is set.
DEFAULT_FREQUENCY_CAP = Cap(messages=3, hours=7 * 24)
# Automations (keyword flows, drips, triggers): at most 5 messages per recipient per
# day, a loop guard (DESIGN.md "automation daily budgets").
AUTOMATION_DAILY_BUDGET = 5


def frequency_cap(config: dict | None = None) -> Cap:
    """The default cap for a campaign: its `compliance.frequency_cap`, else
    `DEFAULT_FREQUENCY_CAP`. `config` is validated on input (`cap_config_errors`)."""
    custom = (config or {}).get("frequency_cap")
    if not custom:
        return DEFAULT_FREQUENCY_CAP
    return Cap(messages=int(custom["messages"]), hours=int(custom["days"]) * 24)


def caps_to_count(config: dict | None = None) -> list[tuple[Cap, tuple[str, ...] | None]]:
    """Every cap a campaign must respect, as (cap, states it applies to; None: every
    recipient). A state cap that the default cap already implies is left out (3 per
    7 days keeps 3 per 24 h), so the commit counts each window once."""
    default = frequency_cap(config)
    by_cap: dict[Cap, list[str]] = {}
    for rule in STATE_RULES.values():
        if rule.cap is not None and rule.covers_texts and not default.implies(rule.cap):
            by_cap.setdefault(rule.cap, []).append(rule.state)
    return [(default, None), *((cap, tuple(states)) for cap, states in by_cap.items())]


def within_cap(
    *,
    sent_by_hours: dict[int, int],
    state: str = "",
    config: dict | None = None,
    states: Sequence[str] = (),
) -> bool:
    """One more message keeps every cap that applies to a recipient in `state` (or any
    of `states`: the address's and the area code's), given how many they got in each
    window (`{hours: count}`, e.g. {168: 2, 24: 1})."""
    theirs = {s.upper() for s in (state, *states) if s}
    for cap, capped in caps_to_count(config):
        if capped is not None and not theirs & set(capped):
            continue
        if sent_by_hours.get(cap.hours, 0) >= cap.messages:
            return False
    return True


def automation_budget_left(*, sent_today: int, budget: int = AUTOMATION_DAILY_BUDGET) -> int:
    """Messages automations may still send a recipient today (0: the loop guard holds
    them until tomorrow). `sent_today`: automation messages to them since local
    midnight."""
    return max(0, budget - sent_today)


def cap_config_errors(config: dict) -> dict[str, str]:
    """Field errors for a campaign's `compliance` config ({field: message}); empty when
    valid. Known keys: `frequency_cap` {messages 1–50, days 1–30} and
    `unverified_state_rules` (bool)."""
    errors: dict[str, str] = {}
    for key in config:
        if key not in ("frequency_cap", "unverified_state_rules"):
            errors[key] = "Unknown compliance setting (frequency_cap, unverified_state_rules)."
    cap = config.get("frequency_cap")
    if cap is not None:
        ok = (
            isinstance(cap, dict)
            and set(cap) == {"messages", "days"}
            and all(isinstance(v, int) and not isinstance(v, bool) for v in cap.values())
        )
        if not ok:
            errors["frequency_cap"] = 'Give {"messages": N, "days": D} with whole numbers.'
        elif not (1 <= cap["messages"] <= 50 and 1 <= cap["days"] <= 30):
            errors["frequency_cap"] = "messages must be 1–50 and days 1–30."
    flag = config.get("unverified_state_rules")
    if flag is not None and not isinstance(flag, bool):
        errors["unverified_state_rules"] = "Must be true or false."
    return errors


# --- Mode gating ---------------------------------------------------------------------

BULK = "bulk"  # a campaign sent now
SCHEDULED = "scheduled"  # a campaign sent later, or recurring
AUTOMATION = "automation"  # drips, triggers, opt-in flows
MANUAL = "manual"  # one message, one person, sent by a human (P2P)
KEYWORD_REPLY = "keyword_reply"  # the answer to an inbound STOP / HELP / START
SEND_KINDS = (BULK, SCHEDULED, AUTOMATION, MANUAL, KEYWORD_REPLY)


def mode_allows(
    mode: str, sms_status: str, send_kind: str, *, reply_kind: str | None = None
) -> bool:
    """May a message of `send_kind` go to a contact whose consent is `sms_status`, in a
    campaign of `mode`? (§1.1, §8 rows 1–2; DESIGN.md "Compliance is structural".)

    - Opted out: never, except the replies CTIA requires whatever the subscription
      (`reply_kind` in `eligibility.SENT_DESPITE_OPT_OUT`: the STOP confirmation and
      the HELP answer).
    - Keyword replies otherwise always go: they answer the person who just wrote.
    - Relationship mode: a confirmed opt-in (`opted_in`) for every other kind.
    - Campaign mode: opted-in contacts by any kind; unconsented voters (`none`, or a
      double opt-in still `pending`) only by manual one-at-a-time sends.
    """
    if send_kind not in SEND_KINDS:
        raise ValueError(f"send_kind must be one of {', '.join(SEND_KINDS)}, not {send_kind!r}")
    if mode not in (RELATIONSHIP, CAMPAIGN):
        raise ValueError(f"mode must be {RELATIONSHIP} or {CAMPAIGN}, not {mode!r}")
    if sms_status == SmsStatus.OPTED_OUT:
        return send_kind == KEYWORD_REPLY and reply_kind in SENT_DESPITE_OPT_OUT
    if send_kind == KEYWORD_REPLY or sms_status == SmsStatus.OPTED_IN:
        return True
    return mode == CAMPAIGN and send_kind == MANUAL


def statuses_allowed(mode: str, send_kind: str) -> list[str]:
    """The consent statuses `mode_allows` lets through for this mode and kind (the
    commit turns it into SQL: one source of truth)."""
    return [s for s in SmsStatus.values if mode_allows(mode, s, send_kind)]
