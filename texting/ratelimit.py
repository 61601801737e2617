"""Per-sender-number rate limiter for the send engine: GCRA in one Redis Lua script.

Why GCRA in Redis
-----------------
* Celery's ``Task.rate_limit`` is enforced *per worker instance*, not globally: N workers
  at "10/s" send up to 10·N/s from one number. The carrier limit (MPS) is per sender
  number, across every worker and host, so the limiter has to be shared state.
* GCRA (generic cell rate algorithm) keeps ONE timestamp per key, the "theoretical arrival
  time" (TAT). There is no counter to drip and no background task (unlike a leaky bucket),
  and thousands of sender numbers cost one small string key each.
* Unlike a fixed one-second window (which lets 2·R through in a 1 s window straddling a
  boundary), GCRA spaces admissions out, so the sliding-window bound below holds.
* The whole check-and-update is a single Lua script (EVALSHA): atomic, one round trip, and
  it reads the clock with ``redis.call('TIME')`` so every worker on every host shares one
  clock (worker clock skew cannot leak into the schedule). Works on Redis 7 without
  modules (the native ``GCRA`` command only arrives in Redis 8.8; redis-cell is a module).

Units and semantics
-------------------
Everything is counted in SEGMENTS. The effective rate is ``R = mps * throttle`` segments
per second and the emission interval is ``T = 1/R`` (rounded UP to a whole microsecond, so
rounding can only make the limiter stricter). A message of ``n`` segments costs ``n·T``.

``burst`` is the number of segments that may go out back to back from an idle sender,
i.e. the GCRA tolerance is ``tau = (burst - 1)·T``. A request for ``n <= burst`` segments is
admitted when ``now >= TAT - (burst - n)·T``; then ``TAT = max(TAT, now) + n·T``. Put
differently, the outstanding time ``TAT - now`` may never exceed ``burst·T``.

* ``burst=1`` (the default) is perfectly smooth: single-segment admissions are at least
  ``T`` apart, so any half-open sliding 1-second window holds at most ``ceil(R)``
  segments -- exactly R for integer R. (The textbook ``tau = burst·T`` would let two
  through at once and put R+1 in a window; that is why tau is ``(burst-1)·T`` here.)
* In general, any sliding window of length W holds at most ``ceil(R·W) + burst - 1``
  segments.
* A message longer than the burst (e.g. 3 segments at 1 MPS) must still be sendable, so it
  is admitted only when the sender is fully idle (``TAT <= now``) and pushes
  ``TAT = now + n·T``: the sender then stays silent for ``n·T``. The 1 s window that
  contains such a message can hold up to ``R - 1 + n`` segments. Averaged over time, the
  rate is never exceeded.

A refused request consumes nothing; ``retry_after`` is the number of seconds until the same
request would be admitted (assuming nobody else reserves in between).

``penalize`` is for provider 429s: it moves TAT to at least ``now + seconds``. With the
default ``burst=1`` nothing is admitted for ``seconds``. With ``burst > 1``, sending resumes
up to ``(burst - 1)·T`` early, because the tolerance still applies.

Keys, expiry, failure mode
--------------------------
Key: ``rl:sender:<sender>``. Its value is the TAT in integer microseconds of Redis time.
Every write sets a PX TTL that ends slightly after the TAT, so idle senders vanish.
A missing key is the same as ``TAT <= now``. After a Redis restart or flush (or once a key
expires), the limiter re-seeds at ``now``. The worst case is one extra immediate send per
sender (``burst`` segments, or one oversize message), right at the moment of the
restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

__all__ = [
    "KEY_PREFIX",
    "Booking",
    "Fired",
    "Reservation",
    "fire",
    "landed",
    "penalize",
    "reserve",
    "reset",
    "schedule",
    "schedule_many",
    "unfire",
]

KEY_PREFIX = "rl:sender:"

# Extra lifetime after TAT before an idle key expires. Expiry exactly at TAT would be
# correct too (a missing key means TAT <= now). The slack just avoids racing the edge.
_TTL_SLACK_MS = 1000

# KEYS[1] = limiter key
# ARGV[1] = op: "reserve" | "penalize"
# reserve:  ARGV[2] = T (emission interval, integer µs), ARGV[3] = segments, ARGV[4] = burst
# penalize: ARGV[2] = penalty (integer µs)
# Returns {allowed (0/1), retry_after_us}. All times are integer microseconds of Redis TIME.
# string.format('%.0f') is used for writes because Lua's tostring (%.14g) would drop digits
# of a 16-digit microsecond timestamp.
_LUA = """
local key = KEYS[1]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or now)
local slack_ms = tonumber(ARGV[#ARGV])

local function store(new_tat)
  local ttl_ms = math.ceil((new_tat - now) / 1000) + slack_ms
  redis.call('SET', key, string.format('%.0f', new_tat), 'PX', ttl_ms)
end

if op == 'penalize' then
  local until_tat = now + tonumber(ARGV[2])
  if until_tat > tat then
    store(until_tat)
  end
  return {1, 0}
end

local interval = tonumber(ARGV[2])
local segments = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
if tat < now then
  tat = now
end

local allow_at
if segments <= burst then
  -- outstanding (TAT - now) after admission may not exceed burst * T
  allow_at = tat - (burst - segments) * interval
else
  -- oversize message: only from a fully idle sender
  allow_at = tat
end

if now < allow_at then
  return {0, allow_at - now}
end

store(tat + segments * interval)
return {1, 0}
"""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Outcome of :func:`reserve`. ``retry_after`` is 0.0 when allowed."""

    allowed: bool
    retry_after: float


@lru_cache(maxsize=8)
def _script_for(url: str) -> redis.commands.core.Script:
    client = redis.Redis.from_url(url)
    # register_script -> Script object: EVALSHA, transparently reloading on NOSCRIPT.
    return client.register_script(_LUA)


def _script() -> redis.commands.core.Script:
    return _script_for(settings.REDIS_URL)


def _client() -> redis.Redis:
    return _script().registered_client


def _key(sender: str) -> str:
    if not sender:
        raise ValueError("sender is required")
    return f"{KEY_PREFIX}{sender}"


def _interval_us(mps: float, throttle: float) -> int:
    if not mps > 0 or not math.isfinite(mps):
        raise ValueError(f"mps must be a positive number, got {mps!r}")
    if not 0 < throttle <= 1:
        raise ValueError(f"throttle must be in (0, 1], got {throttle!r}")
    # Round away float noise first (1e6/10 must stay 100000, not become 100001), then up.
    return max(1, math.ceil(round(1_000_000 / (mps * throttle), 6)))


def reserve(
    *,
    sender: str,
    mps: float,
    segments: int = 1,
    throttle: float = 1.0,
    burst: int = 1,
) -> Reservation:
    """Try to take ``segments`` segments of ``sender``'s budget right now.

    Rate = ``mps * throttle`` segments/s. ``burst`` = segments that may go back to back
    from an idle sender (1 = perfectly smooth). A message larger than ``burst`` is admitted
    only when the sender is idle. On refusal nothing is consumed, and ``retry_after`` is
    the number of seconds until this request would be admitted.
    """
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"segments must be an int >= 1, got {segments!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ValueError(f"burst must be an int >= 1, got {burst!r}")
    interval = _interval_us(mps, throttle)
    allowed, retry_us = _script()(
        keys=[_key(sender)],
        args=["reserve", interval, segments, burst, _TTL_SLACK_MS],
    )
    if allowed:
        return Reservation(allowed=True, retry_after=0.0)
    return Reservation(allowed=False, retry_after=int(retry_us) / 1_000_000)


def penalize(*, sender: str, seconds: float) -> None:
    """The provider throttled ``sender``: no admissions before ``now + seconds``.

    Moves the TAT to at least ``now + seconds``. It never pulls an already later TAT
    back. With ``burst > 1``, sending may resume up to ``(burst-1)·T`` early.
    """
    if not seconds >= 0 or not math.isfinite(seconds):
        raise ValueError(f"seconds must be a non-negative number, got {seconds!r}")
    _script()(
        keys=[_key(sender)],
        args=["penalize", math.ceil(seconds * 1_000_000), _TTL_SLACK_MS],
    )


def reset(*, sender: str) -> None:
    """Forget ``sender``'s state. Its next reservation starts from an idle bucket."""
    _client().delete(_key(sender))


# --- Look-ahead scheduling for the dispatcher --------------------------------------------
#
# `reserve` answers "may I send now?". The dispatcher asks a different question: "when
# may this message go?", and books that moment, up to `horizon` ahead. Claims are then
# sized to what the sender can send within the horizon, and no claim is ever taken only
# to be handed back.
#
# Two rules, both enforced in one script against Redis TIME:
# 1. spacing (GCRA): a message of n segments takes n emission intervals T = 1/rate; the
#    next one goes no earlier than the previous slot + n·T (a penalty moves this later);
# 2. the carrier's sliding window: the segments fired in any window of `window` seconds,
#    this one included, never exceed `limit`. Spacing alone keeps single-segment traffic
#    inside it, but a multi-segment message lands all its segments at once, so the slot
#    is pushed past the window's oldest entries until it fits.
# The dispatcher runs the rate a little under the carrier's MPS and the window a little
# longer than the carrier's (settings.DISPATCH_RATE_MARGIN), so that calls firing a
# little late are seldom refused at the window check (`fire`, below), which is what
# keeps the carrier's own window.
#
# KEYS[1] = TAT (the next free moment, µs), KEYS[2] = log (sorted set: member
# "<nonce>:<segments>", score = slot µs). ARGV = window_us, limit, horizon_us, slack_ms,
# catch_up_us (how far a message may go ahead of the GCRA pace when the sender has
# fallen behind it; the window still holds), then one (interval_us, segments, nonce, not_before_us from now) quadruple per message
# (a message not due yet is booked no earlier than that), booked in order until one
# does not fit. Returns one µs-from-now per message booked; if one did not fit, a last
# entry: -1 - (µs until asking again could succeed).
_SCHEDULE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local slack_ms = tonumber(ARGV[4])
local catch_up = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local out = {}
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local last_tat = nil
for k = 6, #ARGV, 4 do
  local interval = tonumber(ARGV[k])
  local segments = tonumber(ARGV[k + 1])
  local slot = tat - catch_up
  if slot < now then slot = now end
  local not_before = now + tonumber(ARGV[k + 3])
  if slot < not_before then slot = not_before end
  local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.0f', slot - window), '+inf', 'WITHSCORES')
  local count = 0
  for i = 1, #entries, 2 do
    count = count + tonumber(string.match(entries[i], ':(%d+)$'))
  end
  local i = 1
  while count > 0 and count + segments > limit and i <= #entries do
    count = count - tonumber(string.match(entries[i], ':(%d+)$'))
    local pushed = tonumber(entries[i + 1]) + window + 1
    if pushed > slot then slot = pushed end
    i = i + 2
  end
  if slot - now > horizon then
    out[#out + 1] = -1 - (slot - horizon - now)
    break
  end
  if slot > tat then tat = slot end
  tat = tat + segments * interval
  last_tat = tat
  redis.call('ZADD', KEYS[2], slot, ARGV[k + 2] .. ':' .. segments)
  out[#out + 1] = slot - now
end
if last_tat then
  local ttl = math.ceil((last_tat - now + window) / 1000) + slack_ms
  redis.call('SET', KEYS[1], string.format('%.0f', last_tat), 'PX', ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return out
"""

LOG_PREFIX = "rl:log:"


@dataclass(frozen=True, slots=True)
class Booking:
    """Outcome of :func:`schedule`: ``delay`` seconds from now until the booked slot, or
    (not booked) until asking again could succeed."""

    booked: bool
    delay: float


@lru_cache(maxsize=8)
def _schedule_script_for(url: str) -> redis.commands.core.Script:
    return redis.Redis.from_url(url).register_script(_SCHEDULE_LUA)


def schedule(
    *,
    sender: str,
    mps: float,
    segments: int,
    nonce: str,
    horizon: float,
    rate: float | None = None,
    margin: float = 1.0,
) -> Booking:
    """Book the earliest slot for a message of ``segments`` from ``sender``, if it falls
    within ``horizon`` seconds.

    ``mps`` is the carrier's limit for the sender: its window holds ``ceil(mps)`` segments
    over ``ceil(mps)/mps`` seconds, stretched by ``1/margin``. ``rate`` (segments/s, at
    most ``mps``) spaces messages out; default ``mps * margin``. ``nonce`` must be unique
    per message (the message id).
    """
    (booking,) = schedule_many(
        sender=sender,
        mps=mps,
        messages=[(segments, nonce, rate, 0.0)],
        horizon=horizon,
        margin=margin,
    )
    return booking


def schedule_many(
    *,
    sender: str,
    mps: float,
    messages: list[tuple[int, str, float | None, float]],
    horizon: float,
    margin: float = 1.0,
    catch_up: float = 0.0,
) -> list[Booking]:
    """:func:`schedule` for several messages of one sender, in order, in one round trip:
    ``messages`` is ``(segments, nonce, rate, not_before)`` per message, ``not_before``
    in seconds from now (0: as soon as the sender has room). Booking stops at the first
    that does not fit the horizon: the result holds the booked ones, then (if any did
    not fit) one unbooked Booking saying when to ask again.

    ``catch_up`` (seconds): a sender that fell behind its pace (a stalled call, a
    handover) may send up to that much early until it has caught up; the carrier's
    window still bounds every second. 0: strict spacing."""
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be in (0, 1], got {margin!r}")
    limit = max(1, math.ceil(mps))
    window_us = math.ceil(limit / mps / margin * 1_000_000)
    args: list = [
        window_us,
        limit,
        math.ceil(horizon * 1_000_000),
        _TTL_SLACK_MS,
        math.ceil(catch_up * 1_000_000),
    ]
    for segments, nonce, rate, not_before in messages:
        if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
            raise ValueError(f"segments must be an int >= 1, got {segments!r}")
        args += [
            _interval_us(min(rate or mps, mps) * margin, 1.0),
            segments,
            nonce,
            max(0, math.ceil(not_before * 1_000_000)),
        ]
    if not messages:
        return []
    answers = _schedule_script_for(settings.REDIS_URL)(
        keys=[_key(sender), f"{LOG_PREFIX}{sender}"], args=args
    )
    return [
        Booking(booked=True, delay=int(a) / 1_000_000)
        if int(a) >= 0
        else Booking(booked=False, delay=(-1 - int(a)) / 1_000_000)
        for a in answers
    ]


# At the moment of the call: the carrier's window, checked against when the calls really
# reached the carrier. Booking spaces slots out, but a call can start late (a busy CPU)
# and, worse, a thread can stall between this check and the request reaching the
# carrier. The carrier counts a request when it ARRIVES, so the window log must too:
# 1. `fire` refuses a call that would put more than `limit` segments in the last
#    `window` of call times, and otherwise marks the message IN FLIGHT (its own sorted
#    set, member -> deadline). An in-flight call counts in every check, whatever its age:
#    until it has answered, it may arrive at the carrier at any moment.
# 2. `landed` (after the provider answered) takes it out of flight and records, as its
#    log score, when it reached the carrier (the provider's accept time, or an upper
#    bound of it). A late call therefore pushes the next ones back by its real time,
#    never by its planned one.
# Together: when a call is checked, every earlier call is counted either in flight or at
# a time no earlier than its arrival, and the call itself arrives no earlier than its
# check; so no carrier window ever holds more than `limit`, however long any thread
# stalls. A flight whose worker died ends at its deadline.
# KEYS[1] = log, KEYS[2] = flights; ARGV = member, window_us, limit, segments, ttl_ms,
# flight_us. Returns {1, counted µs of Redis TIME as a string} or {0, µs until the
# window could have room (in-flight calls counted at their check time)}.
_FIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local member = ARGV[1]
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local segments = tonumber(ARGV[4])
local function seg(m) return tonumber(string.match(m, ':(%d+)$')) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local flying = {}
local times = {}
local count = 0
local flights = redis.call('ZRANGE', KEYS[2], 0, -1)
for i = 1, #flights do
  local m = flights[i]
  if m ~= member then
    flying[m] = true
    count = count + seg(m)
    times[#times + 1] = {tonumber(redis.call('ZSCORE', KEYS[1], m) or now), seg(m)}
  end
end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%.0f', now - window), string.format('%.0f', now), 'WITHSCORES')
for i = 1, #entries, 2 do
  local m = entries[i]
  if m ~= member and not flying[m] then
    count = count + seg(m)
    times[#times + 1] = {tonumber(entries[i + 1]), seg(m)}
  end
end
if count > 0 and count + segments > limit then
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
  table.sort(times, function(a, b) return a[1] < b[1] end)
  local wait = 1
  for i = 1, #times do
    count = count - times[i][2]
    local free = times[i][1] + window - now + 1
    if free > wait then wait = free end
    if count <= 0 or count + segments <= limit then break end
  end
  return {0, string.format('%.0f', wait)}
end
redis.call('ZADD', KEYS[1], 'GT', string.format('%.0f', now), member)
redis.call('ZADD', KEYS[2], string.format('%.0f', now + tonumber(ARGV[6])), member)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('PEXPIRE', KEYS[2], math.ceil(tonumber(ARGV[6]) / 1000) + tonumber(ARGV[5]))
return {1, string.format('%.0f', now)}
"""

# KEYS[1] = log, KEYS[2] = flights; ARGV = member, arrival_us (Redis clock), ttl_ms.
# Only ever moves the entry later (GT): the check time is a lower bound of the arrival.
_LANDED_LUA = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

FLIGHT_PREFIX = "rl:flight:"
# A call counts as in flight (in every window check) for at most this long: long enough
# for any provider request to have arrived, short enough that a worker killed mid-call
# does not hold its sender's window for long.
FLIGHT_SECONDS = 10.0


@lru_cache(maxsize=8)
def _fire_script_for(url: str) -> redis.commands.core.Script:
    return redis.Redis.from_url(url).register_script(_FIRE_LUA)


@lru_cache(maxsize=8)
def _landed_script_for(url: str) -> redis.commands.core.Script:
    return redis.Redis.from_url(url).register_script(_LANDED_LUA)


def _fire_keys(sender: str) -> list[str]:
    return [f"{LOG_PREFIX}{sender}", f"{FLIGHT_PREFIX}{sender}"]


def fire_window(*, mps: float, margin: float) -> float:
    """Seconds of call times `fire` checks: the carrier's window plus half the room the
    booking margin leaves. The other half absorbs firing jitter, so a call that starts
    on time is never refused; the guard covers a provider whose accept time we can only
    estimate (the moment of our request)."""
    carrier = max(1, math.ceil(mps)) / mps
    return carrier * (1 + (1 / margin - 1) / 2)


@dataclass(frozen=True, slots=True)
class Fired:
    """Outcome of :func:`fire`. True when the call may go: ``counted`` is the moment its
    check was counted (epoch seconds, Redis clock). Otherwise ``retry_after`` is the
    number of seconds until the window could have room for it."""

    counted: float | None
    retry_after: float = 0.0

    def __bool__(self) -> bool:
        return self.counted is not None


def fire(*, sender: str, nonce: str, segments: int, mps: float, margin: float = 1.0) -> Fired:
    """The booked message `nonce` is about to be sent (see :func:`schedule`): may it go
    now? When it may, it is in flight until :func:`landed` (or :func:`unfire`) says
    when it reached the carrier; when not, its booking is dropped."""
    window = fire_window(mps=mps, margin=margin)
    ok, value = _fire_script_for(settings.REDIS_URL)(
        keys=_fire_keys(sender),
        args=[
            f"{nonce}:{segments}",
            math.ceil(window * 1_000_000),
            max(1, math.ceil(mps)),
            segments,
            math.ceil(window * 1000) + _TTL_SLACK_MS,
            math.ceil(FLIGHT_SECONDS * 1_000_000),
        ],
    )
    if int(ok):
        return Fired(counted=int(value) / 1_000_000)
    return Fired(counted=None, retry_after=int(value) / 1_000_000)


def landed(*, sender: str, nonce: str, segments: int, mps: float, margin: float, at: float) -> None:
    """The call for `nonce` is over and reached the carrier at `at` (epoch seconds on the
    Redis clock; an upper bound when not known exactly): the window log counts it from
    then on, and it is no longer in flight."""
    window = fire_window(mps=mps, margin=margin)
    _landed_script_for(settings.REDIS_URL)(
        keys=_fire_keys(sender),
        args=[
            f"{nonce}:{segments}",
            math.ceil(at * 1_000_000),
            math.ceil(window * 1000) + _TTL_SLACK_MS,
        ],
    )


def unfire(*, sender: str, nonce: str, segments: int) -> None:
    """Take back a :func:`fire` whose call did not reach the carrier after all."""
    client = _fire_script_for(settings.REDIS_URL).registered_client
    member = f"{nonce}:{segments}"
    with client.pipeline(transaction=True) as pipe:
        pipe.zrem(f"{LOG_PREFIX}{sender}", member)
        pipe.zrem(f"{FLIGHT_PREFIX}{sender}", member)
        pipe.execute()
