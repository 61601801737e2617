import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import Account, Membership
from contacts.models import Contact
from phone_numbers.models import PhoneNumber
from tests.factories import api_client, make_account, make_contact, make_member

pytestmark = pytest.mark.django_db


def test_create_account_and_add_member_commands():
    call_command(
        "create_account",
        "ore",
        "--name",
        "Oregon Votes",
        "--admin",
        "olga",
        "--password",
        "s3cret-pw",
    )
    account = Account.objects.get(slug="ore")
    assert account.name == "Oregon Votes"
    assert account.stop_language == "Reply STOP to opt out."
    assert Membership.objects.get(account=account, user__username="olga").role == "admin"

    call_command("add_member", "ore", "fred", "--role", "field", "--password", "pw-fred-1")
    assert Membership.objects.get(account=account, user__username="fred").role == "field"
    # Re-running re-roles, it does not duplicate.
    call_command("add_member", "ore", "fred", "--role", "viewer")
    assert Membership.objects.filter(account=account, user__username="fred").get().role == "viewer"


def test_commands_fail_clearly():
    call_command(
        "create_account", "ore", "--name", "Oregon", "--admin", "olga", "--password", "pw-olga-1"
    )
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_account", "ore", "--name", "Again", "--admin", "x", "--password", "pw-x-1234"
        )
    with pytest.raises(CommandError, match="No account with slug 'nope'"):
        call_command("add_member", "nope", "fred", "--role", "field", "--password", "pw")
    with pytest.raises(CommandError, match="give --password"):
        call_command("add_member", "ore", "newbie", "--role", "field")


def test_seed_demo_is_idempotent():
    from conversations.models import Conversation
    from texting.models import Campaign, Message

    def counts():
        return [
            model.objects.count()
            for model in (Account, Contact, PhoneNumber, Conversation, Message, Campaign)
        ]

    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first
    assert first[1] >= 200
    # The inbox has threads (real inbound texts, one from a phone it did not know) and
    # Compose has a draft.
    assert first[3] >= 4
    assert Conversation.objects.filter(label="unknown_sender").count() == 1
    assert Campaign.objects.get(name="Saturday canvass").status == "draft"
    assert get_user_model().objects.get(username="demo").check_password("demo")


def test_token_endpoint_issues_a_token_that_authenticates():
    account = make_account()
    make_member(account, "manager", "tok")
    client = APIClient()
    bad = client.post(
        "/api/v1/auth/token/", {"username": "tok", "password": "wrong"}, format="json"
    )
    assert bad.status_code == 400
    res = client.post(
        "/api/v1/auth/token/", {"username": "tok", "password": "pw-for-tests-1"}, format="json"
    )
    assert res.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {res.json()['token']}")
    assert client.get("/api/v1/contacts/").status_code == 200


def test_unauthenticated_is_401():
    assert APIClient().get("/api/v1/contacts/").status_code == 401


def test_x_account_picks_among_several_memberships():
    first, second = make_account("first"), make_account("second")
    user = make_member(first, "admin", "multi")
    Membership.objects.create(user=user, account=second, role="viewer")
    make_contact(first, "+15035550101")
    make_contact(second, "+15035550102")

    ambiguous = api_client(user).get("/api/v1/contacts/")
    assert ambiguous.status_code == 400
    assert "X-Account" in ambiguous.json()["detail"]

    in_second = api_client(user, second).get("/api/v1/contacts/")
    assert [c["phone"] for c in in_second.json()["results"]] == ["+15035550102"]
    # The role is the one held in the chosen account: a viewer there may not write.
    assert (
        api_client(user, second).post("/api/v1/contacts/", {"phone": "5035550177"}).status_code
        == 403
    )
    assert (
        api_client(user, first).post("/api/v1/contacts/", {"phone": "5035550177"}).status_code
        == 201
    )


def test_x_account_naming_a_foreign_account_is_refused():
    mine, theirs = make_account("mine"), make_account("theirs")
    user = make_member(mine, "admin")
    client = api_client(user)
    client.credentials(
        HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_ACCOUNT=theirs.slug
    )
    res = client.get("/api/v1/contacts/")
    assert res.status_code == 403
    assert "not a member" in res.json()["detail"]
