"""Per-number MPS, enforced like a carrier: segments over a sliding 1-second window.

One Lua script does trim, count and add atomically against Redis's own clock (TIME), so
any number of processes share one consistent window per sender.
"""

import math
from functools import cache

import redis
from django.conf import settings

KEY_PREFIX = "sim:mps:"

# KEYS[1] window (sorted set: one member per segment, score = microseconds)
# ARGV: window_us, limit, parts, nonce[, arrival_us]. Returns {allowed (0|1), segments in
# window}. The request counts at its arrival (default: Redis TIME now).
# A message longer than the limit is let through into an empty window (it would
# otherwise never go); the window then stays full for its duration.
_SLIDING_WINDOW = """
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local parts = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count > 0 and count + parts > limit then
  return {0, count + parts}
end
for i = 1, parts do
  redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return {1, count + parts}
"""


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


@cache
def _script(url: str):
    return _client(url).register_script(_SLIDING_WINDOW)


def take_segments(
    *, sender: str, mps: float, parts: int, nonce: str, arrival_us: int | None = None
) -> tuple[bool, int, int]:
    """Try to put `parts` segments from `sender` on the wire now.

    Returns (allowed, segments in the window including these, limit). The window holds
    `ceil(mps)` segments over `ceil(mps) / mps` seconds: exactly one second for whole
    rates (10 MPS = 10 per second), longer for fractional ones (1.5 MPS = 2 per 1.33 s,
    0.5 MPS = 1 per 2 s), so the long-run rate never exceeds `mps`.

    `arrival_us` (epoch microseconds) is when the request reached the carrier: what it
    counts against the window, whatever the carrier did before counting it.
    """
    if mps <= 0:
        raise ValueError(f"{sender} has no throughput (mps={mps}).")
    limit = max(1, math.ceil(mps))
    window_us = int(limit / mps * 1_000_000)
    allowed, count = _script(settings.REDIS_URL)(
        keys=[KEY_PREFIX + sender],
        args=[window_us, limit, parts, nonce, *([arrival_us] if arrival_us else [])],
    )
    return bool(allowed), int(count), limit


def give_back_segments(*, sender: str, parts: int, nonce: str) -> None:
    """Undo `take_segments` for a request that turned out to send nothing."""
    _client(settings.REDIS_URL).zrem(
        KEY_PREFIX + sender, *[f"{nonce}:{i}" for i in range(1, parts + 1)]
    )
