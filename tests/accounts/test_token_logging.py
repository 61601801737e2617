"""API tokens never appear in logs (issue 14, item 12): a real uvicorn with its access
log on, Django and every library logging at DEBUG, SQL statements included (the form
they take in PostgreSQL's own slow-query or statement log too)."""

import logging

import httpx
import pytest

# At import: it runs django.setup(), whose logging config would drop caplog's handler.
from config.asgi import application
from tests.conftest import redis_keys_cleared
from tests.factories import make_account, make_member
from tests.servers import uvicorn_thread

GOOD = "pw-for-tests-1"


@pytest.fixture(autouse=True)
def _no_failures_left_over():
    yield from redis_keys_cleared("login:fail:*")


@pytest.mark.django_db(transaction=True)
def test_no_token_in_any_log_record_or_output(caplog, capfd, settings):
    account, foreign = make_account(), make_account()
    make_member(account, "viewer", "vic")
    settings.DEBUG = True  # Django logs every SQL statement (django.db.backends) …
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")  # … at DEBUG

    with (
        uvicorn_thread(application, log_config=None, log_level="debug") as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        issued = http.post("/api/v1/auth/token/", json={"username": "vic", "password": GOOD})
        assert issued.status_code == 200
        key = issued.json()["token"]
        wrong = key[::-1]  # a mistyped token must not be logged either
        auth = {"Authorization": f"Token {key}"}
        answers = [
            http.get("/api/v1/auth/me/", headers=auth).status_code,
            http.get("/api/v1/contacts/", headers=auth).status_code,
            http.head("/api/v1/contacts/", headers=auth).status_code,
            http.get("/api/v1/contacts/999999/", headers=auth).status_code,
            http.post("/api/v1/contacts/", headers=auth, json={"phone": "x"}).status_code,
            http.get("/api/v1/contacts/", headers={**auth, "X-Account": foreign.slug}).status_code,
            http.post(
                "/api/v1/contacts/",
                headers={**auth, "X-Account": account.slug},
                json={"phone": "5035550100", "first_name": "nul\u0000byte"},
            ).status_code,
            http.get("/api/v1/contacts/", headers={"Authorization": f"Token {wrong}"}).status_code,
            http.post(
                "/api/v1/auth/token/",
                headers=auth,
                json={"username": "vic", "password": "wrong"},
            ).status_code,
            http.post("/api/v1/auth/logout/", headers=auth).status_code,
            http.get("/api/v1/contacts/", headers=auth).status_code,  # revoked: 401
        ]
    assert answers[:4] == [200, 200, 200, 404]
    assert answers[5] == 403 and answers[7] == 401 and answers[-1] == 401

    records = caplog.records
    assert any(r.name == "uvicorn.access" for r in records), "the access log was on"
    assert any(r.name == "django.db.backends" for r in records), "SQL was logged"
    assert any(r.name == "django.request" for r in records), "4xx were logged"
    out, err = capfd.readouterr()
    for secret in (key, wrong):
        for record in records:
            assert secret not in record.getMessage(), record.name
            assert secret not in repr(record.args), record.name
            assert secret not in (caplog.handler.format(record) or "")
        assert secret not in out and secret not in err
