"""Per-number health: delivered, failed and opted-out counts per sending number over the
last 24 hours, for the Compose tab's sender picker (Compose item 7).

The message table has no index by sender (every index there is paid per recipient on a
100k-row commit; docs/benchmarks.md), so health is not read from it. Instead the paths
that learn an outcome count it in Redis, in hourly buckets per number:

- delivery receipts (`texting.receipts`): `delivered` or `failed`, once per transition
  (a late or repeated receipt moves nothing and counts nothing);
- a STOP that opted a contact out (`texting.keywords`): `opted_out`, on the number it
  was sent to.

Writes are gathered per transaction and sent after its commit in one pipeline (a
rolled-back receipt counts nothing); a Redis failure loses counts, never the receipt.
Keys: `sender-health:<e164>:<YYYYMMDDHH>` (a hash), kept 25 hours.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import redis
from django.db import transaction
from django.utils import timezone

from .live import redis_client

log = logging.getLogger(__name__)

WINDOW_HOURS = 24
_TTL_SECONDS = (WINDOW_HOURS + 1) * 3600
DELIVERED, FAILED, OPTED_OUT = "delivered", "failed", "opted_out"
# Fewer finalized messages than this in the window: too few to judge a number.
MIN_FINALIZED = 20
WARN_DELIVERY_RATE = 0.90  # below: warning (the campaign health's threshold)
WARN_OPT_OUT_RATE = 0.02  # above: warning (carriers watch opt-out rates per number)

_pending = threading.local()


def _bucket(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%d%H")


def _key(e164: str, bucket: str) -> str:
    return f"sender-health:{e164}:{bucket}"


def count(e164: str, outcome: str) -> None:
    """Count one outcome for a sending number, after the current transaction commits
    (at once outside one). Several calls in one transaction go in one pipeline."""
    if not e164:
        return
    counts = getattr(_pending, "counts", None)
    if counts is None:
        counts = _pending.counts = Counter()
    counts[(e164, outcome)] += 1
    transaction.on_commit(_flush)


def _flush() -> None:
    counts = getattr(_pending, "counts", None)
    if not counts:
        return
    _pending.counts = Counter()
    bucket = _bucket(timezone.now())
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            for (e164, outcome), n in counts.items():
                key = _key(e164, bucket)
                pipe.hincrby(key, outcome, n)
                pipe.expire(key, _TTL_SECONDS)
            pipe.execute()
    except redis.RedisError:
        log.warning("sender health: %d counts lost (Redis unavailable)", sum(counts.values()))


@dataclass(frozen=True)
class SenderHealth:
    delivered: int = 0
    failed: int = 0
    opted_out: int = 0

    @property
    def finalized(self) -> int:
        return self.delivered + self.failed

    @property
    def delivery_rate(self) -> float | None:
        return self.delivered / self.finalized if self.finalized else None

    @property
    def opt_out_rate(self) -> float | None:
        return self.opted_out / self.finalized if self.finalized else None

    @property
    def state(self) -> str:
        """quiet (too few receipts to judge), ok or warning."""
        if self.finalized < MIN_FINALIZED:
            return "quiet"
        if self.delivery_rate < WARN_DELIVERY_RATE or self.opt_out_rate > WARN_OPT_OUT_RATE:
            return "warning"
        return "ok"


def sender_health(
    e164s: Iterable[str], *, now: datetime.datetime | None = None
) -> dict[str, SenderHealth | None]:
    """Each number's counts over the last WINDOW_HOURS (one pipeline of 24 reads per
    number). None for a number whose health could not be read (Redis unavailable)."""
    numbers = list(dict.fromkeys(e164s))
    now = now or timezone.now()
    buckets = [_bucket(now - datetime.timedelta(hours=h)) for h in range(WINDOW_HOURS)]
    try:
        with redis_client().pipeline(transaction=False) as pipe:
            for e164 in numbers:
                for bucket in buckets:
                    pipe.hgetall(_key(e164, bucket))
            rows = pipe.execute()
    except redis.RedisError:
        log.warning("sender health unavailable (Redis)")
        return dict.fromkeys(numbers)
    out: dict[str, SenderHealth | None] = {}
    for i, e164 in enumerate(numbers):
        total: Counter[str] = Counter()
        for row in rows[i * len(buckets) : (i + 1) * len(buckets)]:
            for field, value in row.items():
                total[field.decode()] += int(value)
        out[e164] = SenderHealth(
            delivered=total[DELIVERED], failed=total[FAILED], opted_out=total[OPTED_OUT]
        )
    return out
