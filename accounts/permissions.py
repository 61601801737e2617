"""The role matrix: the one place that says who may do what.

Every API view and page asks `can(membership, capability, obj=None)` (or one of the
scope helpers) instead of comparing role names itself.

| role    | compose | send | schedule/automate | conversations     | numbers | stats     |
|---------|---------|------|-------------------|-------------------|---------|-----------|
| admin   | yes     | yes  | yes               | all               | manage  | all       |
| manager | yes     | yes  | yes               | assigned + shared | view    | all       |
| field   | no      | no   | no                | assigned only     | no      | limited   |
| viewer  | no      | no   | no                | read-only         | no      | read-only |

Anyone who can see a live campaign can pause it (`PAUSE_CAMPAIGN` for every role).
Contacts are the shared address book: everyone reads them, composers edit them.
The do-not-contact list likewise: everyone reads it, admins and managers change it,
and only they mark a thread or a contact as spam (which lists its phone).
Conversations: admins and managers assign threads; whoever may reply writes macros and
changes or deletes their own; admins and managers change or delete anyone's.

One policy for the API and the pages (issue 14): DRF views declare capabilities
(`accounts.api.HasCapability`), pages use `member_page` / `require_capability`, both end
in `can()`, and templates read the same answers (`can.*` from the context processor,
`may_*` flags computed with `can()`), so a control is hidden exactly where the action is
refused. Two rules live here rather than in the views:

- **Prerequisites** (`REQUIRES`): a capability counts only when the role also holds what
  it implies. Marking spam puts the phone on the do-not-contact list, so `MARK_SPAM`
  needs `MANAGE_DNC`: a role that may not "Add to DNC" may not mark spam either (a field
  user is refused, 403, and the page says to ask an admin or a manager), rather than
  a spam mark that silently skips the DNC list.
- **Ownership** (`OWN_OR_ANY`): with an object, `can(membership, EDIT_MACROS, macro)`
  allows one's own macro (`created_by`), anyone's only with `EDIT_ANY_MACRO`; message
  templates the same (`EDIT_TEMPLATES`, `EDIT_ANY_TEMPLATE`: admins).
"""

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied

from .models import Role

if TYPE_CHECKING:
    from .models import Membership


class Capability(StrEnum):
    COMPOSE = "compose"
    SEND = "send"
    AUTOMATE = "automate"  # schedule sends, automations
    PAUSE_CAMPAIGN = "pause_campaign"
    VIEW_CONTACTS = "view_contacts"
    EDIT_CONTACTS = "edit_contacts"
    VIEW_CONVERSATIONS = "view_conversations"
    REPLY_CONVERSATIONS = "reply_conversations"
    VIEW_NUMBERS = "view_numbers"
    MANAGE_NUMBERS = "manage_numbers"
    VIEW_STATS = "view_stats"
    MANAGE_ACCOUNT = "manage_account"
    MANAGE_DNC = "manage_dnc"  # add to / remove from the do-not-contact list
    # A thread or a contact as spam: its phone goes on the do-not-contact list.
    MARK_SPAM = "mark_spam"
    ASSIGN_CONVERSATIONS = "assign_conversations"  # hand a thread to a member
    EDIT_MACROS = "edit_macros"  # create macros; change or delete one's own
    EDIT_ANY_MACRO = "edit_any_macro"  # change or delete another member's macro
    EDIT_TEMPLATES = "edit_templates"  # change or delete one's own message templates
    EDIT_ANY_TEMPLATE = "edit_any_template"  # another member's shared ones, the starters
    SIMULATE = "simulate"  # inject simulated carrier traffic
    # Everything the account holds on one phone number (personal data): admin, manager.
    EXPORT_AUDIT_TRAIL = "export_audit_trail"


class ConversationScope(StrEnum):
    ALL = "all"
    ASSIGNED_AND_SHARED = "assigned_and_shared"
    ASSIGNED = "assigned"
    READ_ONLY = "read_only"


class StatsScope(StrEnum):
    ALL = "all"
    LIMITED = "limited"
    READ_ONLY = "read_only"


_C = Capability
MATRIX: dict[str, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.MANAGER: frozenset(
        {
            _C.COMPOSE,
            _C.EDIT_TEMPLATES,
            _C.SEND,
            _C.AUTOMATE,
            _C.PAUSE_CAMPAIGN,
            _C.VIEW_CONTACTS,
            _C.EDIT_CONTACTS,
            _C.VIEW_CONVERSATIONS,
            _C.REPLY_CONVERSATIONS,
            _C.ASSIGN_CONVERSATIONS,
            _C.EDIT_MACROS,
            _C.EDIT_ANY_MACRO,
            _C.VIEW_NUMBERS,
            _C.VIEW_STATS,
            _C.MANAGE_DNC,
            _C.MARK_SPAM,
            _C.EXPORT_AUDIT_TRAIL,
        }
    ),
    Role.FIELD: frozenset(
        {
            _C.PAUSE_CAMPAIGN,
            _C.VIEW_CONTACTS,
            _C.VIEW_CONVERSATIONS,
            _C.REPLY_CONVERSATIONS,
            _C.EDIT_MACROS,
            _C.VIEW_STATS,
        }
    ),
    Role.VIEWER: frozenset(
        {_C.PAUSE_CAMPAIGN, _C.VIEW_CONTACTS, _C.VIEW_CONVERSATIONS, _C.VIEW_STATS}
    ),
}

