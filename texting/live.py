"""Live campaign status: coalesced pushes of the status snapshot to `campaign.<id>`.

Hot paths (receipts, inbound, campaign transitions) call `campaign_changed(campaign_id)`
after every change; the dispatcher only marks its campaigns dirty
(`campaigns_changed(..., push=False)`) and leaves the push to the flush. Pushing per change would flood the
channel layer, which silently drops what a group cannot hold (performance.md §4), so:

- After the caller's transaction commits, one Lua call on Redis either takes the
  campaign's throttle (SET NX PX THROTTLE_MS: the *leading edge*) or marks the
  campaign dirty (SADD live:dirty). Only the leading edge does more: it reads the
  snapshot once and `group_send`s it whole, so every viewer gets the same frame and a
  dropped frame heals at the next one.
- The *trailing edge*: `flush_dirty` (texting.tasks.flush_live, beat every second)
  pushes each dirty campaign whose throttle has expired, so a change inside a throttle
  window is never the last thing a viewer missed. At most ~1000/THROTTLE_MS pushes
  per campaign per second however many messages move; fewer for a campaign whose
  snapshot is slow to read (the window stretches to COST_FACTOR times the read).
- Only watched campaigns are pushed: the WebSocket consumer keeps `live:watch:<id>`
  alive while a Status tab is open. Nobody watching, a change costs one Redis call.
- Nothing here raises into the caller: Redis or channel-layer trouble is logged and
  the dirty mark is restored so the next flush retries.

Frames carry the time their read began (`at`, wall clock) so a consumer can drop one
that arrives after a newer snapshot it already sent (group sends from different
processes race; hosts' clocks are assumed NTP-close).
"""

import json
import logging
import time
from collections.abc import Iterable

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

THROTTLE_MS = 300
COST_FACTOR = 10  # a snapshot that took t ms holds the next one back >= COST_FACTOR * t
DIRTY_KEY = "live:dirty"
THROTTLE_PREFIX = "live:throttle:"
LAST_PREFIX = "live:last:"  # the last frame pushed, to skip identical ones
LAST_TTL_SECONDS = 3600
MESSAGE_TYPE = "campaign.status"  # consumer handler: campaign_status
WATCH_PREFIX = "live:watch:"  # set while a Status tab has the campaign's socket open
WATCH_SECONDS = 30  # the consumer refreshes it every third of this

# Leading edge from a change: take the throttle and clear the dirty mark, or mark dirty.
# Nobody watching (KEYS[3] absent): nothing to do; a viewer gets a fresh read on connect.
_CHANGED = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
redis.call('SADD', KEYS[2], ARGV[2])
return 0
"""

# Trailing edge from the flusher: only a campaign still dirty, only once its throttle
# has expired, and only one flusher (whoever clears the mark) pushes it.
_CLAIM_DIRTY = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 0
end
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """A client on REDIS_URL for hot paths (live pushes, counters), one per URL."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        # Short timeouts: a Redis hiccup must cost a hot path milliseconds, not seconds.
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return client


def group_name(campaign_id: int) -> str:
    return f"campaign.{campaign_id}"


def watch(campaign_id: int) -> None:
    """Someone has the campaign's status open: pushes are worth their read for the next
    WATCH_SECONDS. Campaigns nobody watches cost no snapshot reads. Never raises."""
    try:
        redis_client().set(f"{WATCH_PREFIX}{campaign_id}", 1, ex=WATCH_SECONDS)
    except Exception:
        log.warning("live: could not mark campaign %s watched", campaign_id, exc_info=True)


def campaign_changed(campaign_id: int | None) -> None:
    """Tell viewers of the campaign that its numbers or status changed. Cheap (one Redis
    call, plus one snapshot read at most every THROTTLE_MS per campaign), safe from any
    thread, deferred until the caller's transaction commits, and it never raises."""
    if not campaign_id:
        return
    try:
        transaction.on_commit(lambda: _changed_now(int(campaign_id)))
    except Exception:
        log.warning("live: could not defer the push for campaign %s", campaign_id, exc_info=True)


