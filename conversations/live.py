"""Live inbox: small, coalesced events pushed to the account's group
`account.<id>.conversations`.

An event names a conversation and what happened to it (`new_message`, `status` of an
outbound message, `update`: assignment, status, tags, read) and who holds it: never
text, names or phones. Browsers fetch what changed through the pages' own partials, so
what a user sees is decided by the same selectors as on load; the consumer
(conversations.consumers) additionally drops events of conversations a field user is
not assigned to, so not even an id leaks.

Coalescing, per account (a campaign's receipts can move thousands of conversations a
second, and the channel layer silently drops what a group cannot hold):

- After the caller's transaction commits, one Lua call appends the event to the
  account's pending list and either takes the account's throttle (SET NX PX
  THROTTLE_MS: the *leading edge*, which pushes everything pending as one frame) or
  marks the account dirty.
- The *trailing edge* is run by the open sockets themselves: every consumer calls
  `flush_account` once a second, and the same script lets exactly one of them push
  what is pending once the throttle has expired. Nobody connected, nothing to flush.
- Only watched accounts cost anything: the consumer keeps `live:conv:watch:<account>`
  alive; otherwise a change is one Redis call that does nothing.
- A burst larger than MAX_EVENTS becomes one `{"refresh": true}` frame: the page
  reloads its list instead of walking thousands of ids.
- Nothing here raises into the caller: Redis or channel-layer trouble is logged.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from texting.live import redis_client

log = logging.getLogger(__name__)

THROTTLE_MS = 300
MAX_EVENTS = 200  # more pending than this in one frame: tell pages to reload instead
WATCH_SECONDS = 30  # the consumer refreshes it every third of this
PENDING_TTL_SECONDS = 60
MESSAGE_TYPE = "conversations.changed"  # consumer handler: conversations_changed
DIRTY_KEY = "live:conv:dirty"
PENDING_PREFIX = "live:conv:pending:"
THROTTLE_PREFIX = "live:conv:throttle:"
WATCH_PREFIX = "live:conv:watch:"


class Kind:
    NEW_MESSAGE = "new_message"  # an inbound (or outbound) message joined the thread
    STATUS = "status"  # an outbound message's delivery status moved
    UPDATE = "update"  # assignment, status, snooze, tags, read


# From a change: queue the event; take the throttle (return everything pending, which
# the caller pushes) or mark the account dirty for the trailing edge.
_CHANGED = """
if redis.call('EXISTS', KEYS[4]) == 0 then return false end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[4]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  redis.call('SREM', KEYS[3], ARGV[3])
  local events = redis.call('LRANGE', KEYS[1], 0, -1)
  redis.call('DEL', KEYS[1])
  return events
end
redis.call('SADD', KEYS[3], ARGV[3])
return false
"""

# The trailing edge: only a dirty account, only once its throttle expired, and only
# one flusher (whoever takes the throttle) pushes what is pending.
_CLAIM = """
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0 then return false end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('SREM', KEYS[3], ARGV[2])
  local events = redis.call('LRANGE', KEYS[1], 0, -1)
  redis.call('DEL', KEYS[1])
  return events
