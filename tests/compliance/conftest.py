import pytest


@pytest.fixture(autouse=True)
def _recipients_in_daytime(daytime_recipients):
    """Sends in these tests are about consent and suppression, not the clock: contacts
    made without an address are placed where it is midday (tests/conftest.py), so the
    suite passes at any hour. Quiet hours have their own tests (tests/texting)."""
