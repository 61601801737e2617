"""API tokens expire, are stored hashed, and end on revocation, logout and a password
change; admins list and revoke a member's tokens (issue 14, item 8)."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, Membership
from tests.conftest import redis_keys_cleared
from tests.factories import api_client, make_account, make_member

pytestmark = pytest.mark.django_db

GOOD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def _no_failures_left_over():
    yield from redis_keys_cleared("login:fail:*")


def issue(username: str, password: str = GOOD, **extra) -> dict:
    res = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password, **extra}
    )
    assert res.status_code == 200, res.content
    return res.json()


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def works(key: str) -> bool:
    status = with_token(key).get("/api/v1/auth/me/").status_code
    assert status in (200, 401)
    return status == 200


def signed_in(username: str) -> Client:
    browser = Client()
    assert browser.post("/login/", {"username": username, "password": GOOD}).status_code == 302
    return browser


def test_each_client_gets_its_own_token_and_they_expire(settings):
    account = make_account()
    make_member(account, "manager", "mara")
    laptop = issue("mara", name="laptop script")
    crm = issue("mara", name="CRM sync")
    assert laptop["token"] != crm["token"]
    assert works(laptop["token"]) and works(crm["token"])

    me = with_token(crm["token"]).get("/api/v1/auth/me/").json()
    assert me == {"id": me["id"], "username": "mara", "account": account.slug, "role": "manager"}
    expires = datetime.datetime.fromisoformat(crm["expires_at"])
    assert abs(
        expires - (timezone.now() + datetime.timedelta(days=settings.API_TOKEN_DAYS))
    ) < datetime.timedelta(minutes=1)

    # 30 days later the token no longer authenticates (401), the other one still does.
    ApiToken.objects.filter(name="CRM sync").update(expires_at=timezone.now())
    res = with_token(crm["token"]).get("/api/v1/contacts/")
    assert res.status_code == 401
    assert res.json()["detail"] == "Invalid or expired token."
    assert works(laptop["token"])


def test_only_a_hash_of_the_token_is_stored():
    make_member(make_account(), "admin", "ada")
    key = issue("ada")["token"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        stored = repr(cursor.fetchall())
    assert key not in stored
    assert key[:8] in stored  # the prefix, to tell tokens apart


def test_api_logout_revokes_the_token_it_is_made_with():
    make_member(make_account(), "admin", "ada")
    first, second = issue("ada")["token"], issue("ada")["token"]
    assert with_token(first).post("/api/v1/auth/logout/").status_code == 204
    assert not works(first)
    assert works(second)


def test_own_tokens_listed_without_keys_and_revoked():
    make_member(make_account(), "admin", "ada")
    key = issue("ada", name="laptop")["token"]
    other = issue("ada", name="phone")["token"]
    listed = with_token(key).get("/api/v1/auth/tokens/").json()
    assert [t["name"] for t in listed] == ["phone", "laptop"]
    assert key not in repr(listed) and other not in repr(listed)
    phone_id = listed[0]["id"]
    assert with_token(key).delete(f"/api/v1/auth/tokens/{phone_id}/").status_code == 204
    assert not works(other)
    assert with_token(key).delete(f"/api/v1/auth/tokens/{phone_id}/").status_code == 404


def test_logging_out_of_the_ui_ends_the_users_api_tokens():
    make_member(make_account(), "admin", "ada")
    key = issue("ada")["token"]
    browser = signed_in("ada")
    assert works(key)  # signing in (last_login saved) ends nothing
    assert browser.post("/logout/").status_code == 302
    assert not works(key)
    assert browser.get("/settings/").status_code == 302  # back to the sign-in page


def test_a_password_change_ends_tokens_and_other_sessions():
    make_member(make_account(), "admin", "ada")
    key = issue("ada")["token"]
    here, elsewhere = signed_in("ada"), signed_in("ada")
    assert elsewhere.get("/settings/").status_code == 200

    res = here.post(
        "/account/password/",
        {"old_password": GOOD, "new_password1": "a-new-pw-2026", "new_password2": "a-new-pw-2026"},
    )
    assert res.status_code == 302
    assert "signed out" in here.get(res["Location"]).content.decode()  # still signed in here
    assert elsewhere.get("/settings/").status_code == 302  # the other session ended
    assert not works(key)


def test_a_password_set_with_add_member_ends_the_users_tokens():
    from django.core.management import call_command

    account = make_account("ore")
    make_member(account, "field", "fred")
    key = issue("fred")["token"]
    call_command("add_member", "ore", "fred", "--role", "field", "--password", "fresh-pw-2026")
    assert not works(key)
    assert works(issue("fred", password="fresh-pw-2026")["token"])


def test_the_password_change_page_applies_the_validators():
    make_member(make_account(), "admin", "ada")
    browser = signed_in("ada")
    res = browser.post(
        "/account/password/",
        {"old_password": GOOD, "new_password1": "password", "new_password2": "password"},
    )
    assert res.status_code == 200
    assert "This password is too common." in res.content.decode()


def test_admin_lists_and_revokes_a_members_tokens_through_the_api():
    account = make_account()
    admin = make_member(account, "admin", "ada")
    field = make_member(account, "field", "fred")
    keys = [issue("fred", name=f"client {n}")["token"] for n in range(3)]
    api = api_client(admin, account)

    listed = api.get(f"/api/v1/members/{field.pk}/tokens/")
    assert listed.status_code == 200
    rows = listed.json()
    assert [r["name"] for r in rows] == ["client 2", "client 1", "client 0"]
    assert set(rows[0]) == {"id", "name", "key_prefix", "created_at", "last_used_at", "expires_at"}
    assert rows[0]["key_prefix"] == keys[2][:8]
    assert not any(k in listed.content.decode() for k in keys)

    assert api.delete(f"/api/v1/members/{field.pk}/tokens/{rows[0]['id']}/").status_code == 204
    assert not works(keys[2]) and works(keys[1])
    revoked = api.delete(f"/api/v1/members/{field.pk}/tokens/")
    assert revoked.json() == {"revoked": 2}
    assert not works(keys[1]) and not works(keys[0])


def test_member_tokens_api_is_for_admins_of_the_members_account():
    account, other = make_account(), make_account()
    manager = make_member(account, "manager", "mara")
    admin = make_member(account, "admin", "ada")
    stranger = make_member(other, "field", "sam")
    issue("sam")

    refused = api_client(manager, account).get(f"/api/v1/members/{admin.pk}/tokens/")
    assert refused.status_code == 403
    # Another account's member reads as missing, and keeps their token.
    api = api_client(admin, account)
    assert api.get(f"/api/v1/members/{stranger.pk}/tokens/").status_code == 404
    assert api.delete(f"/api/v1/members/{stranger.pk}/tokens/").status_code == 404
    assert ApiToken.objects.filter(user=stranger).count() == 1


def test_a_member_of_two_accounts_keeps_their_tokens_from_either_accounts_admin():
    """A token is its user's, good in every account they belong to: an admin of one
    account neither sees nor revokes it (403 saying why), on the API or the page."""
    account, other = make_account(), make_account()
    admin = make_member(account, "admin", "ada")
    both = make_member(account, "field", "bo")
    Membership.objects.create(user=both, account=other, role="admin")
    key = issue("bo", name="other campaign's CRM")["token"]

    api = api_client(admin, account)
    for call in (api.get, api.delete):
        refused = call(f"/api/v1/members/{both.pk}/tokens/")
        assert refused.status_code == 403
        assert "also belongs to another account" in refused.json()["detail"]
    page = signed_in("ada")
    assert (
        page.post(f"/settings/members/{both.pk}/tokens/revoke/", {"token": "all"}).status_code
        == 403
    )
    settings_page = page.get("/settings/").content.decode()
    assert "Their own: bo also belongs to another account" in settings_page
    assert "other campaign&#x27;s CRM" not in settings_page and key[:8] not in settings_page
    me = with_token(key).get("/api/v1/auth/me/", HTTP_X_ACCOUNT=other.slug)
    assert me.status_code == 200 and me.json()["role"] == "admin"


def test_admin_revokes_a_members_tokens_on_the_settings_page():
    account = make_account()
    make_member(account, "admin", "ada")
    field = make_member(account, "field", "fred")
    key = issue("fred", name="canvass app")["token"]
    browser = signed_in("ada")

    page = browser.get("/settings/").content.decode()
    assert "canvass app" in page and key[:8] in page and key not in page
    token = ApiToken.objects.get(user=field)
    res = browser.post(f"/settings/members/{field.pk}/tokens/revoke/", {"token": token.pk})
    assert res.status_code == 302
    assert "Revoked 1 API token of fred." in browser.get("/settings/").content.decode()
    assert not works(key)

    # A token field that is no token id revokes nothing (it never meant "all").
    other = issue("fred", name="phone")["token"]
    for bad in ("abc", "²", ""):
        res = browser.post(f"/settings/members/{field.pk}/tokens/revoke/", {"token": bad})
        assert res.status_code == 302
        assert works(other)
    assert (
        "fred has no such API token; nothing was revoked."
        in browser.get("/settings/").content.decode()
    )

    # A member who is not an admin sees no tokens and may not revoke.
    theirs = issue("ada")["token"]
    fred = signed_in("fred")
    assert "<th>API tokens</th>" not in fred.get("/settings/").content.decode()
    refused = fred.post(
        f"/settings/members/{Membership.objects.get(user__username='ada').user_id}/tokens/revoke/"
    )
    assert refused.status_code == 403
    assert works(theirs)


def test_tokens_issued_before_the_upgrade_keep_working():
    """DRF authtoken keys (stored in clear) are carried over as hashes by the migration."""
    user = make_member(make_account(), "viewer", "old")
    old_key = "0123456789abcdef0123456789abcdef01234567"
    migration = importlib.import_module("accounts.migrations.0003_api_tokens")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY,"
            " created timestamptz NOT NULL, user_id integer NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", [old_key, user.pk])
    with connection.schema_editor() as editor:
        migration.carry_over_authtoken_keys(apps, editor)
    assert works(old_key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)  # the clear keys are gone
