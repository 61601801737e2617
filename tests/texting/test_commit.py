"""Commit: audience -> queued messages, set-based, idempotent, with sticky senders."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact, SmsStatus
from tests.factories import make_account, make_contact, make_member, make_number
from texting.commit import campaign_commit, campaign_message_counts, final_body, sender_index
from texting.models import Campaign, CampaignStatus, Message
from texting.services import CampaignError, TransitionError, campaign_transition, campaign_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    account = make_account("commit", timezone="America/Los_Angeles")
    user = make_member(account, "manager")
    senders = [
        make_number(account, "+15035550100", state="OR", mps=10),
        make_number(account, "+12065550100", state="WA", mps=10),
        make_number(account, "+15415550100", state="OR", mps=10),
    ]
    return account, user, senders


def draft(account, user, senders, **fields) -> Campaign:
    defaults = {
        "name": "GOTV",
        "body": "Polls close at 8pm today!",
        "sender_ids": [s.pk for s in senders],
    }
    return Campaign.objects.create(account=account, created_by=user, **(defaults | fields))


def test_commit_queues_one_message_per_eligible_contact(setup):
    account, user, senders = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 130)]
    Contact.objects.filter(pk=contacts[0].pk).update(sms_status=SmsStatus.OPTED_OUT)
    campaign = draft(account, user, senders, audience={"contact_ids": [c.pk for c in contacts]})

    result = campaign_commit(campaign=campaign, actor=user)

    assert result.inserted == 29
    assert result.excluded == {"opted_out": 1}
    assert result.campaign.status == CampaignStatus.SENDING
    assert result.campaign.send_started is not None
    assert not Message.objects.filter(contact_id=contacts[0].pk).exists()
    message = Message.objects.filter(campaign=campaign).first()
    assert message.body == "Polls close at 8pm today!\nReply STOP to opt out."
    assert (message.segments, message.encoding) == (1, "GSM-7")
    assert message.status == "queued" and message.send_after <= timezone.now()
    assert campaign_message_counts(campaign=campaign) == {"queued": 29}


def test_the_insert_is_one_statement_whatever_the_audience_size(setup):
    account, user, senders = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 160)]
    campaign = draft(account, user, senders, audience={"contact_ids": [c.pk for c in contacts]})
    with CaptureQueriesContext(connection) as queries:
        campaign_commit(campaign=campaign, actor=user)
    inserts = [
        q
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("WITH", "INSERT"))
    ]
    assert len(inserts) == 1


def test_senders_follow_the_hash_and_are_stable(setup):
    account, user, senders = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 140)]
    campaign = draft(account, user, senders, audience={"contact_ids": [c.pk for c in contacts]})
    campaign_commit(campaign=campaign, actor=user)
    pool = sorted(s.e164 for s in senders)
    for message in Message.objects.filter(campaign=campaign):
        assert message.from_number == pool[sender_index(message.to_number, campaign.pk, len(pool))]
    assert len({m.from_number for m in Message.objects.filter(campaign=campaign)}) == 3


def test_an_existing_conversation_number_wins(setup):
    account, user, senders = setup
    contact = make_contact(account, "+19715550100")
    first = draft(account, user, senders[:1], audience={"contact_ids": [contact.pk]})
    campaign_commit(campaign=first, actor=user)
    second = draft(account, user, senders, audience={"contact_ids": [contact.pk]})
    campaign_commit(campaign=second, actor=user)
    assert Message.objects.get(campaign=second).from_number == senders[0].e164


def test_local_presence_prefers_a_sender_in_the_recipients_state(setup):
    account, user, senders = setup
    wa = [make_contact(account, f"+1206555{i:04d}", state="WA") for i in range(110, 130)]
    campaign = draft(
        account, user, senders, local_presence=True, audience={"contact_ids": [c.pk for c in wa]}
    )
    campaign_commit(campaign=campaign, actor=user)
    assert set(Message.objects.filter(campaign=campaign).values_list("from_number", flat=True)) == {
        "+12065550100"
    }


def test_every_message_gets_its_own_idempotency_key(setup):
    """The provider replays a key it has seen, so two messages sharing one would lose
    the second: keys differ within a campaign and across campaigns to the same people."""
    account, user, senders = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 140)]
    ids = [c.pk for c in contacts]
    for name in ("First", "Second"):
        campaign_commit(
            campaign=draft(account, user, senders, name=name, audience={"contact_ids": ids}),
            actor=user,
        )
    keys = list(Message.objects.filter(account=account).values_list("idempotency_key", flat=True))
    assert len(keys) == 80 and len(set(keys)) == 80
    assert {key.version for key in keys} == {4}


def test_a_retried_commit_adds_nothing(setup):
    account, user, senders = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(100, 110)]
    campaign = draft(account, user, senders, audience={"contact_ids": [c.pk for c in contacts]})
    campaign_commit(campaign=campaign, actor=user)
    with pytest.raises(TransitionError):
        campaign_commit(campaign=campaign, actor=user)
    # Even forced back to draft, the unique (campaign, contact) keeps it at one each.
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.DRAFT)
    assert campaign_commit(campaign=campaign, actor=user).inserted == 0
    assert Message.objects.filter(campaign=campaign).count() == 10


def test_phones_audience_creates_contacts_and_counts_invalid(setup):
    """Listed phones we have no record of become phone-only contacts, which carry no
    consent, so they are excluded as no_opt_in; a phone listed twice counts once."""
    account, user, senders = setup
    make_contact(account, "+19715550101")  # opted in
    campaign = draft(
        account,
        user,
        senders,
        audience={"phones": ["(971) 555-0101", "971.555.0102", "nope", "971-555-0101"]},
    )
    result = campaign_commit(campaign=campaign, actor=user)
    assert result.inserted == 1
    assert result.excluded == {"invalid_phone": 1, "duplicate": 1, "no_opt_in": 1}
    assert (
        Contact.objects.filter(account=account, phone__in=["+19715550101", "+19715550102"]).count()
        == 2
    )


def test_another_accounts_contacts_and_numbers_are_never_used(setup):
    account, user, senders = setup
    other = make_account("other")
    theirs = make_contact(other, "+19715550150")
    their_number = make_number(other, "+13605550100")
    mine = make_contact(account, "+19715550151")
    campaign = draft(
        account,
        user,
        senders,
        audience={"contact_ids": [theirs.pk, mine.pk]},
        sender_ids=[senders[0].pk, their_number.pk],
    )
    assert campaign_commit(campaign=campaign, actor=user).inserted == 1
    message = Message.objects.get(campaign=campaign)
    assert (message.contact_id, message.from_number) == (mine.pk, senders[0].e164)


def test_recipient_local_time_gives_everyone_the_same_wall_clock(setup):
    account, user, senders = setup
    pacific = make_contact(account, "+19715550160", zip="97205")
    eastern = make_contact(account, "+12125550160", zip="10001")
    at = (timezone.now() + datetime.timedelta(days=2)).astimezone(ZoneInfo("America/Los_Angeles"))
    at = at.replace(hour=10, minute=0, second=0, microsecond=0)
    campaign = draft(account, user, senders, audience={"contact_ids": [pacific.pk, eastern.pk]})
    result = campaign_commit(
        campaign=campaign,
        actor=user,
        send_mode="schedule",
        schedule_at=at,
        recipient_local_time=True,
    )
    assert result.campaign.status == CampaignStatus.SCHEDULED
    by_contact = {m.contact_id: m for m in Message.objects.filter(campaign=campaign)}
    assert {m.status for m in by_contact.values()} == {"scheduled"}
    for contact, zone in [(pacific, "America/Los_Angeles"), (eastern, "America/New_York")]:
        local = by_contact[contact.pk].send_after.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (10, 0)


@pytest.mark.parametrize(
    ("fields", "kwargs", "message"),
    [
        ({"body": "  "}, {}, "body is empty"),
        ({"sender_ids": []}, {}, "sender"),
        ({"audience": {}}, {}, "no audience"),
        ({"audience": {"tribe_id": 999999}}, {}, "No Tribe 999999 in this account"),
        ({}, {"send_mode": "later"}, "send_mode"),
        ({}, {"send_mode": "schedule"}, "schedule_at"),
        (
            {},
            {"send_mode": "schedule", "schedule_at": timezone.now() - datetime.timedelta(hours=1)},
            "past",
        ),
    ],
)
def test_bad_commits_fail_clearly_and_change_nothing(setup, fields, kwargs, message):
    account, user, senders = setup
    contact = make_contact(account, "+19715550170")
    campaign = draft(
        account, user, senders, **({"audience": {"contact_ids": [contact.pk]}} | fields)
    )
    with pytest.raises(CampaignError, match=message):
        campaign_commit(campaign=campaign, actor=user, **kwargs)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not Message.objects.exists()


def test_stop_language_is_appended_once(setup):
    account, user, senders = setup
    assert (
        final_body(draft(account, user, senders, body="Vote!")) == "Vote!\nReply STOP to opt out."
    )
    assert final_body(draft(account, user, senders, body="Vote! Reply STOP to opt out.")) == (
        "Vote! Reply STOP to opt out."
    )
    custom = draft(account, user, senders, body="Vote!", stop_language="Text STOP to quit.")
    assert final_body(custom) == "Vote!\nText STOP to quit."


@pytest.mark.parametrize(
    ("start", "to", "ok"),
    [
        ("draft", "sending", True),
        ("draft", "paused", False),
        ("sending", "paused", True),
        ("paused", "sending", True),
        ("completed", "sending", False),
        ("canceled", "paused", False),
        ("sending", "completed", True),
        ("completed", "archived", True),
    ],
)
def test_status_transitions_follow_the_machine(setup, start, to, ok):
    account, user, senders = setup
    campaign = draft(account, user, senders, status=start)
    if ok:
        assert campaign_transition(campaign=campaign, to=to).status == to
    else:
        with pytest.raises(TransitionError):
            campaign_transition(campaign=campaign, to=to)
        campaign.refresh_from_db()
        assert campaign.status == start


def test_an_edit_racing_the_commit_changes_nothing_once_it_is_sending(setup):
    """The edit page read the draft; meanwhile someone sent it. Saving the edit must not
    put a new body (or media) on a campaign its Tech Check never saw."""
    account, user, senders = setup
    contact = make_contact(account, "+19715550181")
    campaign = draft(account, user, senders, audience={"contact_ids": [contact.pk]})
    stale = Campaign.objects.get(pk=campaign.pk)  # what the edit form loaded
    campaign_commit(campaign=campaign, actor=user)

    with pytest.raises(TransitionError):
        campaign_update(campaign=stale, data={"body": "Changed after the Tech Check"})
    assert Campaign.objects.get(pk=campaign.pk).body == campaign.body
