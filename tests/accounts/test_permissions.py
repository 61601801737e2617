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
