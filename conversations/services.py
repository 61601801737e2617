"""Conversations: threads kept, replies queued, assignment, status, snooze, spam, macros.

Stable names the inbox UI (conversations.views) and the API call:

- `conversation_for_inbound(message, contact_created, campaign_id)`: the texting hook.
- `conversation_reply(conversation, body, actor, media_ids=())`: queue a reply.
- `conversation_update(conversation, actor, data, membership=None)`: status, assignee,
  snooze, tags; `update_requires(conversation, data)`: the capabilities that takes.
- `conversation_mark_read(conversation)`: unread back to 0.
- `reopen_snoozed(now=None)`: the beat task's work.
- `macro_create / macro_update / macro_delete`, `macro_send(macro, conversation_ids,
  actor, membership)`.
- `register_conversation_listener(fn)`: live updates (conversations.consumers).

Decisions (docs/architecture.md, "Conversations"):

- **Threads.** One row per (account, contact, our number), created when someone writes
  in: outbound campaign messages create none (a 100k send writes no conversation rows);
  their thread shows them anyway (the messages are found by the phone pair).
- **Labels**, set when the row is created: `unknown_sender` when this very message
  created the contact; else `unattached` when the message answers no campaign and our
  number is in the sender pool of no campaign that is scheduled, sending or paused.
- **Reopening**: a new inbound message reopens a resolved or snoozed conversation; a
  spam one stays spam (its phone is on the DNC list).
- **Replies** are one-to-one messages (no campaign, no kind) from the conversation's
  number, due at `PRIORITY_SEND_AFTER` so they go ahead of bulk traffic on that number,
  through the dispatcher's final check like every message. Refused at once (422) when
  the contact is opted out, on the DNC list, or its consent does not allow a manual
  send in the conversation's campaign mode (relationship mode when no campaign).
  **Quiet hours apply** (compliance.md §1.6 engine default: queue, don't drop): a reply
  written in the recipient's quiet hours is held by the final check until the window
  opens (the bubble shows `scheduled`). Links are left as written (no per-message short
  links: a person's reply is not a tracked campaign).
- **Search words**: each thread keeps the words of its inbound texts and staff replies
  (`Conversation.search`, a stripped tsvector), appended to as they come.
"""

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.postgres.search import SearchVectorField
from django.db import IntegrityError, connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Membership
from accounts.parsers import text_problem
from accounts.permissions import Capability, require
from compliance import rules
from compliance.eligibility import DNC, NO_OPT_IN, OPTED_OUT
from compliance.suppression import contact_mark_spam, dnc_listed
from contacts.models import Contact, SmsStatus
from phone_numbers.models import PhoneNumber
from providers.encoding import segment_count
from texting import merge, tasks
from texting.hooks import InboundMessage
from texting.media import MediaError, media_validate_ids
from texting.models import (
    PRIORITY_SEND_AFTER,
    Campaign,
    CampaignStatus,
    Direction,
    Message,
    MessageStatus,
)

from .models import AssignmentRecord, Conversation, ConversationLabel, ConversationStatus, Macro
from .selectors import conversation_scope_q

log = logging.getLogger(__name__)

MAX_SEGMENTS = 10  # a reply longer than this is refused (1530 GSM-7 characters)
MAX_TAGS, MAX_TAG_LENGTH = 20, 40
MAX_MACRO_BODY = 1600  # as a campaign's body; a longer reply is refused when sent anyway
PREVIEW = 160
ACTIVE_CAMPAIGN = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)


class ConversationInputError(ValueError):
    """Bad input: `field` names it; nothing changed (API: 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ReplyBlocked(Exception):
    """The compliance pre-flight refuses the reply (API: 422): `reason` is the code
    (opted_out, dnc, no_opt_in), `message` says why in words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ConversationStateError(Exception):
    """The conversation is in a state that refuses this (API: 409)."""


# --- Live updates -------------------------------------------------------------------

Listener = Callable[[str, Conversation, Message | None], None]
_listeners: list[Listener] = []


