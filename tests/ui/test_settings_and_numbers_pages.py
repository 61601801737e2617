import datetime

import pytest
from django.urls import reverse

from tests.factories import make_number

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Alpha for Oregon",
    "timezone": "America/Los_Angeles",
    "stop_language": "Text STOP to quit.",
    "help_text": "Alpha volunteers. Reply STOP to opt out.",
    "opt_out_confirmation": "Alpha: you're unsubscribed. Reply START to opt back in.",
    "opt_in_confirmation": "Alpha: you're opted in. Reply STOP to opt out.",
    "quiet_hours_start": "20:30",
    "quiet_hours_end": "09:00",
}


def test_admin_edits_settings(account, admin_web):
    response = admin_web.post(reverse("account-settings"), VALID)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.timezone == "America/Los_Angeles"
    assert account.stop_language == "Text STOP to quit."
    assert account.quiet_hours_start == datetime.time(20, 30)


def test_invalid_timezone_is_rejected(account, admin_web):
    response = admin_web.post(reverse("account-settings"), {**VALID, "timezone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "timezone" in response.context["form"].errors
    account.refresh_from_db()
    assert account.timezone == "America/New_York"


def test_stop_language_is_required(account, admin_web):
    response = admin_web.post(reverse("account-settings"), {**VALID, "stop_language": "   "})
    assert "stop_language" in response.context["form"].errors
    account.refresh_from_db()
    assert account.stop_language == "Reply STOP to opt out."


def test_manager_sees_settings_read_only_and_gets_403_on_post(account, member_client):
    manager = member_client("manager")
    page = manager.get(reverse("account-settings"))
    assert page.status_code == 200
    assert b"Only an admin can change" in page.content
    assert b"Save settings" not in page.content
    assert manager.post(reverse("account-settings"), VALID).status_code == 403
    account.refresh_from_db()
    assert account.timezone == "America/New_York"


def test_settings_lists_members_and_balance(account, admin_user, member_client):
    page = member_client("viewer").get(reverse("account-settings")).content.decode()
    assert "alice" in page and "Admin" in page and "Viewer" in page
    assert "$100.00" in page  # tests start funded (tests.factories.make_account)


def test_numbers_list_for_manager_and_403_for_field(account, other_account, member_client):
    make_number(account, "+15035550100", state="OR", mps=10)
    make_number(other_account, "+12065550100")
    page = member_client("manager").get(reverse("number-list"))
    assert page.status_code == 200
    assert b"+15035550100" in page.content and b"+12065550100" not in page.content
    assert b"To add a number or register one for 10DLC" in page.content
    assert member_client("field").get(reverse("number-list")).status_code == 403
