"""Exclusions over message history (texting.audience.campaign_exclusions): frequency
caps (default and per state), recently messaged, replied to a campaign; the audit and
the commit agree; the campaign API refuses bad `exclusions` / `compliance` naming the
field."""

import datetime

import pytest
from django.utils import timezone

from providers.models import SimulatorMessage
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from texting import dispatch
from texting.audience import campaign_audit
from texting.commit import campaign_commit
from texting.models import Campaign, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    account = make_account("history")
    user = make_member(account, "manager")
    sender = make_number(account, "+15035550900", mps=10)
    earlier = Campaign.objects.create(account=account, name="Earlier", status="completed")
    return account, user, sender, earlier


def texted(contact, *, campaign=None, hours_ago: float = 1, status="delivered", kind=None, n=1):
    """`n` outbound messages to `contact`, `hours_ago` hours old."""
    at = timezone.now() - datetime.timedelta(hours=hours_ago)
    for _ in range(n):
        message = Message.objects.create(
            account_id=contact.account_id,
            campaign=campaign,
            contact=contact,
            from_number="+15035550900",
            to_number=contact.phone,
            body="Earlier",
            status=status,
            kind=kind,
            send_after=at,
        )
        Message.objects.filter(pk=message.pk).update(created_at=at)


def older_campaigns(account, n: int) -> list[Campaign]:
    return [
        Campaign.objects.create(account=account, name=f"Old {i}", status="completed")
        for i in range(n)
    ]


def draft(account, user, sender, contacts, **fields) -> Campaign:
    return Campaign.objects.create(
        account=account,
        created_by=user,
        name="Next",
        body="One more thing.",
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in contacts]},
        **fields,
    )


def committed_phones(campaign: Campaign) -> set[str]:
    return set(Message.objects.filter(campaign=campaign).values_list("to_number", flat=True))


def test_the_default_cap_is_three_campaign_messages_per_seven_days(setup):
    account, user, sender, _ = setup
    old = older_campaigns(account, 5)  # (a campaign texts a contact once)
    capped = make_contact(account, "+19715550901")
    for c in old[:3]:
        texted(capped, campaign=c, hours_ago=100)
    # Two campaign messages; keyword replies, one-to-one, failed, canceled and older
    # messages do not count.
    fine = make_contact(account, "+19715550902")
    texted(fine, campaign=old[0], hours_ago=5)
    texted(fine, campaign=old[1], hours_ago=150)
    texted(fine, kind="help_reply", n=2)
    texted(fine, n=2)
    texted(fine, campaign=old[2], status="failed")
    texted(fine, campaign=old[3], status="canceled")
    texted(fine, campaign=old[4], hours_ago=24 * 7 + 1)
    opted_out = make_contact(account, "+19715550903", sms_status="opted_out")
    for c in old[:3]:
        texted(opted_out, campaign=c)
    campaign = draft(account, user, sender, [capped, fine, opted_out])

    audit = campaign_audit(campaign=campaign)
    result = campaign_commit(campaign=campaign, actor=user)

    # Counted under the first reason: opted_out before frequency_cap.
    assert audit.as_dict() == {
        "total": 3,
        "eligible": 1,
        "excluded": {"frequency_cap": 1, "opted_out": 1},
    }
    assert result.excluded == audit.excluded
    assert committed_phones(campaign) == {fine.phone}


def test_queued_messages_of_other_campaigns_count_toward_the_cap(setup):
    account, user, sender, _ = setup
    old = older_campaigns(account, 3)
    contact = make_contact(account, "+19715550904")
    for c in old:
        texted(contact, campaign=c, status="queued", hours_ago=0)
    campaign = draft(account, user, sender, [contact])
    assert campaign_audit(campaign=campaign).excluded == {"frequency_cap": 1}