def register_conversation_listener(fn: Listener) -> Listener:
    """`fn(event, conversation, message)` after commit, for every change: event is
    "inbound" (a message arrived; `message` is it), "reply" (a reply was queued),
    "updated" (status, assignee, snooze, tags) or "read". Must not raise (logged)."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def _notify(event: str, conversation: Conversation, message: Message | None = None) -> None:
    if not _listeners:
        return

    def run() -> None:
        for fn in _listeners:
            try:
                fn(event, conversation, message)
            except Exception:
                log.warning("conversation listener %r failed", fn, exc_info=True)

    transaction.on_commit(run)


# --- Threads ------------------------------------------------------------------------

# One statement: a new thread, or the existing one brought up to date (and reopened
# unless spam). Concurrent inbound messages on one pair serialise on the unique index.
_UPSERT = """
INSERT INTO conversations_conversation AS c
    (account_id, contact_id, phone, our_number, campaign_id, label, status, tags, unread,
     last_message_at, last_inbound_at, last_preview, search, created_at, updated_at)
VALUES (%(account)s, %(contact)s, %(phone)s, %(ours)s, %(campaign)s, %(label)s, 'open',
        '[]'::jsonb, 1, %(at)s, %(at)s, %(preview)s, strip(to_tsvector('simple', %(body)s)),
        now(), now())
ON CONFLICT (account_id, contact_id, our_number) DO UPDATE SET
    unread = c.unread + 1,
    search = coalesce(c.search, ''::tsvector) || EXCLUDED.search,
    status = CASE WHEN c.status = 'spam' THEN c.status ELSE 'open' END,
    snooze_until = CASE WHEN c.status = 'spam' THEN c.snooze_until ELSE NULL END,
    campaign_id = coalesce(c.campaign_id, EXCLUDED.campaign_id),
    last_preview = CASE WHEN c.last_inbound_at IS NULL OR EXCLUDED.last_inbound_at >= c.last_inbound_at
                        THEN EXCLUDED.last_preview ELSE c.last_preview END,
    last_inbound_at = greatest(c.last_inbound_at, EXCLUDED.last_inbound_at),
    last_message_at = greatest(c.last_message_at, EXCLUDED.last_message_at),
    updated_at = now()
RETURNING id
"""


def number_unattached(*, account_id: int, our_number: str) -> bool:
    """Our number is in the sender pool of no campaign that is scheduled, sending or
    paused (a reply to it is not part of anything running)."""
    number_id = (
        PhoneNumber.objects.filter(account_id=account_id, e164=our_number)
        .values_list("pk", flat=True)
        .first()
    )
    if number_id is None:
        return True
    return not Campaign.objects.filter(
        account_id=account_id, status__in=ACTIVE_CAMPAIGN, sender_ids__contains=[number_id]
    ).exists()


def search_append(text: str) -> RawSQL:
    """The thread's `search` with `text`'s words added (an UPDATE's value)."""
    return RawSQL(
        "coalesce(search, ''::tsvector) || strip(to_tsvector('simple', %s))",
        (text,),
        output_field=SearchVectorField(),
    )


def conversation_for_inbound(
    *, message: Message, contact_created: bool, campaign_id: int | None
) -> Conversation:
    """File an inbound message in its thread: the conversation of (its phone, the
    number it was sent to), created or updated in one statement (unread + 1, last
    reply time and preview; reopened unless spam). The campaign is the one the first
    message answered. Registered as texting's inbound hook; runs in its transaction."""
    if contact_created:
        label = ConversationLabel.UNKNOWN_SENDER
    elif campaign_id is None and number_unattached(
        account_id=message.account_id, our_number=message.to_number
    ):
        label = ConversationLabel.UNATTACHED
    else:
        label = ConversationLabel.NONE
    preview = (message.body or ("[media]" if message.media else ""))[:PREVIEW]
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT,
            {
                "account": message.account_id,
                "contact": message.contact_id,
                "phone": message.from_number,
                "ours": message.to_number,
                "campaign": campaign_id,
                "label": label,
                "at": message.created_at,
                "preview": preview,
                "body": message.body or "",
            },
        )
        (conversation_id,) = cursor.fetchone()
    conversation = Conversation.objects.get(pk=conversation_id)
    _notify("inbound", conversation, message)
    return conversation