end
return false
"""


ANY_WATCHED_KEY = "live:conv:any"  # some account has a page open (skip reads otherwise)


def group_name(account_id: int) -> str:
    return f"account.{account_id}.conversations"


def watch(account_id: int) -> None:
    """Someone has an inbox, thread or dashboard of the account open. Never raises."""
    try:
        client = redis_client()
        client.set(f"{WATCH_PREFIX}{account_id}", 1, ex=WATCH_SECONDS)
        client.set(ANY_WATCHED_KEY, 1, ex=WATCH_SECONDS)
    except Exception:
        log.warning("live: could not mark account %s watched", account_id, exc_info=True)


def conversation_changed(
    *,
    account_id: int,
    conversation_id: int,
    kind: str,
    assigned_to_id: int | None = None,
    previously_assigned_to_id: int | None = None,
    was_unassigned: bool = False,
) -> None:
    """Tell the account's open pages that a conversation changed. Deferred until the
    caller's transaction commits; one Redis call (plus a push at most every
    THROTTLE_MS per account); never raises.

    Who may hear it is decided by the consumer from `to` (the holders: the assignee,
    and `previously_assigned_to_id`, who just lost it and must see it leave their list)
    and `shared` (unassigned now or, `was_unassigned`, until this change: what a
    manager sees besides their own)."""
    holders = sorted({i for i in (assigned_to_id, previously_assigned_to_id) if i})
    event = {
        "id": int(conversation_id),
        "kind": kind,
        "to": holders,
        "shared": assigned_to_id is None or was_unassigned,
    }
    try:
        transaction.on_commit(lambda: _changed_now(int(account_id), event))
    except Exception:
        log.warning("live: could not defer the push for account %s", account_id, exc_info=True)


def _changed_now(account_id: int, event: dict) -> None:
    try:
        pending = redis_client().eval(
            _CHANGED,
            4,
            f"{PENDING_PREFIX}{account_id}",
            f"{THROTTLE_PREFIX}{account_id}",
            DIRTY_KEY,
            f"{WATCH_PREFIX}{account_id}",
            json.dumps(event, separators=(",", ":")),
            THROTTLE_MS,
            account_id,
            MAX_EVENTS + 1,
            PENDING_TTL_SECONDS,
        )
    except Exception:
        log.warning("live: Redis unavailable; account %s not pushed", account_id, exc_info=True)
        return
    if pending:
        _push(account_id, frame_for(pending))


def claim_pending(account_id: int) -> dict | None:
    """The trailing edge for one account: the frame to push if this caller won it."""
    try:
        pending = redis_client().eval(
            _CLAIM,
            3,
            f"{PENDING_PREFIX}{account_id}",
            f"{THROTTLE_PREFIX}{account_id}",
            DIRTY_KEY,
            THROTTLE_MS,
            account_id,
        )
    except Exception:
        log.warning("live: could not claim account %s", account_id, exc_info=True)
        return None
    return frame_for(pending) if pending else None


def flush_account(account_id: int) -> bool:
    """Push what is pending for the account if its throttle has expired (safe to call
    from every process at once: one of them wins). Returns whether a frame went."""
    frame = claim_pending(account_id)
    return _push(account_id, frame) if frame else False


def frame_for(pending: list) -> dict:
    """One group message from raw pending events: de-duplicated by (id, kind), holders
    merged; a burst over MAX_EVENTS becomes a reload."""
    if len(pending) > MAX_EVENTS:
        return {"type": MESSAGE_TYPE, "refresh": True, "events": []}
    merged: dict[tuple[int, str], dict] = {}
    for raw in pending:
        try:
            event = json.loads(raw)
        except (TypeError, ValueError):
            continue
        key = (event["id"], event["kind"])
        if key in merged:
            merged[key]["to"] = sorted(set(merged[key]["to"]) | set(event["to"]))
            merged[key]["shared"] = merged[key].get("shared") or event.get("shared", False)
        else:
            merged[key] = event
    return {"type": MESSAGE_TYPE, "refresh": False, "events": list(merged.values())}


def _push(account_id: int, frame: dict) -> bool:
    try:
        layer = get_channel_layer()
        if layer is None:
            return False
        async_to_sync(layer.group_send)(group_name(account_id), frame)
        return True
    except Exception:
        log.warning("live: push for account %s failed", account_id, exc_info=True)
        return False


# --- The listeners (registered in ConversationsConfig.ready) -------------------------

# conversations.services events → what the page does with them.
_SERVICE_KINDS = {
    "inbound": Kind.NEW_MESSAGE,
    "reply": Kind.NEW_MESSAGE,
    "updated": Kind.UPDATE,
    "read": Kind.UPDATE,
}
RECENT_ASSIGNMENT_SECONDS = 10


def on_conversation_event(event: str, conversation, message=None) -> None:
    """conversations.services listener (after commit): push the change. For a change
    of assignee the previous holder is told too (from the assignment history), so the
    thread leaves their list."""
    kind = _SERVICE_KINDS.get(event)
    if kind is None:
        return
    previous, was_unassigned = None, False
    if event == "updated":
        previous, was_unassigned = _previous_holder(conversation)
    conversation_changed(
        account_id=conversation.account_id,
        conversation_id=conversation.pk,
        kind=kind,
        assigned_to_id=conversation.assigned_to_id,
        previously_assigned_to_id=previous,
        was_unassigned=was_unassigned,
    )


def _previous_holder(conversation) -> tuple[int | None, bool]:
    import datetime

    from django.utils import timezone

    from .models import AssignmentRecord

    last_two = list(
        AssignmentRecord.objects.filter(conversation_id=conversation.pk)
        .order_by("-at", "-id")
        .values_list("assigned_to_id", "at")[:2]
    )
    if not last_two or last_two[0][0] != conversation.assigned_to_id:
        return None, False
    if timezone.now() - last_two[0][1] > datetime.timedelta(seconds=RECENT_ASSIGNMENT_SECONDS):
        return None, False  # not an assignment change just now
    if len(last_two) == 1:
        return None, True  # the first assignment: it was unassigned until now
    return last_two[1][0], last_two[1][0] is None


# Outbound messages whose status moved → the conversations of their phone pairs (the
# unique index one_conversation_per_pair: account, contact, our number).
_OUTBOUND_CONVERSATIONS = """
SELECT DISTINCT c.id, c.account_id, c.assigned_to_id
FROM texting_message m
JOIN conversations_conversation c
  ON c.account_id = m.account_id AND c.contact_id = m.contact_id AND c.our_number = m.from_number
WHERE m.id = ANY(%s) AND m.direction = 'outbound'
"""


def on_outbound_changed(message_ids: list[int]) -> None:
    """texting.hooks outbound listener (after commit): delivery status moved on these
    messages. Costs one Redis read when no inbox is open anywhere; otherwise one
    indexed query for the batch. Never raises."""
    try:
        if not redis_client().exists(ANY_WATCHED_KEY):
            return
    except Exception:
        return
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(_OUTBOUND_CONVERSATIONS, [list(message_ids)])
            rows = cursor.fetchall()
    except Exception:
        log.warning("live: could not map %s messages to conversations", len(message_ids))
        return
    for conversation_id, account_id, assigned_to_id in rows:
        conversation_changed(
            account_id=account_id,
            conversation_id=conversation_id,
            kind=Kind.STATUS,
            assigned_to_id=assigned_to_id,
        )
