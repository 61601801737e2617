import pytest

from tests.providers.conftest import (  # noqa: F401  (shared fixtures)
    celery_eager,
    mps_windows,
    quiet_simulator,
    signing_keys,
)


@pytest.fixture(autouse=True)
def _recipients_in_daytime(daytime_recipients):
    """Sends in these tests are about the send engine, not the clock (tests of quiet
    hours place their contacts themselves)."""
