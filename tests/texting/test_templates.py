"""Message templates: CRUD, who sees and changes what, starter templates once."""

import pytest

from tests.factories import api_client, make_member
from texting.message_templates import (
    STARTER_TEMPLATES,
    starter_templates_ensure,
    template_from_campaign,
)
from texting.models import Campaign, MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(account):
    return make_member(account, "manager", "ann")


@pytest.fixture
def bob(account):
    return make_member(account, "manager", "bob")


def _names(api) -> set[str]:
    return {t["name"] for t in api.get("/api/v1/templates/?page_size=100").json()["results"]}


def test_create_rename_edit_and_delete(account, ann):
    api = api_client(ann, account)
    created = api.post("/api/v1/templates/", {"name": "Canvass", "body": "Hi {first_name}"})
    assert created.status_code == 201, created.json()
    tid = created.json()["id"]
    assert created.json()["shared"] is False and created.json()["can_edit"] is True

    renamed = api.patch(f"/api/v1/templates/{tid}/", {"name": "Canvass v2", "body": "Hello"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["body"]) == ("Canvass v2", "Hello")

    dup = api.post("/api/v1/templates/", {"name": "Canvass v2"})
    assert dup.status_code == 400 and "name" in dup.json()
    assert api.post("/api/v1/templates/", {"name": "  "}).status_code == 400

    assert api.delete(f"/api/v1/templates/{tid}/").status_code == 204
    assert "Canvass v2" not in _names(api)


def test_private_templates_are_the_owners_and_shared_ones_everyones(account, ann, bob):
    ann_api, bob_api = api_client(ann, account), api_client(bob, account)
    private = ann_api.post("/api/v1/templates/", {"name": "Mine", "body": "a"}).json()["id"]
    shared = ann_api.post(
        "/api/v1/templates/", {"name": "Team", "body": "b", "shared": True}
    ).json()["id"]

    assert {"Mine", "Team"} <= _names(ann_api)
    assert "Team" in _names(bob_api) and "Mine" not in _names(bob_api)
    assert bob_api.get(f"/api/v1/templates/{private}/").status_code == 404
    # Bob may use Ann's shared template but not change it; an admin may.
    assert bob_api.patch(f"/api/v1/templates/{shared}/", {"name": "X"}).status_code == 403
    assert bob_api.delete(f"/api/v1/templates/{shared}/").status_code == 403
    admin = api_client(make_member(account, "admin"), account)
    assert admin.patch(f"/api/v1/templates/{shared}/", {"name": "Team 2"}).status_code == 200
    # Bob may have his own "Mine": names are unique per owner.
    assert bob_api.post("/api/v1/templates/", {"name": "Mine"}).status_code == 201


def test_another_accounts_templates_are_404_and_field_users_may_not_compose(
    account, other_account, ann
):
    theirs = MessageTemplate.objects.create(account=other_account, name="T", shared=True)
    api = api_client(ann, account)
    assert api.get(f"/api/v1/templates/{theirs.pk}/").status_code == 404
    assert api.patch(f"/api/v1/templates/{theirs.pk}/", {"name": "x"}).status_code == 404
    field = api_client(make_member(account, "field"), account)
    assert field.get("/api/v1/templates/").status_code == 403


def test_starter_templates_exist_once_per_account(account, ann):
    api = api_client(ann, account)
    starters = {name for _, name, _ in STARTER_TEMPLATES}
    assert starters == {
        "GOTV reminder",
        "Event RSVP",
        "Petition push",
        "Donor ask",
        "Volunteer recruitment",
        "Opt-in confirmation",
    }
    assert starters <= _names(api)  # seeded on first use
    assert starter_templates_ensure(account=account) == 0
    api.get("/api/v1/templates/")
    assert MessageTemplate.objects.filter(account=account).exclude(starter_key="").count() == 6


def test_a_draft_is_saved_as_a_template(account, ann):
    campaign = Campaign.objects.create(
        account=account, created_by=ann, name="Close", body="Polls close at 8pm"
    )
    template = template_from_campaign(campaign=campaign, actor=ann, name="Polls close")
    assert (template.body, template.created_by, template.shared) == (
        "Polls close at 8pm",
        ann,
        False,
    )
