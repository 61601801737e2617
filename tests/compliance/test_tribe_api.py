"""The Tribe API (API.md "Tribes"): create with a filter, counts (members and
SMS-eligible under the Tribe's mode), search and mode filter, members, change, delete,
roles, another account's ids, invalid filters naming the path; and the contacts list's
`tribe=` filter."""

import pytest

from compliance.suppression import dnc_add
from contacts.models import Tribe, TribeMember
from contacts.tribes import tribe_create
from tests.factories import api_client, make_account, make_contact, make_member

pytestmark = pytest.mark.django_db

PORTLAND = {"all": [{"field": "city", "op": "eq", "value": "Portland"}]}


@pytest.fixture
def portlanders(account):
    made = {
        "opted_in": make_contact(account, "+15035550201", city="Portland"),
        "none": make_contact(account, "+15035550202", city="Portland", sms_status="none"),
        "opted_out": make_contact(account, "+15035550203", city="Portland", sms_status="opted_out"),
        "dnc": make_contact(account, "+15035550204", city="Portland"),
        "elsewhere": make_contact(account, "+15035550205", city="Salem"),
    }
    dnc_add(account=account, phone=made["dnc"].phone, reason="manual")
    return made


def test_create_returns_counts_members_and_sms_eligible(admin_api, portlanders):
    res = admin_api.post(
        "/api/v1/tribes/",
        {"name": "Portland", "mode": "relationship", "filter": PORTLAND},
        format="json",
    )
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["member_count"] == 4
    # opted out, on the DNC list and without consent are not SMS-eligible
    assert body["sms_eligible_count"] == 1
    assert body["filter"] == PORTLAND and body["kind"] == "filter"
    got = admin_api.get(f"/api/v1/tribes/{body['id']}/").json()
    assert (got["member_count"], got["sms_eligible_count"]) == (4, 1)


def test_members_are_paged_and_contacts_filter_by_tribe(admin_api, account, portlanders):
    tribe = tribe_create(account=account, actor=None, name="Portland", filter=PORTLAND)
    res = admin_api.get(f"/api/v1/tribes/{tribe.pk}/members/?page_size=3")
    assert res.status_code == 200
    assert res.json()["count"] == 4 and len(res.json()["results"]) == 3
    listed = admin_api.get(f"/api/v1/contacts/?tribe={tribe.pk}").json()
    assert {c["phone"] for c in listed["results"]} == {
        portlanders[k].phone for k in ("opted_in", "none", "opted_out", "dnc")
    }
    assert admin_api.get("/api/v1/contacts/?tribe=abc").status_code == 400


def test_list_searches_and_filters_by_mode(admin_api, account):
    for name, mode in [
        ("Volunteers", "relationship"),
        ("Voters 2026", "campaign"),
        ("Vips", "cross"),
    ]:
        tribe_create(account=account, actor=None, name=name, mode=mode, filter=PORTLAND)
    res = admin_api.get("/api/v1/tribes/?q=vo")
    assert [t["name"] for t in res.json()["results"]] == ["Volunteers", "Voters 2026"]
    res = admin_api.get("/api/v1/tribes/?mode=campaign")
    assert [t["name"] for t in res.json()["results"]] == ["Voters 2026"]
    assert admin_api.get("/api/v1/tribes/?mode=other").status_code == 400


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"name": "X", "filter": {"all": [{"field": "city", "op": "like", "value": "x"}]}},
            "filter.all[0].op",
        ),
        (
            {
                "name": "X",
                "filter": {"any": [PORTLAND["all"][0], {"field": "nope", "op": "eq", "value": 1}]},
            },
            "filter.any[1].field",
        ),
        ({"name": "X", "filter": {"all": []}}, "filter.all"),
        ({"name": "X", "mode": "sometimes", "filter": PORTLAND}, "mode"),
        ({"name": "", "filter": PORTLAND}, "name"),
        ({"name": "X"}, "filter"),
    ],
)
def test_invalid_input_is_400_naming_the_field_and_creates_nothing(admin_api, payload, field):
    res = admin_api.post("/api/v1/tribes/", payload, format="json")
    assert res.status_code == 400
    assert field in res.json(), res.json()
    assert not Tribe.objects.exists()