def campaigns_changed(campaign_ids: Iterable[int | None], *, push: bool = True) -> None:
    """campaign_changed for each distinct campaign of a batch (a claim, a sweep).

    `push=False` only marks them dirty (one Redis call, after the caller's commit): the
    beat's flush pushes them within a second. The dispatcher uses it, so a send never
    waits behind a snapshot read and a channel-layer round trip."""
    ids = {int(i) for i in campaign_ids if i}
    if not ids:
        return
    if push:
        for campaign_id in ids:
            campaign_changed(campaign_id)
        return

    def mark() -> None:
        try:
            redis_client().sadd(DIRTY_KEY, *ids)
        except Exception:
            log.warning("live: Redis unavailable; campaigns %s not marked", ids, exc_info=True)

    try:
        transaction.on_commit(mark)
    except Exception:
        log.warning("live: could not defer marking campaigns %s", ids, exc_info=True)


def _changed_now(campaign_id: int) -> None:
    try:
        leading = redis_client().eval(
            _CHANGED,
            3,
            f"{THROTTLE_PREFIX}{campaign_id}",
            DIRTY_KEY,
            f"{WATCH_PREFIX}{campaign_id}",
            THROTTLE_MS,
            campaign_id,
        )
    except Exception:
        log.warning("live: Redis unavailable; campaign %s not pushed", campaign_id, exc_info=True)
        return
    if leading:
        push_snapshot(campaign_id)


def flush_dirty() -> int:
    """The trailing edge: push every dirty campaign whose throttle window has passed.
    Returns how many were pushed. Safe to run in several processes at once."""
    try:
        client = redis_client()
        members = client.smembers(DIRTY_KEY)
    except Exception:
        log.warning("live: Redis unavailable; dirty campaigns not flushed", exc_info=True)
        return 0
    pushed = 0
    for raw in members:
        campaign_id = int(raw)
        try:
            claimed = client.eval(
                _CLAIM_DIRTY,
                3,
                f"{THROTTLE_PREFIX}{campaign_id}",
                DIRTY_KEY,
                f"{WATCH_PREFIX}{campaign_id}",
                THROTTLE_MS,
                raw,
            )
        except Exception:
            log.warning("live: could not claim campaign %s", campaign_id, exc_info=True)
            continue
        if claimed and push_snapshot(campaign_id):
            pushed += 1
    return pushed


def push_snapshot(campaign_id: int) -> bool:
    """Read the snapshot and send it to the campaign's group (skipped when identical to
    the last one pushed). On failure the campaign is marked dirty again so the next
    flush retries. Returns whether a frame was sent."""
    from .models import Campaign
    from .selectors import campaign_status_snapshot

    try:
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            return False
        read_at, started = time.time(), time.monotonic()
        snapshot = campaign_status_snapshot(campaign=campaign)
        cost_ms = (time.monotonic() - started) * 1000
        encoded = json.dumps(snapshot, sort_keys=True)
        client = redis_client()
        if cost_ms * COST_FACTOR > THROTTLE_MS:
            # A big campaign's snapshot is a real read: widen its window so these reads
            # stay under ~1/COST_FACTOR of a database core, however busy it is.
            client.set(f"{THROTTLE_PREFIX}{campaign_id}", 1, px=int(cost_ms * COST_FACTOR))
        last_key = f"{LAST_PREFIX}{campaign_id}"
        if client.get(last_key) == encoded.encode():
            return False
        layer = get_channel_layer()
        if layer is None:
            return False
        frame = {"type": MESSAGE_TYPE, "snapshot": snapshot, "at": read_at}
        async_to_sync(layer.group_send)(group_name(campaign_id), frame)
        client.set(last_key, encoded, ex=LAST_TTL_SECONDS)
        return True
    except Exception:
        log.warning("live: push for campaign %s failed; will retry", campaign_id, exc_info=True)
        try:
            redis_client().sadd(DIRTY_KEY, campaign_id)
        except Exception:
            log.warning("live: could not re-mark campaign %s dirty", campaign_id, exc_info=True)
        return False
