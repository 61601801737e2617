"""Inbound SMS are attributed to the campaign they answer, through the real webhook path
(store the Telnyx-shaped event, process it through the provider-event hook)."""

import datetime

import pytest
from django.utils import timezone

from contacts.models import EngagementEvent
from tests.factories import make_account, make_contact, make_number
from tests.inbound import text_in
from texting.models import Campaign, CampaignStatus, Message, MessageStatus
from texting.selectors import campaign_status_snapshot

pytestmark = pytest.mark.django_db

OURS, OTHER_OURS = "+19715550601", "+19715550602"
ANA, BEN = "+15035550611", "+15035550612"


def reply(from_: str, to: str, text: str = "Count me in") -> EngagementEvent:
    text_in(from_, to, text)
    return EngagementEvent.objects.filter(type="sms_received").latest("id")


def campaign(account, name: str) -> Campaign:
    return Campaign.objects.create(
        account=account, name=name, body="Hi", status=CampaignStatus.SENDING
    )


def sent(campaign_or_none, account, contact, *, sender: str, status=MessageStatus.DELIVERED, **at):
    moment = timezone.now() - datetime.timedelta(**(at or {"minutes": 5}))
    return Message.objects.create(
        account=account,
        campaign=campaign_or_none,
        contact=contact,
        from_number=sender,
        to_number=contact.phone,
        body="Hi",
        status=status,
        send_after=moment,
        sent_at=moment if status != MessageStatus.SENDING else None,
    )


@pytest.fixture
def world():
    account = make_account("attr")
    make_number(account, OURS)
    make_number(account, OTHER_OURS)
    return account, make_contact(account, ANA), make_contact(account, BEN)


def test_a_reply_belongs_to_the_latest_campaign_sent_from_that_number(world):
    account, ana, _ = world
    older, newer, elsewhere = (
        campaign(account, "Old"),
        campaign(account, "New"),
        campaign(account, "Else"),
    )
    sent(older, account, ana, sender=OURS, hours=3)
    newest = sent(newer, account, ana, sender=OURS, minutes=10)
    sent(elsewhere, account, ana, sender=OTHER_OURS, minutes=1)  # later, but another number

    event = reply(ANA, OURS)

    assert event.contact_id == ana.pk
    assert event.campaign_id == newer.pk
    assert event.data["in_reply_to"] == newest.pk
    assert reply(ANA, OTHER_OURS).campaign_id == elsewhere.pk


def test_a_reply_in_flight_counts_but_a_message_never_sent_does_not(world):
    account, ana, ben = world
    going, waiting = campaign(account, "Going"), campaign(account, "Waiting")
    # Provider accepted, our worker has not recorded `sent` yet: the reply still belongs.
    sent(going, account, ana, sender=OURS, status=MessageStatus.SENDING)
    sent(waiting, account, ben, sender=OURS, status=MessageStatus.QUEUED)

    assert reply(ANA, OURS).campaign_id == going.pk
    assert reply(BEN, OURS).campaign_id is None  # nothing reached Ben yet


def test_a_reply_after_a_one_to_one_message_is_not_the_campaigns(world):
    account, ana, _ = world
    earlier = campaign(account, "Earlier")
    sent(earlier, account, ana, sender=OURS, hours=2)
    sent(None, account, ana, sender=OURS, minutes=2)  # a conversation reply since

    assert reply(ANA, OURS).campaign_id is None


def test_another_accounts_messages_are_never_used(world):
    account, ana, _ = world
    other = make_account("attr-other")
    make_number(other, "+19715550699")
    theirs = campaign(other, "Theirs")
    sent(theirs, other, make_contact(other, ANA), sender=OURS, minutes=1)  # same phones

    assert reply(ANA, OURS).campaign_id is None
    assert not EngagementEvent.objects.filter(account=other).exists()


def test_replied_counts_each_recipient_once(world):
    account, ana, ben = world
    gotv = campaign(account, "GOTV")
    for person in (ana, ben):
        sent(gotv, account, person, sender=OURS)
    reply(ANA, OURS, "Yes")
    reply(ANA, OURS, "What time?")
    reply(BEN, OURS, "STOP")
    reply("+15035550699", OURS, "Who is this?")  # never texted: no campaign

    assert campaign_status_snapshot(campaign=gotv)["replied"] == 2
