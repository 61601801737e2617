import pytest
import redis
from django.conf import settings

from tests.providers.conftest import (  # noqa: F401  (shared fixtures)
    celery_eager,
    mps_windows,
    quiet_simulator,
    signing_keys,
)


@pytest.fixture
def clean_dispatch_state():
    """No limiter, window log, simulator window or drain-loop ownership left over from
    another test (they live in Redis, outside the test transaction)."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def clear():
        for pattern in ("rl:sender:*", "rl:log:*", "sim:mps:*", "dispatch:*"):
            for key in client.scan_iter(pattern):
                client.delete(key)

    clear()
    yield
    clear()


@pytest.fixture(autouse=True)
def _recipients_in_daytime(daytime_recipients):
    """Sends in these tests are about the send engine, not the clock (tests of quiet
    hours place their contacts themselves)."""