CONVERSATION_SCOPE = {
    Role.ADMIN: ConversationScope.ALL,
    Role.MANAGER: ConversationScope.ASSIGNED_AND_SHARED,
    Role.FIELD: ConversationScope.ASSIGNED,
    Role.VIEWER: ConversationScope.READ_ONLY,
}

STATS_SCOPE = {
    Role.ADMIN: StatsScope.ALL,
    Role.MANAGER: StatsScope.ALL,
    Role.FIELD: StatsScope.LIMITED,
    Role.VIEWER: StatsScope.READ_ONLY,
}


# A capability counts only with these as well (see the module docstring).
REQUIRES: dict[Capability, frozenset[Capability]] = {
    _C.MARK_SPAM: frozenset({_C.MANAGE_DNC}),
    _C.ASSIGN_CONVERSATIONS: frozenset({_C.REPLY_CONVERSATIONS}),
    _C.EDIT_MACROS: frozenset({_C.REPLY_CONVERSATIONS}),
    _C.EDIT_ANY_MACRO: frozenset({_C.EDIT_MACROS}),
    _C.EDIT_TEMPLATES: frozenset({_C.COMPOSE}),
    _C.EDIT_ANY_TEMPLATE: frozenset({_C.EDIT_TEMPLATES}),
}

# With an object: the capability covers the member's own (`obj.created_by_id`); another
# member's needs the second one.
OWN_OR_ANY: dict[Capability, Capability] = {
    _C.EDIT_MACROS: _C.EDIT_ANY_MACRO,
    _C.EDIT_TEMPLATES: _C.EDIT_ANY_TEMPLATE,
}

# What each capability lets one do, for refusals: "Your role (Viewer) may not …".
DESCRIPTIONS: dict[Capability, str] = {
    _C.COMPOSE: "compose campaigns",
    _C.SEND: "send campaigns",
    _C.AUTOMATE: "schedule sends or run automations",
    _C.PAUSE_CAMPAIGN: "pause campaigns",
    _C.VIEW_CONTACTS: "see contacts",
    _C.EDIT_CONTACTS: "change contacts",
    _C.VIEW_CONVERSATIONS: "see conversations",
    _C.REPLY_CONVERSATIONS: "reply to or change conversations",
    _C.ASSIGN_CONVERSATIONS: "assign conversations",
    _C.MARK_SPAM: (
        "mark a thread or a contact as spam: that puts the number on the do-not-contact "
        "list, which admins and managers keep; ask one of them"
    ),
    _C.EDIT_MACROS: "create or change macros",
    _C.EDIT_ANY_MACRO: "change or delete another member's macro",
    _C.EDIT_TEMPLATES: "change message templates",
    _C.EDIT_ANY_TEMPLATE: "change or delete another member's template",
    _C.VIEW_NUMBERS: "see the phone numbers",
    _C.MANAGE_NUMBERS: "manage phone numbers",
    _C.VIEW_STATS: "see campaign statistics",
    _C.MANAGE_ACCOUNT: "change the account's settings",
    _C.MANAGE_DNC: "change the do-not-contact list",
    _C.SIMULATE: "simulate carrier traffic",
    _C.EXPORT_AUDIT_TRAIL: "export a phone's audit trail",
}


def _role_can(role: str, capability: Capability) -> bool:
    if capability not in MATRIX.get(role, frozenset()):
        return False
    return all(_role_can(role, needed) for needed in REQUIRES.get(capability, ()))


def can(who: "Membership | str", capability: Capability, obj: Any = None) -> bool:
    """May `who` (a membership, or a bare role) do `capability` (to `obj`)?

    The one answer the API, the pages and the templates share. With `obj`, ownership
    rules apply (OWN_OR_ANY): one's own object needs the capability, another member's
    the "any" one; a bare role owns nothing."""
    role = who if isinstance(who, str) else who.role
    if not _role_can(role, capability):
        return False
    any_capability = OWN_OR_ANY.get(capability)
    if obj is None or any_capability is None:
        return True
    user_id = None if isinstance(who, str) else who.user_id
    owner_id = getattr(obj, "created_by_id", None)
    if owner_id is not None and owner_id == user_id:
        return True
    return _role_can(role, any_capability)


class NotAllowed(PermissionDenied):
    """Authenticated, but the role may not (API: 403 through DRF's handler of Django's
    PermissionDenied; pages: the 403 page with the sentence)."""


def refusal(who: "Membership | str", capability: Capability, obj: Any = None) -> str:
    """The sentence a refused member reads."""
    role = who if isinstance(who, str) else who.role
    label = Role(role).label if role in Role.values else role
    if obj is not None and capability in OWN_OR_ANY and _role_can(role, capability):
        capability = OWN_OR_ANY[capability]  # may do their own, not this one
    return f"Your role ({label}) may not {DESCRIPTIONS.get(capability, capability.value)}."


def require(who: "Membership | str", capability: Capability, obj: Any = None) -> None:
    """`can()`, or NotAllowed with the sentence that says why."""
    if not can(who, capability, obj):
        raise NotAllowed(refusal(who, capability, obj))


def conversation_scope(role: str) -> ConversationScope:
    return CONVERSATION_SCOPE[role]


def stats_scope(role: str) -> StatsScope:
    return STATS_SCOPE[role]
