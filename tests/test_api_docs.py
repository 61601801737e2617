import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_contract(admin_user):
    client = Client()
    client.force_login(admin_user)
    res = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert res.status_code == 200
    schema = res.json()
    assert schema["openapi"].startswith("3.")
    for path in [
        "/api/v1/contacts/",
        "/api/v1/contacts/{id}/",
        "/api/v1/contacts/{id}/history/",
        "/api/v1/numbers/",
        "/api/v1/auth/token/",
    ]:
        assert path in schema["paths"], path


def test_browsable_docs_page(admin_user):
    client = Client()
    client.force_login(admin_user)
    res = client.get("/api/v1/docs/")
    assert res.status_code == 200
    assert b"swagger" in res.content.lower()
    assert b"cdn.jsdelivr" not in res.content  # served from our static files