def test_duplicate_name_is_refused(admin_api, account):
    tribe_create(account=account, actor=None, name="Portland", filter=PORTLAND)
    res = admin_api.post("/api/v1/tribes/", {"name": "portland", "filter": PORTLAND}, format="json")
    assert res.status_code == 400 and "name" in res.json()


def test_patch_changes_the_filter_and_counts(admin_api, account, portlanders):
    tribe = tribe_create(account=account, actor=None, name="Portland", filter=PORTLAND)
    salem = {"all": [{"field": "city", "op": "eq", "value": "Salem"}]}
    res = admin_api.patch(
        f"/api/v1/tribes/{tribe.pk}/", {"filter": salem, "name": "Salem"}, format="json"
    )
    assert res.status_code == 200, res.json()
    assert (res.json()["name"], res.json()["member_count"]) == ("Salem", 1)
    res = admin_api.patch(
        f"/api/v1/tribes/{tribe.pk}/",
        {"filter": {"all": [{"field": "tribe", "op": "eq", "value": tribe.pk}]}},
        format="json",
    )
    assert res.status_code == 400 and "filter.all[0].value" in res.json()


def test_delete_and_tribes_in_use_are_kept(admin_api, account):
    base = tribe_create(account=account, actor=None, name="Base", filter=PORTLAND)
    tribe_create(
        account=account,
        actor=None,
        name="Uses base",
        filter={"all": [{"field": "tribe", "op": "eq", "value": base.pk}]},
    )
    assert admin_api.delete(f"/api/v1/tribes/{base.pk}/").status_code == 409
    lonely = tribe_create(account=account, actor=None, name="Lonely", kind="list")
    TribeMember.objects.create(tribe=lonely, contact=make_contact(account))
    assert admin_api.delete(f"/api/v1/tribes/{lonely.pk}/").status_code == 204
    assert not Tribe.objects.filter(pk=lonely.pk).exists()


def test_another_accounts_tribe_is_404(admin_api, account):
    theirs = tribe_create(account=make_account("theirs"), actor=None, name="T", filter=PORTLAND)
    for method, url in [
        ("get", f"/api/v1/tribes/{theirs.pk}/"),
        ("patch", f"/api/v1/tribes/{theirs.pk}/"),
        ("delete", f"/api/v1/tribes/{theirs.pk}/"),
        ("get", f"/api/v1/tribes/{theirs.pk}/members/"),
        ("get", f"/api/v1/contacts/?tribe={theirs.pk}"),
    ]:
        assert getattr(admin_api, method)(url, {}, format="json").status_code == 404, url
    assert Tribe.objects.filter(pk=theirs.pk).exists()
    # and it cannot be referred to from this account's filters
    res = admin_api.post(
        "/api/v1/tribes/",
        {"name": "Sneaky", "filter": {"all": [{"field": "tribe", "op": "eq", "value": theirs.pk}]}},
        format="json",
    )
    assert res.status_code == 400 and "filter.all[0].value" in res.json()


def test_viewers_read_but_may_not_manage(account):
    tribe = tribe_create(account=account, actor=None, name="Portland", filter=PORTLAND)
    viewer = api_client(make_member(account, "viewer"), account)
    assert viewer.get(f"/api/v1/tribes/{tribe.pk}/").status_code == 200
    assert viewer.get("/api/v1/tribes/").status_code == 200
    res = viewer.post("/api/v1/tribes/", {"name": "Mine", "filter": PORTLAND}, format="json")
    assert res.status_code == 403
    assert viewer.delete(f"/api/v1/tribes/{tribe.pk}/").status_code == 403
    manager = api_client(make_member(account, "manager"), account)
    res = manager.post("/api/v1/tribes/", {"name": "Mine", "filter": PORTLAND}, format="json")
    assert res.status_code == 201


def test_seed_demo_makes_its_tribes_once(db):
    from django.core.management import call_command

    from compliance.tribes import tribe_counts

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    names = set(Tribe.objects.filter(account__slug="demo").values_list("name", flat=True))
    assert names == {"Volunteers", "Portland", "Precinct P-101", "Voter file"}
    volunteers = Tribe.objects.get(account__slug="demo", name="Volunteers")
    counts = tribe_counts(tribe=volunteers)
    assert 0 < counts.sms_eligible_count <= counts.member_count
