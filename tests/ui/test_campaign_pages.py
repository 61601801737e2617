import pytest
from django.urls import reverse

from tests.factories import make_campaign
from texting.models import Campaign

pytestmark = pytest.mark.django_db

TABS = ["dashboard", "compose", "recipients", "tech-check", "status", "conversations"]


def test_manager_creates_a_campaign(account, member_client):
    manager = member_client("manager")
    assert b"New campaign" in manager.get(reverse("campaign-list")).content
    response = manager.post(
        reverse("campaign-new"),
        {"name": "  Spring canvass ", "description": "Door follow-ups", "mode": "campaign"},
    )
    campaign = Campaign.objects.get(account=account)
    assert response.status_code == 302
    assert response.url == reverse("campaign-tab", args=[campaign.pk, "dashboard"])
    assert (campaign.name, campaign.mode, campaign.status) == (
        "Spring canvass",
        "campaign",
        "draft",
    )
    listing = manager.get(reverse("campaign-list")).content.decode()
    assert "Spring canvass" in listing and "Draft" in listing


def test_name_is_required(member_client):
    response = member_client("manager").post(
        reverse("campaign-new"), {"name": " ", "mode": "relationship"}
    )
    assert response.status_code == 200
    assert "name" in response.context["form"].errors
    assert not Campaign.objects.exists()


def test_field_user_cannot_create_campaigns(member_client):
    field = member_client("field")
    assert b"New campaign" not in field.get(reverse("campaign-list")).content
    assert field.get(reverse("campaign-new")).status_code == 403
    response = field.post(reverse("campaign-new"), {"name": "Sneaky", "mode": "relationship"})
    assert response.status_code == 403
    assert not Campaign.objects.exists()


def test_the_six_tabs_render(account, admin_user, admin_web):
    campaign = make_campaign(account, "Spring canvass", admin_user, description="GOTV week")
    for tab in TABS:
        response = admin_web.get(reverse("campaign-tab", args=[campaign.pk, tab]))
        assert response.status_code == 200, tab
        html = response.content.decode()
        assert "Spring canvass" in html
        for other in TABS:
            assert reverse("campaign-tab", args=[campaign.pk, other]) in html
        assert 'class="active" aria-current="page"' in html
    overview = admin_web.get(reverse("campaign-tab", args=[campaign.pk, "dashboard"]))
    assert b"GOTV week" in overview.content
    compose = admin_web.get(reverse("campaign-tab", args=[campaign.pk, "compose"]))
    assert b'id="compose-counter"' in compose.content
    assert "Reply STOP to opt out.</div>" in compose.content.decode()  # appended in the bubble
    assert admin_web.get(reverse("campaign-tab", args=[campaign.pk, "nope"])).status_code == 404
    assert admin_web.get(reverse("campaign-detail", args=[campaign.pk])).status_code == 302


def test_another_accounts_campaign_is_a_404(other_account, admin_web):
    theirs = make_campaign(other_account, "Their plan")
    assert admin_web.get(reverse("campaign-tab", args=[theirs.pk, "dashboard"])).status_code == 404
    assert admin_web.get(reverse("campaign-detail", args=[theirs.pk])).status_code == 404
    assert b"Their plan" not in admin_web.get(reverse("campaign-list")).content
