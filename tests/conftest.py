import pytest
import redis
from django.conf import settings
from django.db import connections

from tests.factories import api_client, make_account, make_member


@pytest.fixture
def account(db):
    return make_account("alpha", name="Alpha for Oregon")


@pytest.fixture
def other_account(db):
    return make_account("bravo", name="Bravo PAC")


@pytest.fixture
def admin_user(account):
    return make_member(account, "admin", "alice")


@pytest.fixture
def admin_api(admin_user, account):
    return api_client(admin_user, account)


@pytest.fixture
def daytime_recipients(monkeypatch):
    """Contacts made by `make_contact` without an address live in a zone where it is
    midday now, so tests that send are never held by quiet hours (compliance.rules),
    whatever the hour the suite runs at. Real clocks, real workers: nothing is frozen."""
    from tests import factories

    monkeypatch.setattr(factories, "RECIPIENT_ZONE", factories.daytime_zone())


@pytest.fixture(scope="session", autouse=True)
def _close_connection_pools(django_db_setup, django_db_blocker):
    """Threads (the dispatcher's, live servers') leave connections in the pool; close it
    before pytest-django drops the test database."""
    yield
    with django_db_blocker.unblock():
        for conn in connections.all():
            conn.close()
            if getattr(conn, "pool", None) is not None:
                conn.close_pool()


def redis_keys_cleared(*patterns: str):
    """A fixture body: delete the Redis keys matching `patterns` before and after the
    test (state that lives outside the test transaction). Use as
    `yield from redis_keys_cleared("live:*")`."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def clear():
        for pattern in patterns:
            for key in client.scan_iter(pattern):
                client.delete(key)

    clear()
    yield
    clear()


@pytest.fixture(scope="session", autouse=True)
def _no_login_failures_from_earlier_runs():
    """Wrong passwords are counted in Redis for 15 minutes (accounts.services): a run
    started soon after another must not find its sign-ins refused."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("login:fail:*"):
        client.delete(key)


@pytest.fixture
def clean_dispatch_state():
    """No limiter, window log, simulator window or drain-loop ownership left over from
    another test (they live in Redis, outside the test transaction)."""
    yield from redis_keys_cleared(
        "rl:sender:*", "rl:log:*", "rl:flight:*", "sim:mps:*", "dispatch:*"
    )
