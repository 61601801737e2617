"""`add_member` and `create_account` apply the password validators (issue 14, item 8):
a weak password is refused with the rule it breaks, and nothing is created or changed."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Account, Membership
from tests.factories import make_account, make_member

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("password", "This password is too common."),
        ("84736251940", "This password is entirely numeric."),
        ("fredrick1", "The password is too similar to the username."),
        ("k7#Qz", "This password is too short. It must contain at least 8 characters."),
    ],
)
def test_add_member_refuses_a_weak_password_for_a_new_user(password, rule):
    account = make_account("ore")
    with pytest.raises(CommandError) as refused:
        call_command("add_member", "ore", "fredrick", "--role", "field", "--password", password)
    assert rule in str(refused.value)
    assert not get_user_model().objects.filter(username="fredrick").exists()
    assert not Membership.objects.filter(account=account).exists()


def test_add_member_refuses_a_weak_new_password_for_an_existing_user():
    account = make_account("ore")
    user = make_member(account, "viewer", "vera")
    with pytest.raises(CommandError, match="too common"):
        call_command("add_member", "ore", "vera", "--role", "admin", "--password", "qwerty123")
    user.refresh_from_db()
    assert user.check_password("pw-for-tests-1")
    assert Membership.objects.get(user=user).role == "viewer"  # nothing changed


def test_create_account_refuses_a_weak_admin_password():
    with pytest.raises(CommandError, match="Password refused: This password is too common."):
        call_command(
            "create_account", "ore", "--name", "Oregon", "--admin", "olga", "--password", "letmein1"
        )
    assert not Account.objects.filter(slug="ore").exists()
    assert not get_user_model().objects.filter(username="olga").exists()
