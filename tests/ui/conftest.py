import pytest
from django.test import Client

from tests.factories import make_member


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Pages render {% static %}; without collectstatic there is no manifest to look up.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def login_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_web(admin_user) -> Client:
    return login_client(admin_user)


@pytest.fixture
def member_client(account):
    """`member_client("viewer")`: a logged-in client for a new member with that role."""

    def make(role: str) -> Client:
        return login_client(make_member(account, role))

    return make
