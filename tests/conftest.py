import pytest

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