def test_state_caps_of_three_per_day_apply_under_a_looser_campaign_cap(setup):
    account, user, sender, _ = setup
    old = older_campaigns(account, 3)
    florida = make_contact(account, "+13055550911", state="FL")
    oregon_day = make_contact(account, "+15415550912", state="OR")
    oregon_older = make_contact(account, "+15415550913", state="OR")
    california = make_contact(account, "+14155550914", state="CA")
    for c in old:
        texted(florida, campaign=c, hours_ago=3)
        texted(oregon_day, campaign=c, hours_ago=20)
        texted(oregon_older, campaign=c, hours_ago=30)
        texted(california, campaign=c, hours_ago=3)
    contacts = [florida, oregon_day, oregon_older, california]
    campaign = draft(
        account,
        user,
        sender,
        contacts,
        compliance={"frequency_cap": {"messages": 5, "days": 1}},
    )

    assert campaign_audit(campaign=campaign).excluded == {"frequency_cap": 2}
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {oregon_older.phone, california.phone}

    # Under the default (3 per 7 days) all four have had their three.
    default = draft(account, user, sender, contacts)
    assert campaign_audit(campaign=default).excluded == {"frequency_cap": 4}


def test_recently_messaged_counts_any_message_that_went_within_the_hours(setup):
    account, user, sender, earlier = setup
    recent = make_contact(account, "+19715550921")
    texted(recent, hours_ago=2)  # one-to-one
    older = make_contact(account, "+19715550922")
    texted(older, campaign=earlier, hours_ago=30)
    never_left = make_contact(account, "+19715550923")
    texted(never_left, campaign=earlier, status="canceled")
    campaign = draft(
        account,
        user,
        sender,
        [recent, older, never_left],
        exclusions={"messaged_within_hours": 24},
    )
    assert campaign_audit(campaign=campaign).excluded == {"recently_messaged": 1}
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {older.phone, never_left.phone}
    # The campaign's own messages do not make its recipients "recently messaged".
    assert campaign_audit(campaign=campaign).excluded == {"recently_messaged": 1}


def test_replied_to_campaign_excludes_who_answered_that_campaign(setup):
    account, user, sender, earlier = setup
    other = Campaign.objects.create(account=account, name="Other", status="completed")
    answered = make_contact(account, "+19715550931")
    answered_other = make_contact(account, "+19715550932")
    silent = make_contact(account, "+19715550933")
    from tests.factories import make_event

    make_event(answered, campaign_id=earlier.pk, data={"text": "Count me in"})
    make_event(answered_other, campaign_id=other.pk, data={"text": "Maybe"})
    campaign = draft(
        account,
        user,
        sender,
        [answered, answered_other, silent],
        exclusions={"replied_to_campaign": earlier.pk},
    )
    assert campaign_audit(campaign=campaign).excluded == {"replied_to_campaign": 1}
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {answered_other.phone, silent.phone}


def test_the_audit_api_reports_history_reasons(setup):
    account, user, sender, _ = setup
    old = older_campaigns(account, 3)
    capped = make_contact(account, "+19715550941")
    for c in old:
        texted(capped, campaign=c)
    campaign = draft(account, user, sender, [capped, make_contact(account, "+19715550942")])
    res = api_client(user, account).get(f"/api/v1/campaigns/{campaign.pk}/audit/")
    assert res.status_code == 200
    assert res.json() == {"total": 2, "eligible": 1, "excluded": {"frequency_cap": 1}}


BAD_INPUT = [
    pytest.param({"exclusions": {"bogus": 1}}, ("exclusions", "bogus"), id="unknown-exclusion"),
    pytest.param(
        {"exclusions": {"messaged_within_hours": 0}},
        ("exclusions", "messaged_within_hours"),
        id="zero-hours",
    ),
    pytest.param(
        {"exclusions": {"messaged_within_hours": "24"}},
        ("exclusions", "messaged_within_hours"),
        id="hours-as-text",
    ),
    pytest.param(
        {"exclusions": {"replied_to_campaign": 999999}},
        ("exclusions", "replied_to_campaign"),
        id="no-such-campaign",
    ),
    pytest.param(
        {"compliance": {"frequency_cap": {"messages": 0, "days": 7}}},
        ("compliance", "frequency_cap"),
        id="cap-of-zero",
    ),
    pytest.param(
        {"compliance": {"quiet_hours": "off"}}, ("compliance", "quiet_hours"), id="unknown-setting"
    ),
]


