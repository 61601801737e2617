"""Field limits (issue 14, item 9): a macro's body, a campaign's description and tags, a
contact's custom fields (how many, name length, value length and kind). Each is a clear
400 naming the field that changes nothing, through the API and the pages that edit
them; the pages' inputs carry the same limits."""

import pytest
from django.test import Client

from contacts.models import Contact
from conversations.models import Macro
from texting.models import Campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_api):
    return admin_api


@pytest.fixture
def web(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_a_macro_body_over_1600_characters_is_refused(api, web):
    res = api.post("/api/v1/macros/", {"name": "Long", "body": "x" * 1601}, format="json")
    assert res.status_code == 400
    assert "1600" in res.json()["body"][0]
    assert (
        api.post("/api/v1/macros/", {"name": "Ok", "body": "x" * 1600}, format="json").status_code
        == 201
    )
    macro = Macro.objects.get(name="Ok")
    res = api.patch(f"/api/v1/macros/{macro.pk}/", {"body": "y" * 1601}, format="json")
    assert res.status_code == 400 and "body" in res.json()
    assert Macro.objects.get(pk=macro.pk).body == "x" * 1600

    # The page: the textarea says so, and a longer body (or a NUL) is a form error.
    page = web.get("/conversations/macros/").content.decode()
    assert 'maxlength="1600"' in page
    for body in ("z" * 1601, "nul \x00 here"):
        res = web.post("/conversations/macros/", {"name": "From the page", "body": body})
        assert res.status_code == 400
        assert 'data-field-error="body"' in res.content.decode()
    assert not Macro.objects.filter(name="From the page").exists()


def test_campaign_description_and_tags_have_limits(api, web):
    base = {"name": "Limits", "body": "Hi"}
    cases = {
        "description": {"description": "d" * 2001},
        "tags": {"tags": [f"t{i}" for i in range(21)]},
    }
    for field, extra in cases.items():
        res = api.post("/api/v1/campaigns/", {**base, **extra}, format="json")
        assert res.status_code == 400, field
        assert field in res.json()
    res = api.post("/api/v1/campaigns/", {**base, "tags": ["x" * 51]}, format="json")
    assert res.status_code == 400 and "tags" in res.json()
    assert not Campaign.objects.exists()
    ok = {**base, "description": "d" * 2000, "tags": [f"t{i}" for i in range(20)]}
    assert api.post("/api/v1/campaigns/", ok, format="json").status_code == 201

    page = web.get("/campaigns/new/").content.decode()
    assert 'maxlength="2000"' in page
    res = web.post(
        "/campaigns/new/", {"name": "Web", "description": "d" * 2001, "mode": "relationship"}
    )
    assert res.status_code == 200  # the form again, with the error
    assert "at most 2000 characters" in res.content.decode()
    assert not Campaign.objects.filter(name="Web").exists()


@pytest.mark.parametrize(
    "custom_fields, says",
    [
        ({f"f{i}": i for i in range(51)}, "at most 50 custom fields"),
        ({"k" * 41: "v"}, "longer than 40 characters"),
        ({"note": "n" * 501}, "longer than 500 characters"),
        ({"nested": {"a": 1}}, "list or object"),
        ({"nested": [1, 2]}, "list or object"),
    ],
)
def test_contact_custom_fields_have_limits(api, custom_fields, says):
    res = api.post(
        "/api/v1/contacts/",
        {"phone": "503-555-0191", "custom_fields": custom_fields},
        format="json",
    )
    assert res.status_code == 400
    assert says in res.json()["custom_fields"][0]
    assert not Contact.objects.exists()


def test_custom_fields_within_the_limits_are_kept(api):
    fields = {f"f{i}": "v" * 500 for i in range(47)} | {"k" * 40: 3, "flag": True, "none": None}
    res = api.post(
        "/api/v1/contacts/", {"phone": "503-555-0192", "custom_fields": fields}, format="json"
    )
    assert res.status_code == 201, res.json()
    contact = Contact.objects.get()
    assert contact.custom_fields == fields
    res = api.patch(
        f"/api/v1/contacts/{contact.pk}/", {"custom_fields": {"note": "n" * 501}}, format="json"
    )
    assert res.status_code == 400
    assert Contact.objects.get().custom_fields == fields