def conversation_from_hook(event: InboundMessage) -> None:
    """texting.hooks inbound handler (ConversationsConfig.ready)."""
    conversation_for_inbound(
        message=event.message,
        contact_created=event.contact_created,
        campaign_id=event.campaign_id,
    )


def conversation_mark_read(*, conversation: Conversation) -> None:
    """Everything in the thread has been seen: unread back to 0."""
    if conversation.unread:
        Conversation.objects.filter(pk=conversation.pk).update(unread=0)
        conversation.unread = 0
        _notify("read", conversation)


# --- Replies ------------------------------------------------------------------------


def _mode(conversation: Conversation) -> str:
    if conversation.campaign_id:
        mode = (
            Campaign.objects.filter(pk=conversation.campaign_id, account_id=conversation.account_id)
            .values_list("mode", flat=True)
            .first()
        )
        if mode:
            return mode
    return rules.RELATIONSHIP


def reply_preflight(*, conversation: Conversation, contact: Contact) -> None:
    """The compliance checks a reply must pass before it is queued (the dispatcher's
    final check runs again at send time). Raises ReplyBlocked."""
    if contact.sms_status == SmsStatus.OPTED_OUT:
        raise ReplyBlocked(OPTED_OUT, "This contact opted out; they cannot be texted.")
    if dnc_listed(account=conversation.account, phone=conversation.phone):
        raise ReplyBlocked(DNC, "This phone is on the do-not-contact list.")
    mode = _mode(conversation)
    if not rules.mode_allows(mode, contact.sms_status, rules.MANUAL):
        raise ReplyBlocked(
            NO_OPT_IN,
            f"This contact has not opted in ({contact.sms_status}); "
            f"{mode} mode does not allow texting them.",
        )


def _checked_media(conversation: Conversation, media_ids: Sequence[Any]) -> list[int]:
    """The attachments as ids of this account's media that fit one MMS (texting.media:
    at most 10, under the provider's size limit in all)."""
    ids: list[int] = []
    for raw in media_ids or ():
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            raise ConversationInputError("media_ids", f"{raw!r} is not a media id.") from None
    try:
        return media_validate_ids(account=conversation.account, media_ids=ids)
    except MediaError as exc:
        raise ConversationInputError("media_ids", str(exc)) from None


def conversation_reply(
    *,
    conversation: Conversation,
    body: str,
    actor: AbstractBaseUser | None,
    media_ids: Sequence[int] = (),
) -> Message:
    """Queue a reply in the thread: merge fields rendered for the contact, from the
    conversation's own number (sticky), ahead of bulk traffic on it, and kick the
    dispatcher once committed. Raises ConversationInputError (bad body or media),
    ReplyBlocked (compliance), ConversationStateError (a spam thread)."""
    body = (body or "").strip()
    media = _checked_media(conversation, media_ids)
    if not body and not media:
        raise ConversationInputError("body", "Write a message (or attach media).")
    errors = merge.validate(body)
    if errors:
        raise ConversationInputError("body", " ".join(errors))
    if conversation.status == ConversationStatus.SPAM:
        raise ConversationStateError("This conversation is marked as spam.")
    contact = Contact.objects.get(pk=conversation.contact_id)
    text = merge.render(body, contact)
    segments, encoding = segment_count(text)
    if segments > MAX_SEGMENTS:
        raise ConversationInputError(
            "body", f"The message is {segments} segments; at most {MAX_SEGMENTS}."
        )
    reply_preflight(conversation=conversation, contact=contact)
    with transaction.atomic():
        message = Message.objects.create(
            account_id=conversation.account_id,
            campaign=None,
            contact=contact,
            direction=Direction.OUTBOUND,
            from_number=conversation.our_number,
            to_number=conversation.phone,
            body=text,
            segments=segments,
            encoding=encoding,
            status=MessageStatus.QUEUED,
            send_after=PRIORITY_SEND_AFTER,  # ahead of bulk traffic on that number
            media_ids=media or None,
            idempotency_key=uuid.uuid4(),
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=message.created_at,
            unread=0,
            updated_at=timezone.now(),
            search=search_append(text),
        )
        conversation.last_message_at, conversation.unread = message.created_at, 0
        transaction.on_commit(lambda: tasks.kick_dispatch(loops=1))
        _notify("reply", conversation, message)
    return message


