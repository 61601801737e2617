"""The Compose tab's sender picker: the account's numbers with type, registration
standing, state and MPS; saving the draft's senders and local presence; and the
estimated send time over the selected senders."""

import re
from decimal import Decimal

import pytest

from tests.factories import make_contact, make_number
from texting.models import Campaign, CampaignStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def numbers(account):
    return {
        "long": make_number(account, "+15035550101", state="OR", mps=Decimal("4")),
        "toll_free": make_number(account, "+18885550102", kind="toll_free", mps=Decimal("25")),
        "unregistered": make_number(
            account, "+15035550103", state="WA", registration_status="unregistered"
        ),
        "suspended": make_number(account, "+15035550100", status="suspended"),
    }


@pytest.fixture
def draft(account, numbers):
    people = [make_contact(account, f"+1971555{i:04d}") for i in range(200, 212)]
    return Campaign.objects.create(
        account=account,
        name="GOTV",
        body="Polls close at 8pm",
        sender_ids=[numbers["long"].pk],
        audience={"contact_ids": [c.pk for c in people]},
    )


def compose(client, campaign) -> str:
    response = client.get(f"/campaigns/{campaign.pk}/compose/")
    assert response.status_code == 200
    return response.content.decode()


def save(client, campaign, ids, **extra):
    return client.post(
        f"/campaigns/{campaign.pk}/compose/senders/", {"sender_ids": ids, **extra}, follow=True
    )


def row(html: str, number) -> str:
    match = re.search(rf'<tr data-sender="{number.pk}".*?</tr>', html, re.S)
    assert match, number.e164
    return match.group(0)


def test_the_picker_lists_the_accounts_numbers_with_type_standing_state_and_mps(
    member_client, draft, numbers, other_account
):
    theirs = make_number(other_account, "+15035550199")
    html = compose(member_client("manager"), draft)

    long_row = row(html, numbers["long"])
    assert 'data-kind="long">Long code (10DLC)<' in long_row
    assert "badge-reg-active" in long_row and "<td>OR</td>" in long_row
    assert '<td class="right">4</td>' in long_row and " checked" in long_row
    assert 'data-kind="toll_free">Toll-free<' in row(html, numbers["toll_free"])
    # Shown, but marked as what the Tech Check will block.
    blocked = row(html, numbers["unregistered"])
    assert 'data-blocked="true"' in blocked and "not registered" in blocked
    assert "is suspended, not active" in row(html, numbers["suspended"])
    assert " checked" not in blocked
    # Active numbers first (the suspended one sorts first by number, yet comes last).
    order = [int(pk) for pk in re.findall(r'<tr data-sender="(\d+)"', html)]
    assert order[-1] == numbers["suspended"].pk
    assert theirs.e164 not in html
    assert "Local presence" in html


def test_saving_the_senders_and_local_presence(member_client, draft, numbers):
    client = member_client("manager")
    ids = [numbers["toll_free"].pk, numbers["long"].pk]
    response = save(client, draft, ids, local_presence="on")
    assert "Senders saved (2 selected)." in response.content.decode()
    draft.refresh_from_db()
    assert draft.sender_ids == ids and draft.local_presence is True

    save(client, draft, [numbers["long"].pk])  # unticked: local presence off
    draft.refresh_from_db()
    assert draft.sender_ids == [numbers["long"].pk] and draft.local_presence is False


def test_another_accounts_number_is_refused_and_nothing_changes(
    member_client, draft, numbers, other_account
):
    theirs = make_number(other_account, "+15035550198")
    response = save(member_client("manager"), draft, [numbers["toll_free"].pk, theirs.pk])
    assert f"sender_ids: Not numbers of this account: [{theirs.pk}]." in response.content.decode()
    bad = save(member_client("manager"), draft, ["abc"])
    assert "sender_ids: A valid integer is required." in bad.content.decode()
    draft.refresh_from_db()
    assert draft.sender_ids == [numbers["long"].pk]


def test_only_a_draft_and_only_a_composing_role_may_change_senders(member_client, draft, numbers):
    viewer = member_client("viewer")
    assert save(viewer, draft, [numbers["toll_free"].pk]).status_code == 403
    assert 'value="{}" id="sender-{}" aria-label="Send from {}" checked disabled'.format(
        numbers["long"].pk, numbers["long"].pk, numbers["long"].e164
    ) in compose(viewer, draft)
    Campaign.objects.filter(pk=draft.pk).update(status=CampaignStatus.SENDING)
    assert save(member_client("manager"), draft, [numbers["toll_free"].pk]).status_code == 403
    assert Campaign.objects.get(pk=draft.pk).sender_ids == [numbers["long"].pk]


def test_the_estimate_uses_the_eligible_count_and_the_usable_senders(member_client, draft, numbers):
    client = member_client("manager")
    url = f"/campaigns/{draft.pk}/compose/senders/estimate/"
    assert f'hx-get="{url}"' in compose(client, draft)  # loaded after the tab

    html = client.get(url).content.decode()
    # 12 eligible, one segment each, one 4-MPS long code: ceil(12 / 4) = 3 s.
    assert "12 recipients: ~3 seconds across 1 long code" in html

    Campaign.objects.filter(pk=draft.pk).update(
        sender_ids=[numbers["long"].pk, numbers["toll_free"].pk, numbers["unregistered"].pk],
        max_mps=Decimal("6"),
    )
    html = client.get(url).content.decode()
    # The unregistered number is not counted; the throttle caps 29 MPS at 6: 2 s.
    assert "12 recipients: ~2 seconds across 2 senders (1 long code, 1 toll-free number)" in html
    assert "throttled to 6 MPS" in html and "1 selected sender blocked" in html


def test_the_estimate_of_another_accounts_campaign_is_404(draft, other_account):
    from tests.factories import make_member
    from tests.ui.conftest import login_client

    outsider = login_client(make_member(other_account, "admin"))
    assert outsider.get(f"/campaigns/{draft.pk}/compose/senders/estimate/").status_code == 404
    assert outsider.post(f"/campaigns/{draft.pk}/compose/senders/", {}).status_code == 404
