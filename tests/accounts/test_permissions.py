"""The role matrix of the spec, row by row."""

import pytest

from accounts.permissions import (
    Capability,
    ConversationScope,
    StatsScope,
    can,
    conversation_scope,
    stats_scope,
)

C = Capability
# role: (compose, send, schedule/automate, numbers view, numbers manage)
MATRIX = {
    "admin": (True, True, True, True, True),
    "manager": (True, True, True, True, False),
    "field": (False, False, False, False, False),
    "viewer": (False, False, False, False, False),
}


@pytest.mark.parametrize("role", MATRIX)
def test_matrix_rows(role):
    compose, send, automate, view_numbers, manage_numbers = MATRIX[role]
    assert can(role, C.COMPOSE) is compose
    assert can(role, C.SEND) is send
    assert can(role, C.AUTOMATE) is automate
    assert can(role, C.VIEW_NUMBERS) is view_numbers
    assert can(role, C.MANAGE_NUMBERS) is manage_numbers


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("admin", ConversationScope.ALL),
        ("manager", ConversationScope.ASSIGNED_AND_SHARED),
        ("field", ConversationScope.ASSIGNED),
        ("viewer", ConversationScope.READ_ONLY),
    ],
)
def test_conversation_scope(role, scope):
    assert conversation_scope(role) == scope
    assert can(role, C.REPLY_CONVERSATIONS) is (role != "viewer")


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("admin", StatsScope.ALL),
        ("manager", StatsScope.ALL),
        ("field", StatsScope.LIMITED),
        ("viewer", StatsScope.READ_ONLY),
    ],
)
def test_stats_scope(role, scope):
    assert stats_scope(role) == scope


@pytest.mark.parametrize("role", MATRIX)
def test_anyone_who_can_see_a_live_campaign_can_pause_it(role):
    assert can(role, C.PAUSE_CAMPAIGN)


def test_unknown_role_can_do_nothing():
    assert not any(can("intern", cap) for cap in Capability)


def test_the_matrix_grants_nothing_without_its_prerequisites():
    """Marking spam lists the phone on the DNC list: no role marks spam that may not
    change the list (and assigning, macros, the same with replying)."""
    from accounts.permissions import MATRIX, REQUIRES

    for role, granted in MATRIX.items():
        for capability, needed in REQUIRES.items():
            if capability in granted:
                assert needed <= granted, (role, capability)


def test_a_prerequisite_missing_from_a_row_refuses_the_capability(monkeypatch):
    from accounts import permissions

    monkeypatch.setitem(permissions.MATRIX, "field", permissions.MATRIX["field"] | {C.MARK_SPAM})
    assert not can("field", C.MARK_SPAM)  # MANAGE_DNC is missing


class _Macro:
    def __init__(self, created_by_id):
        self.created_by_id = created_by_id


class _Member:
    def __init__(self, role, user_id):
        self.role, self.user_id = role, user_id


@pytest.mark.parametrize(
    ("role", "own", "anyones"),
    [
        ("admin", True, True),
        ("manager", True, True),
        ("field", True, False),
        ("viewer", False, False),
    ],
)
def test_macros_are_changed_by_their_author_or_a_role_that_may_change_anyones(role, own, anyones):
    member = _Member(role, user_id=7)
    assert can(member, C.EDIT_MACROS, _Macro(created_by_id=7)) is own
    assert can(member, C.EDIT_MACROS, _Macro(created_by_id=8)) is anyones
    assert can(member, C.EDIT_MACROS, _Macro(created_by_id=None)) is anyones


def test_every_refusal_is_a_sentence_not_a_code():
    from accounts.permissions import DESCRIPTIONS, refusal

    assert set(DESCRIPTIONS) == set(Capability)
    assert refusal("field", C.MANAGE_DNC) == (
        "Your role (Field user) may not change the do-not-contact list."
    )