@pytest.mark.parametrize(("fields", "error_at"), BAD_INPUT)
def test_bad_exclusions_and_compliance_are_refused_naming_the_field(setup, fields, error_at):
    account, user, _, _ = setup
    api = api_client(user, account)
    res = api.post("/api/v1/campaigns/", {"name": "Bad"} | fields, format="json")
    assert res.status_code == 400, res.content
    field, key = error_at
    assert key in res.json()[field]
    assert not Campaign.objects.filter(name="Bad").exists()

    campaign = Campaign.objects.create(account=account, name="Good")
    res = api.patch(f"/api/v1/campaigns/{campaign.pk}/", fields, format="json")
    assert res.status_code == 400
    assert key in res.json()[field]
    campaign.refresh_from_db()
    assert (campaign.exclusions, campaign.compliance) == ({}, {})


def test_another_accounts_campaign_cannot_be_named_in_exclusions(setup, other_account):
    account, user, _, _ = setup
    theirs = Campaign.objects.create(account=other_account, name="Theirs")
    res = api_client(user, account).post(
        "/api/v1/campaigns/",
        {"name": "Mine", "exclusions": {"replied_to_campaign": theirs.pk}},
        format="json",
    )
    assert res.status_code == 400
    assert "replied_to_campaign" in res.json()["exclusions"]


def test_good_exclusions_and_compliance_are_stored(setup):
    account, user, _, earlier = setup
    fields = {
        "exclusions": {"messaged_within_hours": 48, "replied_to_campaign": earlier.pk},
        "compliance": {"frequency_cap": {"messages": 2, "days": 3}},
    }
    res = api_client(user, account).post(
        "/api/v1/campaigns/", {"name": "Careful"} | fields, format="json"
    )
    assert res.status_code == 201, res.content
    campaign = Campaign.objects.get(pk=res.json()["id"])
    assert (campaign.exclusions, campaign.compliance) == (
        fields["exclusions"],
        fields["compliance"],
    )


def test_state_caps_reach_a_phone_by_its_area_code_without_an_address(setup):
    """FL, OK and CT presume a number with an in-state area code belongs to someone in the
    state: the 3-per-24 h cap applies to a Miami number with no address on file."""
    account, user, sender, _ = setup
    old = older_campaigns(account, 3)
    miami = make_contact(account, "+13055550931")  # no address: the area code says FL
    chicago = make_contact(account, "+13125550932")  # IL: no state cap
    for c in old:
        texted(miami, campaign=c, hours_ago=3)
        texted(chicago, campaign=c, hours_ago=3)
    campaign = draft(
        account,
        user,
        sender,
        [miami, chicago],
        compliance={"frequency_cap": {"messages": 5, "days": 1}},
    )
    assert campaign_audit(campaign=campaign).excluded == {"frequency_cap": 1}
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {chicago.phone}


@pytest.mark.usefixtures("clean_dispatch_state")
def test_the_caps_are_checked_again_right_before_the_call(setup):
    """Committed while under the cap; three other campaigns' messages went out to the
    same phone before its turn came: at send time it is over the cap, and canceled."""
    account, user, sender, _ = setup
    over = make_contact(account, "+13125550941")
    under = make_contact(account, "+13125550942")
    campaign = draft(account, user, sender, [over, under])
    campaign_commit(campaign=campaign, actor=user)
    for c in older_campaigns(account, 3):
        texted(over, campaign=c, hours_ago=0.5)
    Message.objects.filter(campaign__name__startswith="Old").update(
        sent_at=timezone.now() - datetime.timedelta(minutes=30)
    )

    for _ in range(5):
        dispatch.dispatch_sender(sender=sender.e164)

    rows = {m.to_number: m for m in Message.objects.filter(campaign=campaign)}
    assert (rows[over.phone].status, rows[over.phone].error_reason) == (
        "canceled",
        "frequency_cap",
    )
    assert rows[under.phone].status == "sent"
    assert set(SimulatorMessage.objects.values_list("to_number", flat=True)) == {under.phone}
