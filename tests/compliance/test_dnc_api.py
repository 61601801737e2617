"""The DNC API: list and search, add, remove, CSV import, mark a contact as spam; roles
(admins and managers change, everyone reads) and tenants (another account's ids are 404)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from compliance.models import AuditEntry, DncEntry
from compliance.suppression import dnc_add
from tests.factories import api_client, make_contact, make_member

pytestmark = pytest.mark.django_db

ANA = "+15035550911"


def client_for(account, role):
    return api_client(make_member(account, role), account)


def test_add_normalises_is_idempotent_and_lists(account, admin_api):
    res = admin_api.post(
        "/api/v1/dnc/", {"phone": "(503) 555-0911", "note": "asked"}, format="json"
    )
    assert res.status_code == 201, res.json()
    body = res.json()
    assert (body["phone"], body["reason"], body["note"], body["added_by"]) == (
        ANA,
        "manual",
        "asked",
        "alice",
    )
    again = admin_api.post("/api/v1/dnc/", {"phone": "503.555.0911"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    listed = admin_api.get("/api/v1/dnc/").json()
    assert listed["count"] == 1 and listed["results"][0]["phone"] == ANA


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"phone": "12"}, "phone"), ({}, "phone"), ({"phone": ANA, "reason": "whim"}, "reason")],
)
def test_bad_input_is_a_400_naming_the_field(admin_api, payload, field):
    res = admin_api.post("/api/v1/dnc/", payload, format="json")
    assert res.status_code == 400 and field in res.json()
    assert not DncEntry.objects.exists()


def test_search_and_pages(account, admin_api):
    for i in range(12):
        dnc_add(account=account, phone=f"+1971555{1000 + i:04d}", reason="manual")
    dnc_add(account=account, phone=ANA, reason="manual", note="Angry voter")
    assert admin_api.get("/api/v1/dnc/", {"q": "503555"}).json()["count"] == 1
    assert admin_api.get("/api/v1/dnc/", {"q": "angry"}).json()["results"][0]["phone"] == ANA
    page = admin_api.get("/api/v1/dnc/", {"page_size": 5, "page": 2}).json()
    assert page["count"] == 13 and len(page["results"]) == 5


def test_delete_removes_and_audits(account, admin_api):
    entry, _ = dnc_add(account=account, phone=ANA, reason="manual")
    assert admin_api.delete(f"/api/v1/dnc/{entry.pk}/").status_code == 204
    assert not DncEntry.objects.exists()
    assert AuditEntry.objects.filter(phone=ANA, action="dnc_removed").count() == 1
    assert admin_api.delete(f"/api/v1/dnc/{entry.pk}/").status_code == 404


def test_import_reports_counts_and_rows(account, admin_api):
    dnc_add(account=account, phone=ANA, reason="manual")
    upload = SimpleUploadedFile(
        "dnc.csv",
        b"Name,Phone\nAna,503-555-0911\nBen,503-555-0912\nCy,nope\nBen,(503) 555-0912\n",
        content_type="text/csv",
    )
    res = admin_api.post("/api/v1/dnc/import/", {"file": upload}, format="multipart")
    assert res.status_code == 200, res.json()
    body = res.json()
    assert {k: body[k] for k in ("added", "already_listed", "invalid", "duplicates")} == {
        "added": 1,
        "already_listed": 1,
        "invalid": 1,
        "duplicates": 1,
    }
    assert [e["row"] for e in body["errors"]] == [4, 5]


def test_import_without_a_file_or_phone_column_is_a_400(admin_api):
    assert "file" in admin_api.post("/api/v1/dnc/import/", {}, format="multipart").json()
    upload = SimpleUploadedFile("x.csv", b"name,city\nAna,Portland\n", content_type="text/csv")
    res = admin_api.post("/api/v1/dnc/import/", {"file": upload}, format="multipart")
    assert res.status_code == 400 and "phone" in res.json()["file"][0]


def test_mark_spam(account, admin_api):
    contact = make_contact(account, ANA)
    res = admin_api.post(f"/api/v1/contacts/{contact.pk}/spam/")
    assert res.status_code == 201 and res.json()["reason"] == "spam"
    assert admin_api.post(f"/api/v1/contacts/{contact.pk}/spam/").status_code == 200
    assert DncEntry.objects.get().phone == ANA


@pytest.mark.parametrize(
    ("role", "may_change"), [("manager", True), ("field", False), ("viewer", False)]
)
def test_admins_and_managers_change_the_list_everyone_reads_it(account, role, may_change):
    client = client_for(account, role)
    entry, _ = dnc_add(account=account, phone="+15035550912", reason="manual")
    contact = make_contact(account, ANA)
    assert client.get("/api/v1/dnc/").status_code == 200
    assert client.get(f"/api/v1/dnc/{entry.pk}/").status_code == 200
    writes = [
        client.post("/api/v1/dnc/", {"phone": "+15035550913"}, format="json"),
        client.delete(f"/api/v1/dnc/{entry.pk}/"),
        client.post(f"/api/v1/contacts/{contact.pk}/spam/"),
        client.post(
            "/api/v1/dnc/import/",
            {"file": SimpleUploadedFile("a.csv", b"phone\n5035550914\n")},
            format="multipart",
        ),
    ]
    listed = set(DncEntry.objects.values_list("phone", flat=True))
    if may_change:
        assert [res.status_code for res in writes] == [201, 204, 201, 200]
        assert listed == {"+15035550913", ANA, "+15035550914"}
    else:
        assert [res.status_code for res in writes] == [403] * 4
        assert listed == {"+15035550912"}


def test_another_accounts_entries_and_contacts_are_404(account, other_account, admin_api):
    theirs, _ = dnc_add(account=other_account, phone=ANA, reason="manual")
    their_contact = make_contact(other_account, "+15035550912")
    assert admin_api.get("/api/v1/dnc/").json()["count"] == 0
    assert admin_api.get(f"/api/v1/dnc/{theirs.pk}/").status_code == 404
    assert admin_api.delete(f"/api/v1/dnc/{theirs.pk}/").status_code == 404
    assert admin_api.post(f"/api/v1/contacts/{their_contact.pk}/spam/").status_code == 404
    assert DncEntry.objects.filter(account=other_account).count() == 1
    assert not DncEntry.objects.filter(account=account).exists()


def test_the_schema_documents_the_dnc_endpoints(admin_api):
    schema = admin_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/dnc/",
        "/api/v1/dnc/{id}/",
        "/api/v1/dnc/import/",
        "/api/v1/contacts/{id}/spam/",
    ):
        assert path in paths, path
    assert "multipart/form-data" in paths["/api/v1/dnc/import/"]["post"]["requestBody"]["content"]
