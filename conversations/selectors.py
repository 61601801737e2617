"""Read-only queries over conversations (every one scoped to the account and, through
`accounts.permissions.ConversationScope`, to what the member may see).

Stable names the inbox UI (conversations.views) and the API use:

- `conversation_scope_q(membership)`: the rows a member may see (admin, viewer: all;
  manager: assigned to them + unassigned; field: assigned to them only).
- `ConversationFilters` / `filters_from_params(params)`: the inbox filters, validated.
- `conversation_list(account, membership, filters)`: the inbox, newest reply first.
- `access_conversation(account, membership, conversation_id)`: one row or 404.
- `thread_messages(conversation, before=None, limit=50)`: the thread, newest first.
- `conversation_tribes(conversation)`, `assignment_history(conversation)`,
  `recent_conversations(account, membership, limit)`, `macro_list(account)`,
  `access_macro(account, macro_id)`, `conversation_campaigns(account, ids)`.
"""

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Account, Membership
from accounts.permissions import ConversationScope, conversation_scope
from contacts.models import Tribe
from contacts.tribes import tribe_members
from texting.models import Campaign, Message

from .models import AssignmentRecord, Conversation, ConversationStatus, Macro

THREAD_PAGE = 50
Q_MAX = 200  # characters of a keyword search


