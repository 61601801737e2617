"""The Tech Check tab and the draft's Recipients summary, as pages (Django test client)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from contacts.models import Contact, SmsStatus
from tests.factories import make_contact, make_number
from texting.models import Campaign, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(account, admin_user):
    account.balance = Decimal("10")
    account.save(update_fields=["balance"])
    number = make_number(account, "+15035550100", mps=5)
    people = [make_contact(account, f"+1971555{i:04d}", first_name="Sam") for i in range(10, 14)]
    Contact.objects.filter(pk=people[0].pk).update(sms_status=SmsStatus.OPTED_OUT)
    return Campaign.objects.create(
        account=account,
        created_by=admin_user,
        name="Rally",
        body="Rally at 6pm: bit.ly/rally",
        sender_ids=[number.pk],
        audience={"contact_ids": [c.pk for c in people]},
    )


def tab(client, campaign):
    return client.get(reverse("campaign-tab", args=[campaign.pk, "tech-check"]))


def commit(client, campaign, **data):
    return client.post(
        reverse("campaign-techcheck-commit", args=[campaign.pk]), {"send_mode": "now"} | data
    )


def test_the_tab_shows_each_check_the_failure_and_its_remedy(admin_web, draft):
    html = tab(admin_web, draft).content.decode()
    assert 'data-check="content" data-ok="false"' in html
    assert "Use full links; the platform shortens them on the branded domain." in html
    assert 'data-check="senders" data-ok="true"' in html
    assert "1 check failing" in html
    assert "Rally at 6pm: bit.ly/rally<br>Reply STOP to opt out." in html  # the bubble
    assert 'data-audit="eligible">3<' in html and 'data-reason="opted_out"' in html
    # Send is there but disabled until every check passes.
    assert 'value="now" class="btn btn-primary" disabled' in html


def test_send_is_enabled_when_all_checks_pass_and_commits(admin_web, draft):
    Campaign.objects.filter(pk=draft.pk).update(body="Rally at 6pm at https://vote.example.org")
    html = tab(admin_web, draft).content.decode()
    assert "All checks pass" in html
    assert 'value="now" class="btn btn-primary">' in html
    res = commit(admin_web, draft)
    assert res.status_code == 302
    assert res.url == reverse("campaign-tab", args=[draft.pk, "status"])
    assert Message.objects.filter(campaign=draft).count() == 3


def test_a_check_failing_at_commit_shows_the_reasons_and_sends_nothing(admin_web, draft):
    res = commit(admin_web, draft)
    assert res.status_code == 422
    html = res.content.decode()
    assert "Not sent: a check failed" in html
    assert 'class="refused"' in html and "full links" in html
    assert not Message.objects.exists()
    assert Campaign.objects.get(pk=draft.pk).status == "draft"


def test_roles_follow_the_commit_api(member_client, draft):
    Campaign.objects.filter(pk=draft.pk).update(body="Rally at 6pm")
    viewer = member_client("viewer")
    assert "A manager or admin sends" in tab(viewer, draft).content.decode()
    assert commit(viewer, draft).status_code == 403
    later = {"send_mode": "schedule", "schedule_at": "2099-01-01T10:00"}
    # Managers may schedule; the send lands as scheduled.
    manager = member_client("manager")
    assert commit(manager, draft, **later).status_code == 302
    assert Campaign.objects.get(pk=draft.pk).status == "scheduled"
    assert not Message.objects.filter(campaign=draft).exclude(status="scheduled").exists()


def test_a_committed_campaign_points_to_status(admin_web, draft):
    Campaign.objects.filter(pk=draft.pk).update(status="sending")
    html = tab(admin_web, draft).content.decode()
    assert "passed the Tech Check when it was committed" in html


def test_the_draft_overview_shows_the_recipients_summary(admin_web, draft):
    html = admin_web.get(reverse("campaign-tab", args=[draft.pk, "dashboard"])).content.decode()
    assert 'data-audit="total">4<' in html
    assert 'data-audit="eligible">3<' in html
    assert 'data-audit="excluded">1<' in html
    assert "Opted out" in html
    Campaign.objects.filter(pk=draft.pk).update(audience={})
    html = admin_web.get(reverse("campaign-tab", args=[draft.pk, "dashboard"])).content.decode()
    assert "no audience" in html


def test_another_accounts_campaign_is_404(other_account, admin_web):
    theirs = Campaign.objects.create(account=other_account, name="Theirs", body="Hi")
    assert tab(admin_web, theirs).status_code == 404
    assert commit(admin_web, theirs).status_code == 404
