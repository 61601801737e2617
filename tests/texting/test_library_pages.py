"""The pages: Templates (account level), the Compose tab's attachments and templates,
the Status tab's link clicks."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from contacts.models import EngagementEvent
from tests.factories import make_contact, make_member
from texting.models import Campaign, CampaignLink, CampaignStatus, MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(account, client, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    user = make_member(account, "manager", "mia")
    client.force_login(user)
    return user


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def test_templates_page_creates_edits_and_deletes(client, manager, account):
    page = client.get("/templates/")
    assert page.status_code == 200
    assert "GOTV reminder" in page.content.decode()  # starters on first use
    client.post("/templates/new/", {"name": "Thanks", "body": "Thank you!", "shared": "on"})
    template = MessageTemplate.objects.get(account=account, name="Thanks")
    assert template.shared and template.created_by == manager
    client.post(f"/templates/{template.pk}/edit/", {"name": "Thanks!", "body": "Merci"})
    template.refresh_from_db()
    assert (template.name, template.body, template.shared) == ("Thanks!", "Merci", False)
    client.post(f"/templates/{template.pk}/delete/")
    assert not MessageTemplate.objects.filter(pk=template.pk).exists()


def test_compose_tab_attaches_media_and_saves_the_draft_as_a_template(client, manager, account):
    campaign = Campaign.objects.create(account=account, name="Rally", body="See you there")
    upload = SimpleUploadedFile("flyer.jpg", _png())
    client.post(f"/campaigns/{campaign.pk}/compose/media/attach/", {"file": upload})
    campaign.refresh_from_db()
    assert len(campaign.media_ids) == 1
    page = client.get(f"/campaigns/{campaign.pk}/compose/").content.decode()
    assert "flyer.jpg" in page and "image/png" in page
    assert "Insert a template" in page

    client.post(f"/campaigns/{campaign.pk}/compose/save-template/", {"name": "Rally text"})
    template = MessageTemplate.objects.get(account=account, name="Rally text")
    assert (template.body, template.media_ids) == ("See you there", campaign.media_ids)

    client.post(
        f"/campaigns/{campaign.pk}/compose/media/detach/", {"media_id": campaign.media_ids[0]}
    )
    campaign.refresh_from_db()
    assert campaign.media_ids == []


def test_a_text_file_is_refused_on_the_compose_tab(client, manager, account):
    campaign = Campaign.objects.create(account=account, name="Rally", body="Hi")
    upload = SimpleUploadedFile("flyer.png", b"not an image at all")
    response = client.post(
        f"/campaigns/{campaign.pk}/compose/media/attach/", {"file": upload}, follow=True
    )
    assert "Unsupported file type" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.media_ids == []


def test_status_tab_shows_link_clicks(client, manager, account):
    campaign = Campaign.objects.create(
        account=account, name="Sent", body="x", status=CampaignStatus.SENDING
    )
    link = CampaignLink.objects.create(
        account=account, campaign=campaign, url="https://example.org/rsvp", position=0
    )
    contact = make_contact(account)
    EngagementEvent.objects.create(
        account=account,
        contact=contact,
        type="link_click",
        campaign_id=campaign.pk,
        at=campaign.created_at,
        data={"url": link.url, "link_id": link.pk},
    )
    page = client.get(f"/campaigns/{campaign.pk}/status/").content.decode()
    assert "Link clicks" in page
    assert "1 click by 1 recipient" in page
