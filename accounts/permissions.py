"""The role matrix: the one place that says who may do what.

Every API view and page asks `can(role, capability)` (or one of the scope helpers)
instead of comparing role names itself.

| role    | compose | send | schedule/automate | conversations     | numbers | stats     |
|---------|---------|------|-------------------|-------------------|---------|-----------|
| admin   | yes     | yes  | yes               | all               | manage  | all       |
| manager | yes     | yes  | yes               | assigned + shared | view    | all       |
| field   | no      | no   | no                | assigned only     | no      | limited   |
| viewer  | no      | no   | no                | read-only         | no      | read-only |

Anyone who can see a live campaign can pause it (`PAUSE_CAMPAIGN` for every role).
Contacts are the shared address book: everyone reads them, composers edit them.
The do-not-contact list likewise: everyone reads it, admins and managers change it.
"""

from enum import StrEnum

from .models import Role


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
    MANAGE_DNC = "manage_dnc"  # add to / remove from the do-not-contact list, mark spam
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
            _C.SEND,
            _C.AUTOMATE,
            _C.PAUSE_CAMPAIGN,
            _C.VIEW_CONTACTS,
            _C.EDIT_CONTACTS,
            _C.VIEW_CONVERSATIONS,
            _C.REPLY_CONVERSATIONS,
            _C.VIEW_NUMBERS,
            _C.VIEW_STATS,
            _C.MANAGE_DNC,
            _C.EXPORT_AUDIT_TRAIL,
        }
    ),
    Role.FIELD: frozenset(
        {
            _C.PAUSE_CAMPAIGN,
            _C.VIEW_CONTACTS,
            _C.VIEW_CONVERSATIONS,
            _C.REPLY_CONVERSATIONS,
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


def can(role: str, capability: Capability) -> bool:
    return capability in MATRIX.get(role, frozenset())


def conversation_scope(role: str) -> ConversationScope:
    return CONVERSATION_SCOPE[role]


def stats_scope(role: str) -> StatsScope:
    return STATS_SCOPE[role]