# --- Status, assignment, snooze, spam, tags -----------------------------------------

UPDATABLE = ("status", "assigned_to", "snooze_until", "tags")


def _checked_tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ConversationInputError("tags", "tags must be a list of strings.")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise ConversationInputError("tags", "Each tag must be a non-empty string.")
        tag = tag.strip()
        if len(tag) > MAX_TAG_LENGTH:
            raise ConversationInputError(
                "tags", f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters."
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ConversationInputError("tags", f"At most {MAX_TAGS} tags.")
    return tags


def _checked_assignee(conversation: Conversation, value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        user_id = int(value)
    except (TypeError, ValueError):
        raise ConversationInputError("assigned_to", "assigned_to must be a user id.") from None
    if not Membership.objects.filter(account_id=conversation.account_id, user_id=user_id).exists():
        raise ConversationInputError("assigned_to", "That user is not a member of this account.")
    return user_id


def _checked_snooze(value: Any):
    if value in (None, ""):
        return None
    when = value if hasattr(value, "tzinfo") else parse_datetime(str(value))
    if when is None:
        raise ConversationInputError("snooze_until", "snooze_until must be an ISO 8601 time.")
    if timezone.is_naive(when):
        when = timezone.make_aware(when)
    if when <= timezone.now():
        raise ConversationInputError("snooze_until", "snooze_until must be in the future.")
    return when


def _assignee_changes(conversation: Conversation, value: Any) -> bool:
    if value in (None, ""):
        return conversation.assigned_to_id is not None
    try:
        return int(value) != conversation.assigned_to_id
    except (TypeError, ValueError):
        return True  # not an id: the attempt is an assignment all the same


def update_requires(*, conversation: Conversation, data: dict[str, Any]) -> list[Capability]:
    """The capabilities a change needs (accounts.permissions), the API's and the page's
    alike: replying, plus assigning when the assignee changes, plus marking spam
    (which lists the phone on the DNC list) when the status becomes spam."""
    needed = [Capability.REPLY_CONVERSATIONS]
    if "assigned_to" in data and _assignee_changes(conversation, data["assigned_to"]):
        needed.append(Capability.ASSIGN_CONVERSATIONS)
    if data.get("status") == ConversationStatus.SPAM and conversation.status != data["status"]:
        needed.append(Capability.MARK_SPAM)
    return needed


def conversation_update(
    *,
    conversation: Conversation,
    actor: AbstractBaseUser | None,
    data: dict[str, Any],
    membership: Membership | None = None,
) -> Conversation:
    """Change status (open | resolved | snoozed | spam), assignee, snooze time, tags.
    `membership` is the member acting: their role must allow every part of the change
    (`update_requires`), else accounts.permissions.NotAllowed (403) and nothing
    changes; None for the system's own changes. All validated before anything changes
    (ConversationInputError names the field). `snoozed` needs a future
    `snooze_until`; leaving `snoozed` clears it. A new assignee is recorded in the
    history (AssignmentRecord, with who did it). `spam` puts the phone on the DNC list
    (reason spam) in the same transaction."""
    if membership is not None:
        for capability in update_requires(conversation=conversation, data=data):
            require(membership, capability)
    unknown = sorted(set(data) - set(UPDATABLE))
    if unknown:
        raise ConversationInputError(unknown[0], f"{unknown[0]} cannot be changed here.")
    changes: dict[str, Any] = {}
    status = data.get("status", conversation.status)
    if status not in ConversationStatus.values:
        raise ConversationInputError(
            "status", f"status must be one of {', '.join(ConversationStatus.values)}."
        )
    if "assigned_to" in data:
        changes["assigned_to_id"] = _checked_assignee(conversation, data["assigned_to"])
    if "tags" in data:
        changes["tags"] = _checked_tags(data["tags"])
    snooze = _checked_snooze(data["snooze_until"]) if "snooze_until" in data else None
    if status == ConversationStatus.SNOOZED:
        if snooze is None and not (
            "snooze_until" not in data
            and conversation.status == ConversationStatus.SNOOZED
            and conversation.snooze_until
        ):
            raise ConversationInputError(
                "snooze_until", "Snoozing needs snooze_until: when to reopen it."
            )
        if snooze is not None:
            changes["snooze_until"] = snooze
    elif snooze is not None:
        raise ConversationInputError("snooze_until", "snooze_until only goes with status snoozed.")
    else:
        changes["snooze_until"] = None
    if status != conversation.status:
        # Leaving spam keeps the DNC entry (removing it is the DNC page's decision,
        # audited there), so the thread still gets nothing sent.
        changes["status"] = status
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if membership is not None:  # again on the row as it is now: a reassignment by
            # someone else since it was read must not pass as "no change"
            for capability in update_requires(conversation=locked, data=data):
                require(membership, capability)
        assignee_changed = (
            "assigned_to_id" in changes and changes["assigned_to_id"] != locked.assigned_to_id
        )
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save()
        if assignee_changed:
            AssignmentRecord.objects.create(
                conversation=locked,
                assigned_to_id=changes["assigned_to_id"],
                assigned_by=actor if actor is not None and actor.is_authenticated else None,
            )
        if changes.get("status") == ConversationStatus.SPAM:
            contact_mark_spam(
                contact=Contact.objects.select_related("account").get(pk=locked.contact_id),
                actor=actor,
                note="Marked as spam in the inbox",
            )
        _notify("updated", locked)
    return locked


def reopen_snoozed(*, now=None) -> int:
    """Snoozed conversations whose time has come are open again (the beat task, every
    minute; index conversation_snoozed). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(status=ConversationStatus.SNOOZED, snooze_until__lte=now)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Conversation.objects.filter(pk__in=ids).update(
            status=ConversationStatus.OPEN, snooze_until=None, updated_at=now
        )
        if _listeners:
            for conversation in Conversation.objects.filter(pk__in=ids):
                _notify("updated", conversation)
    return len(ids)


# --- Macros -------------------------------------------------------------------------


def _checked_macro(account_id: int, name: Any, body: Any, *, exclude: int | None = None):
    name = (name or "").strip() if isinstance(name, str) else ""
    body = (body or "").strip() if isinstance(body, str) else ""
    if not name:
        raise ConversationInputError("name", "A macro needs a name.")
    if len(name) > 100:
        raise ConversationInputError("name", "name may be at most 100 characters.")
    if not body:
        raise ConversationInputError("body", "A macro needs a body.")
    if len(body) > MAX_MACRO_BODY:
        raise ConversationInputError(
            "body", f"A macro's body may be at most {MAX_MACRO_BODY} characters."
        )
    for field, text in (("name", name), ("body", body)):
        problem = text_problem(text)
        if problem:
            raise ConversationInputError(field, problem)
    errors = merge.validate(body)
    if errors:
        raise ConversationInputError("body", " ".join(errors))
    taken = Macro.objects.filter(account_id=account_id, name=name).exclude(pk=exclude).exists()
    if taken:
        raise ConversationInputError("name", f"A macro named {name!r} exists already.")
    return name, body


def macro_create(*, account, actor: AbstractBaseUser | None, name: str, body: str) -> Macro:
    """A saved reply (name unique in the account; merge fields checked)."""
    name, body = _checked_macro(account.pk, name, body)
    try:
        with transaction.atomic():
            return Macro.objects.create(account=account, name=name, body=body, created_by=actor)
    except IntegrityError:
        raise ConversationInputError("name", f"A macro named {name!r} exists already.") from None


def macro_update(*, macro: Macro, data: dict[str, Any]) -> Macro:
    name, body = _checked_macro(
        macro.account_id,
        data.get("name", macro.name),
        data.get("body", macro.body),
        exclude=macro.pk,
    )
    macro.name, macro.body = name, body
    macro.save(update_fields=["name", "body"])
    return macro


def macro_delete(*, macro: Macro) -> None:
    macro.delete()


@dataclass(frozen=True)
class MacroOutcome:
    conversation_id: int
    status: str  # "queued" or "refused"
    reason: str = ""  # code: opted_out, dnc, no_opt_in, not_found, spam, invalid
    message_id: int | None = None
    detail: str = ""


def macro_send_ids(raw_ids: Iterable[Any]) -> list[int]:
    """The conversation ids of a macro send: whole numbers (ints, or digit strings from
    a form), duplicates dropped, order kept. A list longer than
    settings.MACRO_SEND_MAX_CONVERSATIONS is refused before any item is read, and the
    rest is linear (issue 14: 100,000 ids deduplicated by list scans cost 47 s of web
    CPU). Raises ConversationInputError naming `conversation_ids`."""
    cap = settings.MACRO_SEND_MAX_CONVERSATIONS
    raw_ids = raw_ids if isinstance(raw_ids, list | tuple) else list(raw_ids)
    if len(raw_ids) > cap:
        raise ConversationInputError(
            "conversation_ids",
            f"At most {cap:,} conversations at once; this request names {len(raw_ids):,}.",
        )
    ids: dict[int, None] = {}  # an ordered set
    for raw in raw_ids:
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and _is_id(raw.strip()):
            value = int(raw.strip())
        else:
            raise ConversationInputError(
                "conversation_ids", f"{str(raw)[:40]!r} is not a conversation id."
            )
        ids[value] = None
    if not ids:
        raise ConversationInputError("conversation_ids", "Pick at least one conversation.")
    return list(ids)


def _is_id(text: str) -> bool:
    """ASCII digits a bigint column can hold ("²" and "٣" are digits to str.isdigit but
    not to int(), or not ids)."""
    return text.isascii() and text.isdigit() and len(text) <= 18


def macro_send(
    *,
    macro: Macro,
    conversation_ids: Iterable[int],
    actor: AbstractBaseUser | None,
    membership: Membership,
) -> list[MacroOutcome]:
    """Send the macro as a reply in each conversation (at most
    settings.MACRO_SEND_MAX_CONVERSATIONS, `macro_send_ids`), each through the same checks
    as `conversation_reply`; one refusal does not stop the others. A conversation the
    member may not see is `refused` / `not_found`."""
    ids = macro_send_ids(conversation_ids)
    visible = {
        c.pk: c
        for c in Conversation.objects.filter(account_id=macro.account_id, pk__in=ids)
        .filter(conversation_scope_q(membership=membership))
        .select_related("account")
    }
    outcomes: list[MacroOutcome] = []
    for conversation_id in ids:
        conversation = visible.get(conversation_id)
        if conversation is None:
            outcomes.append(MacroOutcome(conversation_id, "refused", "not_found"))
            continue
        try:
            message = conversation_reply(conversation=conversation, body=macro.body, actor=actor)
        except ReplyBlocked as exc:
            outcomes.append(
                MacroOutcome(conversation_id, "refused", exc.reason, detail=exc.message)
            )
        except ConversationStateError as exc:
            outcomes.append(MacroOutcome(conversation_id, "refused", "spam", detail=str(exc)))
        except ConversationInputError as exc:
            outcomes.append(MacroOutcome(conversation_id, "refused", "invalid", detail=exc.message))
        else:
            outcomes.append(MacroOutcome(conversation_id, "queued", message_id=message.pk))
    return outcomes
