"""Tribe and filter audiences (texting.audience.resolve_audience) and the `excluded_tribe`
exclusion: the audit and the commit agree, the commit queues exactly the eligible
members, the campaign API checks Tribe ids, filters (naming the path) and modes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import TribeMember
from contacts.tribes import tribe_create
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from texting.audience import campaign_audit
from texting.commit import campaign_commit
from texting.models import Campaign, Message
from texting.services import CampaignError
from texting.techcheck import PreflightError

pytestmark = pytest.mark.django_db

VOLUNTEERS = {"all": [{"field": "custom.volunteer", "op": "eq", "value": True}]}


@pytest.fixture
def setup():
    account = make_account("tribes")
    user = make_member(account, "manager")
    sender = make_number(account, "+15035550900", mps=10)
    people = {
        "vol_in": make_contact(account, "+19715550301", custom_fields={"volunteer": True}),
        "vol_none": make_contact(
            account, "+19715550302", sms_status="none", custom_fields={"volunteer": True}
        ),
        "vol_staff": make_contact(
            account, "+19715550303", custom_fields={"volunteer": True, "staff": True}
        ),
        "other": make_contact(account, "+19715550304", custom_fields={"volunteer": False}),
        "bare": make_contact(account, "+19715550305"),
    }
    return account, user, sender, people


def draft(account, user, sender, **fields) -> Campaign:
    return Campaign.objects.create(
        account=account,
        created_by=user,
        name="Volunteer call",
        body="Can you help this weekend?",
        sender_ids=[sender.pk],
        **fields,
    )


def committed_phones(campaign: Campaign) -> set[str]:
    return set(Message.objects.filter(campaign=campaign).values_list("to_number", flat=True))


def test_a_tribe_audience_commits_its_eligible_members(setup):
    account, user, sender, p = setup
    tribe = tribe_create(
        account=account, actor=user, name="Volunteers", mode="relationship", filter=VOLUNTEERS
    )
    campaign = draft(account, user, sender, audience={"tribe_id": tribe.pk})
    audit = campaign_audit(campaign=campaign)
    assert audit.as_dict() == {"total": 3, "eligible": 2, "excluded": {"no_opt_in": 1}}
    result = campaign_commit(campaign=campaign, actor=user)
    assert result.excluded == audit.excluded
    assert committed_phones(campaign) == {p["vol_in"].phone, p["vol_staff"].phone}


def test_a_filter_audience_commits_its_eligible_matches(setup):
    account, user, sender, p = setup
    audience = {
        "filter": {
            "any": [
                {"field": "custom.volunteer", "op": "eq", "value": False},
                {"field": "custom.volunteer", "op": "exists", "value": False},
            ]
        }
    }
    campaign = draft(account, user, sender, audience=audience)
    assert campaign_audit(campaign=campaign).as_dict() == {
        "total": 2,
        "eligible": 2,
        "excluded": {},
    }
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {p["other"].phone, p["bare"].phone}


def test_members_of_an_excluded_tribe_are_left_out_as_excluded_tribe(setup):
    account, user, sender, p = setup
    volunteers = tribe_create(account=account, actor=user, name="Volunteers", filter=VOLUNTEERS)
    staff = tribe_create(
        account=account,
        actor=user,
        name="Staff",
        filter={"all": [{"field": "custom.staff", "op": "eq", "value": True}]},
    )
    do_not_ask = tribe_create(account=account, actor=user, name="Asked already", kind="list")
    TribeMember.objects.create(tribe=do_not_ask, contact=p["other"])
    campaign = draft(
        account,
        user,
        sender,
        audience={"filter": {"all": [{"field": "sms_status", "op": "ne", "value": "opted_out"}]}},
        exclusions={"excluded_tribe_ids": [staff.pk, do_not_ask.pk]},
    )
    audit = campaign_audit(campaign=campaign)
    # Contacts without the `staff` key are not excluded (the condition is never NULL,
    # so the audit's CASE and the commit's NOT agree).
    assert audit.as_dict() == {
        "total": 5,
        "eligible": 2,
        "excluded": {"excluded_tribe": 2, "no_opt_in": 1},
    }
    campaign_commit(campaign=campaign, actor=user)
    assert committed_phones(campaign) == {p["vol_in"].phone, p["bare"].phone}
    assert volunteers.pk  # (a Tribe that is neither audience nor excluded changes nothing)


def test_an_excluded_tribe_deleted_since_refuses_rather_than_excluding_nobody(setup):
    account, user, sender, p = setup
    donors = tribe_create(account=account, actor=user, name="Donors", kind="list")
    TribeMember.objects.create(tribe=donors, contact=p["other"])
    campaign = draft(
        account,
        user,
        sender,
        audience={"filter": {"all": [{"field": "sms_status", "op": "ne", "value": "opted_out"}]}},
        exclusions={"excluded_tribe_ids": [donors.pk]},
    )
    donors.delete()
    with pytest.raises(CampaignError, match="no longer exists"):
        campaign_audit(campaign=campaign)
    with pytest.raises(CampaignError, match="no longer exists"):
        campaign_commit(campaign=campaign, actor=user)
    assert not Message.objects.filter(campaign=campaign).exists()


def test_another_accounts_tribe_or_a_mode_mismatch_cannot_be_sent(setup):
    account, user, sender, _ = setup
    theirs = tribe_create(account=make_account("theirs"), actor=None, name="T", filter=VOLUNTEERS)
    campaign = draft(account, user, sender, audience={"tribe_id": theirs.pk})
    with pytest.raises(PreflightError):
        campaign_commit(campaign=campaign, actor=user)
    voters = tribe_create(
        account=account, actor=user, name="Voters", mode="campaign", filter=VOLUNTEERS
    )
    campaign = draft(account, user, sender, audience={"tribe_id": voters.pk})
    with pytest.raises(PreflightError):
        campaign_commit(campaign=campaign, actor=user)
    assert not Message.objects.exists()


def test_the_campaign_api_checks_tribes_filters_and_modes(setup):
    account, user, sender, _ = setup
    api = api_client(user, account)
    voters = tribe_create(
        account=account, actor=user, name="Voters", mode="campaign", filter=VOLUNTEERS
    )
    cross = tribe_create(
        account=account, actor=user, name="Everyone", mode="cross", filter=VOLUNTEERS
    )
    theirs = tribe_create(account=make_account("other"), actor=None, name="T", filter=VOLUNTEERS)

    def create(**fields):
        return api.post("/api/v1/campaigns/", {"name": "C", **fields}, format="json")

    res = create(audience={"tribe_id": theirs.pk})
    assert res.status_code == 400 and "tribe_id" in res.json()["audience"]
    res = create(audience={"filter": {"all": [{"field": "city", "op": "near", "value": "x"}]}})
    assert res.status_code == 400 and "filter.all[0].op" in res.json()["audience"]
    res = create(audience={"tribe_id": voters.pk})  # relationship by default
    assert res.status_code == 400 and "tribe_id" in res.json()["audience"]
    res = create(audience={"tribe_id": voters.pk}, mode="campaign")
    assert res.status_code == 201, res.json()
    # switching that campaign to relationship mode is refused too
    res2 = api.patch(
        f"/api/v1/campaigns/{res.json()['id']}/", {"mode": "relationship"}, format="json"
    )
    assert res2.status_code == 400
    assert create(audience={"tribe_id": cross.pk}).status_code == 201
    res = create(exclusions={"excluded_tribe_ids": [cross.pk, theirs.pk]})
    assert res.status_code == 400 and "excluded_tribe_ids" in res.json()["exclusions"]
    opted_in = {"filter": {"all": [{"field": "sms_status", "op": "eq", "value": "opted_in"}]}}
    res = create(audience=opted_in, exclusions={"excluded_tribe_ids": [cross.pk]})
    assert res.status_code == 201
    audit = api.get(f"/api/v1/campaigns/{res.json()['id']}/audit/")
    assert audit.json() == {"total": 4, "eligible": 2, "excluded": {"excluded_tribe": 2}}


def test_the_audit_of_a_tribe_audience_reads_contacts_in_one_statement(setup):
    account, user, sender, p = setup
    base = tribe_create(account=account, actor=user, name="Volunteers", filter=VOLUNTEERS)
    nested = tribe_create(
        account=account,
        actor=user,
        name="Volunteers not staff",
        filter={
            "all": [
                {"field": "tribe", "op": "eq", "value": base.pk},
                {"field": "custom.staff", "op": "ne", "value": True},
            ]
        },
    )
    listed = tribe_create(account=account, actor=user, name="Asked", kind="list")
    TribeMember.objects.create(tribe=listed, contact=p["vol_in"])
    campaign = draft(
        account,
        user,
        sender,
        audience={"tribe_id": nested.pk},
        exclusions={"excluded_tribe_ids": [listed.pk], "messaged_within_hours": 24},
    )
    with CaptureQueriesContext(connection) as queries:
        audit = campaign_audit(campaign=campaign)
    assert audit.as_dict() == {
        "total": 2,
        "eligible": 0,
        "excluded": {"excluded_tribe": 1, "no_opt_in": 1},
    }
    over_contacts = [q for q in queries.captured_queries if '"contacts_contact"' in q["sql"]]
    assert len(over_contacts) == 1, [q["sql"] for q in over_contacts]