class FilterError(ValueError):
    """A filter value that makes no sense; `field` names the query parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ConversationFilters:
    status: str | None = None  # one of ConversationStatus; None: every status
    unread: bool | None = None  # True: with unread messages; False: all read
    assigned_to_me: bool = False
    assigned_to: int | None = None  # a user id
    unassigned: bool = False
    campaign_id: int | None = None
    since: datetime.datetime | datetime.date | None = None  # last reply at or after
    until: datetime.datetime | datetime.date | None = None  # last reply at or before
    tribe_id: int | None = None
    q: str = ""  # full-text over the thread's message bodies


def _int(params: Mapping, name: str) -> int | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise FilterError(name, f"{name} must be a whole number, not {raw!r}.") from None
    if value <= 0:
        raise FilterError(name, f"{name} must be a positive id.")
    return value


def _bool(params: Mapping, name: str) -> bool | None:
    raw = (params.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise FilterError(name, f"{name} must be true or false, not {raw!r}.")


def _when(params: Mapping, name: str) -> datetime.datetime | datetime.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = parse_date(raw) if len(raw) == 10 else parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise FilterError(name, f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time.")
    if isinstance(value, datetime.datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def filters_from_params(params: Mapping) -> ConversationFilters:
    """The inbox filters from query parameters (`status`, `unread`, `assigned` = me |
    none | a user id, `campaign`, `since`, `until`, `tribe`, `q`). Raises FilterError
    naming the parameter for a bad value."""
    status = (params.get("status") or "").strip() or None
    if status is not None and status not in ConversationStatus.values:
        raise FilterError(
            "status", f"status must be one of {', '.join(ConversationStatus.values)}."
        )
    assigned = (params.get("assigned") or "").strip()
    assigned_to, me, unassigned = None, False, False
    if assigned == "me":
        me = True
    elif assigned == "none":
        unassigned = True
    elif assigned:
        assigned_to = _int(params, "assigned")
    q = (params.get("q") or "").strip()
    if len(q) > Q_MAX:
        raise FilterError("q", f"q may be at most {Q_MAX} characters.")
    return ConversationFilters(
        status=status,
        unread=_bool(params, "unread"),
        assigned_to_me=me,
        assigned_to=assigned_to,
        unassigned=unassigned,
        campaign_id=_int(params, "campaign"),
        since=_when(params, "since"),
        until=_when(params, "until"),
        tribe_id=_int(params, "tribe"),
        q=q,
    )


def conversation_scope_q(*, membership: Membership) -> Q:
    """The conversations `membership` may see: admin and viewer every one of the
    account; manager those assigned to them and the unassigned (shared) ones; field
    user only those assigned to them."""
    scope = conversation_scope(membership.role)
    if scope == ConversationScope.ASSIGNED:
        return Q(assigned_to_id=membership.user_id)
    if scope == ConversationScope.ASSIGNED_AND_SHARED:
        return Q(assigned_to_id=membership.user_id) | Q(assigned_to__isnull=True)
    return Q()


# Threads whose words (`Conversation.search`: inbound texts and staff replies, kept by
# conversations.services) match: the GIN index conversation_search. One row per
# thread, so a common word costs what the matching threads cost, not every message
# that has it.
_SEARCH = "conversations_conversation.search @@ plainto_tsquery('simple', %s)"


def conversation_list(
    *,
    account: Account,
    membership: Membership,
    filters: ConversationFilters | None = None,
) -> QuerySet[Conversation]:
    """The inbox: the account's conversations `membership` may see, filtered, newest
    reply first (`-last_inbound_at`, `-id`), with the contact loaded (prefetched)."""
    f = filters or ConversationFilters()
    qs = Conversation.objects.filter(account=account).filter(
        conversation_scope_q(membership=membership)
    )
    if f.status:
        qs = qs.filter(status=f.status)
    if f.unread is True:
        qs = qs.filter(unread__gt=0)
    elif f.unread is False:
        qs = qs.filter(unread=0)
    if f.assigned_to_me:
        qs = qs.filter(assigned_to_id=membership.user_id)
    elif f.unassigned:
        qs = qs.filter(assigned_to__isnull=True)
    elif f.assigned_to is not None:
        qs = qs.filter(assigned_to_id=f.assigned_to)
    if f.campaign_id is not None:
        qs = qs.filter(campaign_id=f.campaign_id)
    if f.since is not None:
        if isinstance(f.since, datetime.datetime):
            qs = qs.filter(last_inbound_at__gte=f.since)
        else:
            qs = qs.filter(last_inbound_at__date__gte=f.since)
    if f.until is not None:
        if isinstance(f.until, datetime.datetime):
            qs = qs.filter(last_inbound_at__lte=f.until)
        else:
            qs = qs.filter(last_inbound_at__date__lte=f.until)
    if f.tribe_id is not None:
        tribe = Tribe.objects.filter(account=account, pk=f.tribe_id).first()
        if tribe is None:
            raise FilterError("tribe", "No such Tribe in this account.")
        qs = qs.filter(contact_id__in=tribe_members(tribe=tribe).values("pk"))
    if f.q:
        qs = qs.filter(RawSQL(_SEARCH, (f.q,), output_field=BooleanField()))
    # Contacts are fetched for the page only (prefetch), not joined before the sort:
    # a join would read a contact for every matching thread, not for the 50 shown.
    return qs.prefetch_related("contact").order_by("-last_inbound_at", "-id")


def access_conversation(
    *, account: Account, membership: Membership, conversation_id: int
) -> Conversation:
    """One conversation the member may see; Http404 otherwise (another account's, or
    outside their scope: a field user asking for someone else's thread)."""
    conversation = (
        Conversation.objects.filter(account=account, pk=conversation_id)
        .filter(conversation_scope_q(membership=membership))
        .select_related("contact", "assigned_to")
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


_THREAD_SIDE = """
(SELECT {cols} FROM texting_message
 WHERE account_id = %(account)s AND {pair} AND direction = '{direction}'{before}
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s)
"""
_THREAD_COLUMNS = (
    "id, account_id, campaign_id, contact_id, direction, from_number, to_number, body, "
    "segments, status, kind, media_ids, media, error_code, error_reason, created_at, "
    "sent_at, delivered_at, failed_at, send_after"
)


def thread_messages(
    *, conversation: Conversation, before: int | None = None, limit: int = THREAD_PAGE
) -> list[Message]:
    """The thread's messages, newest first, at most `limit`: outbound from our number to
    the phone (campaign messages, replies, keyword confirmations; index
    message_to_recent) and inbound from the phone to our number (index
    message_from_recent_inbound). `before`: a message id of this thread; only older
    messages come back (keyset on (created_at, id)), for loading as you scroll up.
    Raises Http404 for a `before` that is not a message of this account."""
    limit = max(1, min(int(limit), 200))
    params = {
        "account": conversation.account_id,
        "phone": conversation.phone,
        "ours": conversation.our_number,
        "limit": limit,
    }
    before_sql = ""
    if before is not None:
        anchor = (
            Message.objects.filter(account_id=conversation.account_id, pk=before)
            .values_list("created_at", "id")
            .first()
        )
        if anchor is None:
            raise Http404("No such message.")
        params["b_at"], params["b_id"] = anchor
        before_sql = " AND (created_at, id) < (%(b_at)s, %(b_id)s)"
    outbound = _THREAD_SIDE.format(
        cols=_THREAD_COLUMNS,
        pair="to_number = %(phone)s AND from_number = %(ours)s",
        direction="outbound",
        before=before_sql,
    )
    inbound = _THREAD_SIDE.format(
        cols=_THREAD_COLUMNS,
        pair="from_number = %(phone)s AND to_number = %(ours)s",
        direction="inbound",
        before=before_sql,
    )
    sql = (
        f"SELECT * FROM ({outbound} UNION ALL {inbound}) t "
        "ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
    )
    return list(Message.objects.raw(sql, params))


def conversation_tribes(*, conversation: Conversation) -> list[Tribe]:
    """The account's Tribes the conversation's contact belongs to (the thread header)."""
    tribes = Tribe.objects.filter(account_id=conversation.account_id).order_by("name")
    return [t for t in tribes if tribe_members(tribe=t).filter(pk=conversation.contact_id).exists()]


def assignment_history(*, conversation: Conversation) -> QuerySet[AssignmentRecord]:
    """Who held the conversation, newest first."""
    return conversation.assignments.select_related("assigned_to", "assigned_by")


def recent_conversations(
    *, account: Account, membership: Membership, limit: int = 5
) -> list[Conversation]:
    """The dashboard's recent replies: the newest `limit` conversations with a reply
    that the member may see."""
    return list(
        conversation_list(account=account, membership=membership).filter(
            last_inbound_at__isnull=False
        )[:limit]
    )


def conversation_campaigns(*, account: Account, ids) -> dict[int, Campaign]:
    """The campaigns that started these conversations, by id (one query)."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return {
        c.pk: c
        for c in Campaign.objects.filter(account=account, pk__in=ids).only(
            "id", "name", "mode", "status"
        )
    }


def macro_list(*, account: Account) -> QuerySet[Macro]:
    return Macro.objects.filter(account=account)


def access_macro(*, account: Account, macro_id: int) -> Macro:
    macro = Macro.objects.filter(account=account, pk=macro_id).first()
    if macro is None:
        raise Http404("No such macro.")
    return macro
