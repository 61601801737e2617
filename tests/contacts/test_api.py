import pytest
from django.db import connection

from contacts.models import Contact, EngagementEvent
from contacts.services import engagement_record
from tests.factories import api_client, make_account, make_contact, make_member

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "typed", ["(503) 555-0100", "503.555.0100", "+15035550100", "1 503 555 0100"]
)
def test_create_normalises_phone_to_e164(admin_api, typed):
    res = admin_api.post("/api/v1/contacts/", {"phone": typed, "first_name": "Ana"}, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["phone"] == "+15035550100"
    assert body["sms_status"] == "none"
    assert body["timezone"] == "America/Los_Angeles"
    assert isinstance(body["id"], int)


@pytest.mark.parametrize("bad", ["", "hello", "555", "+1 000 000 0000"])
def test_invalid_phone_is_400_naming_phone_and_creates_nothing(admin_api, bad):
    res = admin_api.post("/api/v1/contacts/", {"phone": bad}, format="json")
    assert res.status_code == 400
    assert "phone" in res.json()
    assert Contact.objects.count() == 0


def test_other_bad_fields_are_named(admin_api):
    res = admin_api.post(
        "/api/v1/contacts/",
        {
            "phone": "5035550100",
            "state": "ZZ",
            "zip": "9720",
            "pool": "donor",
            "custom_fields": {"bad key": 1},
        },
        format="json",
    )
    assert res.status_code == 400
    assert set(res.json()) == {"state", "zip", "pool", "custom_fields"}
    assert Contact.objects.count() == 0


def test_same_phone_updates_the_existing_contact(admin_api, account):
    first = admin_api.post(
        "/api/v1/contacts/", {"phone": "503-555-0100", "first_name": "Ana"}, format="json"
    )
    again = admin_api.post(
        "/api/v1/contacts/",
        {
            "phone": "+1 (503) 555-0100",
            "last_name": "Alvarez",
            "pool": "voter",
            "custom_fields": {"ward": 3},
        },
        format="json",
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    contact = Contact.objects.get(account=account)
    assert (contact.first_name, contact.last_name, contact.pool) == ("Ana", "Alvarez", "voter")
    assert contact.custom_fields == {"ward": 3}


def test_same_phone_in_two_accounts_is_two_contacts(admin_api, other_account):
    make_contact(other_account, "+15035550100", first_name="Theirs")
    res = admin_api.post("/api/v1/contacts/", {"phone": "5035550100"}, format="json")
    assert res.status_code == 201
    assert Contact.objects.filter(phone="+15035550100").count() == 2


def test_timezone_from_zip_and_default_flag(admin_api, account):
    by_zip = admin_api.post(
        "/api/v1/contacts/", {"phone": "5415550100", "zip": "97914"}, format="json"
    ).json()
    assert by_zip["timezone"] == "America/Boise"
    assert by_zip["state"] == "OR"  # filled from the ZIP
    assert by_zip["timezone_source"] == "address"
    assert "America/Los_Angeles" in by_zip["timezone_candidates"]  # the 541 area code's zone

    toll_free = admin_api.post("/api/v1/contacts/", {"phone": "8005550100"}, format="json").json()
    assert toll_free["timezone"] == account.timezone
    assert toll_free["timezone_is_default"] is True


def test_patch_moves_timezone_with_the_address(admin_api):
    created = admin_api.post("/api/v1/contacts/", {"phone": "5035550100"}, format="json").json()
    res = admin_api.patch(f"/api/v1/contacts/{created['id']}/", {"zip": "10001"}, format="json")
    assert res.status_code == 200
    assert res.json()["timezone"] == "America/New_York"
    assert res.json()["state"] == "NY"


def test_patch_to_a_phone_another_contact_has_is_refused(admin_api, account):
    a = make_contact(account, "+15035550101")
    make_contact(account, "+15035550102")
    res = admin_api.patch(f"/api/v1/contacts/{a.id}/", {"phone": "503 555 0102"}, format="json")
    assert res.status_code == 400 and "phone" in res.json()
    a.refresh_from_db()
    assert a.phone == "+15035550101"


def test_list_filters_and_page_size(admin_api, account):
    make_contact(account, "+15035550101", first_name="Grace", last_name="Huang", city="Eugene")
    make_contact(account, "+15035550102", first_name="Hugo", last_name="Ito")
    for i in range(3, 8):
        make_contact(account, f"+150355501{i:02d}")
    by_phone = admin_api.get("/api/v1/contacts/", {"phone": "(503) 555-0102"}).json()
    assert [c["first_name"] for c in by_phone["results"]] == ["Hugo"]
    by_q = admin_api.get("/api/v1/contacts/", {"q": "grace eugene"}).json()
    assert [c["last_name"] for c in by_q["results"]] == ["Huang"]
    paged = admin_api.get("/api/v1/contacts/", {"page_size": 3}).json()
    assert paged["count"] == 7 and len(paged["results"]) == 3 and paged["next"]
    capped = admin_api.get("/api/v1/contacts/", {"page_size": 10_000}).json()
    assert len(capped["results"]) == 7


def test_history_is_newest_first_and_append_only(admin_api, account):
    contact = make_contact(account)
    older = engagement_record(contact=contact, type="sms_sent", campaign_id=7, data={"text": "hi"})
    engagement_record(contact=contact, type="sms_received", data={"text": "hello back"})
    res = admin_api.get(f"/api/v1/contacts/{contact.id}/history/")
    assert res.status_code == 200
    events = res.json()["results"]
    assert [e["type"] for e in events] == ["sms_received", "sms_sent"]
    assert events[1]["campaign_id"] == 7

    with pytest.raises(Exception, match="append-only"), connection.cursor() as cur:
        cur.execute(
            "UPDATE contacts_engagementevent SET type = 'sms_opt_in' WHERE id = %s", [older.id]
        )


# --- tenant isolation --------------------------------------------------------------


def test_another_tenants_contact_is_404_everywhere(admin_api, other_account):
    theirs = make_contact(other_account, "+15035550199", first_name="Secret")
    for method, url in [
        ("get", f"/api/v1/contacts/{theirs.id}/"),
        ("patch", f"/api/v1/contacts/{theirs.id}/"),
        ("delete", f"/api/v1/contacts/{theirs.id}/"),
        ("get", f"/api/v1/contacts/{theirs.id}/history/"),
    ]:
        res = getattr(admin_api, method)(url, {"first_name": "Pwned"}, format="json")
        assert res.status_code == 404, (method, url)
    theirs.refresh_from_db()
    assert theirs.first_name == "Secret"


def test_another_tenants_contacts_never_appear_in_lists(admin_api, account, other_account):
    make_contact(account, "+15035550101", first_name="Mine")
    make_contact(other_account, "+15035550102", first_name="Theirs")
    make_contact(other_account, "+15035550101", first_name="TheirsSamePhone")
    for params in [{}, {"q": "Theirs"}, {"phone": "+15035550102"}, {"phone": "+15035550101"}]:
        names = [
            c["first_name"] for c in admin_api.get("/api/v1/contacts/", params).json()["results"]
        ]
        assert "Theirs" not in names and "TheirsSamePhone" not in names


# --- role matrix on the contacts API ----------------------------------------------

ROLE_CASES = {
    # role: (read, create, update, delete)
    "admin": (200, 201, 200, 204),
    "manager": (200, 201, 200, 204),
    "field": (200, 403, 403, 403),
    "viewer": (200, 403, 403, 403),
}


@pytest.mark.parametrize("role", ROLE_CASES)
def test_role_matrix_on_contacts_api(role):
    account = make_account()
    client = api_client(make_member(account, role), account)
    contact = make_contact(account, "+15035550150", first_name="Before")
    read, create, update, delete = ROLE_CASES[role]

    assert client.get("/api/v1/contacts/").status_code == read
    assert client.get(f"/api/v1/contacts/{contact.id}/").status_code == read
    assert client.get(f"/api/v1/contacts/{contact.id}/history/").status_code == read
    assert (
        client.post("/api/v1/contacts/", {"phone": "5035550151"}, format="json").status_code
        == create
    )
    res = client.patch(f"/api/v1/contacts/{contact.id}/", {"first_name": "After"}, format="json")
    assert res.status_code == update
    if update == 403:
        assert "may not" in res.json()["detail"]
    assert client.delete(f"/api/v1/contacts/{contact.id}/").status_code == delete
    assert Contact.objects.filter(pk=contact.pk).exists() is (delete == 403)
    if create == 403:
        assert not Contact.objects.filter(phone="+15035550151").exists()


def test_events_are_scoped_to_the_account(account, other_account):
    contact = make_contact(account)
    engagement_record(contact=contact, type="sms_received")
    assert EngagementEvent.objects.get().account_id == account.id


def test_contacts_with_an_unknown_zone_follow_the_account_default(account, admin_user):
    from accounts.services import account_update_settings

    unknown = make_contact(account, "+18005550100")
    known = make_contact(account, "+15035550100")
    assert unknown.timezone == account.timezone
    account_update_settings(account=account, actor=admin_user, timezone="America/Denver")
    unknown.refresh_from_db()
    known.refresh_from_db()
    assert (unknown.timezone, unknown.timezone_candidates) == ("America/Denver", ["America/Denver"])
    assert known.timezone == "America/Los_Angeles"
