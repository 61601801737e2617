"""Per-recipient short links: written into each message at commit, sent as such,
redirecting and recording a click; forged codes find nothing."""

import re
import uuid

import pytest

from contacts.models import EngagementEvent
from providers.models import SimulatorMessage
from tests.factories import make_account, make_contact, make_member, make_number
from tests.sending import drain
from texting.commit import campaign_commit
from texting.links import (
    CODE_LENGTH,
    campaign_click_totals,
    campaign_link_clicks,
    code_for,
    recipient_link_clicks,
    short_url,
)
from texting.models import Campaign, CampaignLink, Message
from texting.techcheck import campaign_tech_check

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

LONG = "https://www.example.org/events/2026/early-voting-locations?utm_source=sms&ref=fall"
SHORT_RE = re.compile(rf"https://go\.example\.org/s/([0-9A-Za-z]{{{CODE_LENGTH}}})")


@pytest.fixture(autouse=True)
def _short_domain(settings):
    settings.SHORT_LINK_DOMAIN = "go.example.org"


def _campaign(body: str, n: int = 3) -> Campaign:
    account = make_account()
    user = make_member(account, "manager")
    sender = make_number(account, f"+1971555{uuid.uuid4().int % 9000 + 1000:04d}", mps=50)
    contacts = [make_contact(account, f"+1503555{i:04d}") for i in range(200, 200 + n)]
    return Campaign.objects.create(
        account=account,
        created_by=user,
        name="Links",
        body=body,
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in contacts]},
    )


def test_each_recipient_is_sent_their_own_short_link_instead_of_the_long_one():
    campaign = _campaign(f"Early voting starts today. Find your spot: {LONG}. Thanks!")
    user = campaign.created_by
    campaign_commit(campaign=campaign, actor=user)
    (link,) = CampaignLink.objects.filter(campaign=campaign)
    assert link.url == LONG
    messages = list(Message.objects.filter(campaign=campaign))
    codes = set()
    for message in messages:
        # The SQL rendering and the Python twin agree, per recipient.
        expected = short_url(link_id=link.pk, contact_id=message.contact_id)
        assert message.body.startswith(f"Early voting starts today. Find your spot: {expected}.")
        assert LONG not in message.body
        codes.add(SHORT_RE.search(message.body).group(1))
    assert len(codes) == 3

    drain(messages[0].from_number)
    sent = SimulatorMessage.objects.filter(to_number__in=[m.to_number for m in messages])
    assert sent.count() == 3
    for item in sent:
        assert LONG not in item.text
        assert SHORT_RE.search(item.text)


def test_segments_are_counted_with_the_short_link():
    # 130 characters of text + a 93-character URL: 2 segments long, 1 once shortened.
    body = "x" * 70 + " " + LONG
    campaign = _campaign(body, n=1)
    check = campaign_tech_check(campaign=campaign)
    campaign_commit(campaign=campaign, actor=campaign.created_by)
    message = Message.objects.get(campaign=campaign)
    assert check.segments == 1
    assert message.segments == 1
    assert len(message.body) <= 160


def test_a_click_redirects_and_lands_on_the_recipients_history(client):
    campaign = _campaign(f"Sign here {LONG}", n=2)
    campaign_commit(campaign=campaign, actor=campaign.created_by)
    first, second = Message.objects.filter(campaign=campaign).order_by("id")
    path = "/s/" + SHORT_RE.search(first.body).group(1)

    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == LONG
    client.get(path)
    client.get("/s/" + SHORT_RE.search(second.body).group(1))

    events = EngagementEvent.objects.filter(contact_id=first.contact_id, type="link_click")
    assert events.count() == 2
    assert {e.campaign_id for e in events} == {campaign.pk}
    assert events.first().data["url"] == LONG
    assert campaign_click_totals(campaign=campaign) == {"clicks": 3, "recipients": 2}
    (stats,) = campaign_link_clicks(campaign=campaign)
    assert (stats.url, stats.clicks, stats.recipients) == (LONG, 3, 2)
    assert recipient_link_clicks(campaign=campaign) == {first.contact_id: 2, second.contact_id: 1}


def test_forged_or_mangled_codes_are_404_and_record_nothing(client):
    campaign = _campaign(f"Sign here {LONG}", n=1)
    campaign_commit(campaign=campaign, actor=campaign.created_by)
    message = Message.objects.get(campaign=campaign)
    code = SHORT_RE.search(message.body).group(1)
    link = CampaignLink.objects.get(campaign=campaign)
    # Someone else's contact id with this link's id: the tag no longer matches.
    other = code_for(link_id=link.pk, contact_id=message.contact_id + 1)
    forged = code[:-8] + other[-8:]
    flipped = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (forged, flipped, code[:-1], "x" * CODE_LENGTH, "not-a-code"):
        assert client.get(f"/s/{bad}").status_code == 404, bad
    assert not EngagementEvent.objects.filter(type="link_click").exists()


def test_own_links_and_links_with_merge_fields_are_left_alone():
    campaign = _campaign(
        "Already short https://go.example.org/s/abc and personal "
        "https://example.org/p?id={first_name} ok",
        n=1,
    )
    campaign_commit(campaign=campaign, actor=campaign.created_by)
    assert not CampaignLink.objects.filter(campaign=campaign).exists()


def test_head_requests_and_preview_bots_redirect_without_counting_a_click(client):
    campaign = _campaign(f"Sign here {LONG}", n=1)
    campaign_commit(campaign=campaign, actor=campaign.created_by)
    message = Message.objects.get(campaign=campaign)
    path = "/s/" + SHORT_RE.search(message.body).group(1)

    head = client.head(path)
    assert head.status_code == 302
    assert head["Location"] == LONG
    # A messaging app unfurling the link as the text arrives.
    preview = client.get(path, HTTP_USER_AGENT="facebookexternalhit/1.1 Facebot Twitterbot/1.0")
    assert preview.status_code == 302
    assert not EngagementEvent.objects.filter(type="link_click").exists()
    assert campaign_click_totals(campaign=campaign) == {"clicks": 0, "recipients": 0}
    assert client.head("/s/" + "x" * CODE_LENGTH).status_code == 404

    # The recipient's own tap still counts.
    client.get(path, HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)")
    assert campaign_click_totals(campaign=campaign) == {"clicks": 1, "recipients": 1}
