"""The Tech Check (GET .../tech-check/) and the commit's pre-flight: every check that
fails refuses the commit with 422, names itself with a reason and a remedy, and nothing
is queued."""

import re
from decimal import Decimal

import pytest

from accounts.models import Account
from contacts.models import Contact, SmsStatus, TimezoneSource
from phone_numbers.models import PhoneNumber
from tests.factories import api_client, make_account, make_contact, make_member, make_number
from texting.commit import campaign_commit
from texting.links import PREVIEW_LINK_ID, short_url
from texting.models import Campaign, Message
from texting.techcheck import (
    PreflightError,
    campaign_tech_check,
    send_duration,
    send_estimate_text,
)

pytestmark = pytest.mark.django_db

API_FIELDS = {
    "ok",
    "checks",
    "segments",
    "encoding",
    "characters",
    "final_body",
    "samples",
    "estimated_cost",
    "balance",
    "estimated_duration_seconds",
    "warnings",
}


@pytest.fixture
def world(settings):
    settings.SEGMENT_PRICE = {"long": "0.0100", "toll_free": "0.0200", "short": "0.0050"}
    account = make_account("tc", balance=Decimal("5"))
    manager = make_member(account, "manager")
    number = make_number(account, "+15035550100", state="OR", mps=4)
    people = [
        make_contact(account, f"+1971555{i:04d}", first_name=f"Pat{i}", last_name="Lee")
        for i in range(100, 108)
    ]
    campaign = Campaign.objects.create(
        account=account,
        created_by=manager,
        name="GOTV",
        body="Polls close at 8pm today!",
        sender_ids=[number.pk],
        audience={"contact_ids": [c.pk for c in people]},
    )
    return account, manager, number, people, campaign


def url(campaign, path="tech-check/"):
    return f"/api/v1/campaigns/{campaign.pk}/{path}"


def test_the_tech_check_answers_in_the_api_shape_and_changes_nothing(world):
    account, manager, number, people, campaign = world
    Contact.objects.filter(pk=people[0].pk).update(sms_status=SmsStatus.OPTED_OUT)

    res = api_client(manager, account).get(url(campaign))

    assert res.status_code == 200, res.json()
    body = res.json()
    assert set(body) == API_FIELDS
    assert body["ok"] is True
    assert [c["name"] for c in body["checks"]] == [
        "body",
        "media",
        "stop_language",
        "segments",
        "encoding",
        "audience",
        "senders",
        "balance",
        "content",
        "mode",
    ]
    for check in body["checks"]:
        assert {"name", "ok", "message"} <= set(check) and check["ok"] is True
        assert check["message"]
    assert body["final_body"] == "Polls close at 8pm today!\nReply STOP to opt out."
    assert (body["segments"], body["encoding"]) == (1, "GSM-7")
    assert body["characters"] == len(body["final_body"])
    # Three sample recipients, each with the final text (no merge fields yet).
    assert body["samples"] == [body["final_body"]] * 3
    # 7 eligible x 1 segment x $0.01 against a $5 balance; 7 segments at 4 MPS.
    assert (body["estimated_cost"], body["balance"]) == ("0.0700", "5.0000")
    assert body["estimated_duration_seconds"] == 2
    assert any("1 opted out" in w for w in body["warnings"])
    audit = next(c for c in body["checks"] if c["name"] == "audience")
    assert audit["message"] == "7 of 8 recipients are eligible."
    stop = next(c for c in body["checks"] if c["name"] == "stop_language")
    assert "always on" in stop["message"]

    campaign.refresh_from_db()
    assert campaign.status == "draft" and campaign.estimated_cost is None
    assert not Message.objects.exists()


def _empty_body(account, campaign, number, people):
    campaign.body = "   "


def _no_stop_language(account, campaign, number, people):
    Account.objects.filter(pk=account.pk).update(stop_language="")


def _eleven_segments(account, campaign, number, people):
    campaign.body = "A" * 1600


def _nobody_opted_in(account, campaign, number, people):
    Contact.objects.filter(account=account).update(sms_status=SmsStatus.PENDING)


def _no_audience(account, campaign, number, people):
    campaign.audience = {}


def _no_senders(account, campaign, number, people):
    campaign.sender_ids = []


def _unregistered_sender(account, campaign, number, people):
    PhoneNumber.objects.filter(pk=number.pk).update(registration_status="unregistered")


def _pending_registration(account, campaign, number, people):
    PhoneNumber.objects.filter(pk=number.pk).update(registration_status="campaign_pending")


def _suspended_sender(account, campaign, number, people):
    PhoneNumber.objects.filter(pk=number.pk).update(status="suspended")


def _empty_balance(account, campaign, number, people):
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0.05"))


def _public_shortener(account, campaign, number, people):
    campaign.body = "RSVP at bit.ly/rally2026"


def _cannabis_sale(account, campaign, number, people):
    campaign.body = "CBD oil 20% off, order now"


@pytest.mark.parametrize(
    ("breaks", "name", "says", "remedy"),
    [
        (_empty_body, "body", "empty", "Compose"),
        (_no_stop_language, "stop_language", "opt out", "stop language"),
        (_eleven_segments, "segments", "11 segments", "Shorten"),
        (_nobody_opted_in, "audience", "No eligible recipients", "opted-in"),
        (_no_audience, "audience", "no audience", "Recipients tab"),
        (_no_senders, "senders", "No sender numbers", "Add sender"),
        (_unregistered_sender, "senders", "not registered", "registration"),
        (_pending_registration, "senders", "campaign pending", "registration"),
        (_suspended_sender, "senders", "suspended", "Remove"),
        (_empty_balance, "balance", "Not enough funds", "Add funds"),
        (_public_shortener, "content", "bit.ly", "full links"),
        (_cannabis_sale, "content", "cannabis", "forbidden"),
    ],
)
def test_each_failing_check_refuses_the_commit_with_422_and_queues_nothing(
    world, breaks, name, says, remedy
):
    account, manager, number, people, campaign = world
    breaks(account, campaign, number, people)
    campaign.save()
    client = api_client(manager, account)

    shown = client.get(url(campaign)).json()
    assert shown["ok"] is False
    failing = [c for c in shown["checks"] if not c["ok"]]
    assert name in [c["name"] for c in failing]

    res = client.post(url(campaign, "commit/"), {"send_mode": "now"}, format="json")

    assert res.status_code == 422, res.json()
    refused = {c["name"]: c for c in res.json()["checks"]}
    assert name in refused
    assert says.lower() in refused[name]["message"].lower()
    assert remedy.lower() in refused[name]["remediation"].lower()
    assert all(not c["ok"] and c["remediation"] for c in refused.values())
    assert refused[name]["message"] in res.json()["detail"]
    campaign.refresh_from_db()
    assert campaign.status == "draft" and campaign.committed_at is None
    assert not Message.objects.exists()


def test_a_passing_campaign_commits(world):
    account, manager, number, people, campaign = world
    res = api_client(manager, account).post(url(campaign, "commit/"), {}, format="json")
    assert res.status_code == 200, res.json()
    assert (res.json()["status"], res.json()["queued"]) == ("sending", 8)


def test_the_check_runs_again_at_commit_and_sees_what_changed(world):
    """The tab said ok; the balance ran out before Send: the commit refuses."""
    account, manager, number, people, campaign = world
    assert campaign_tech_check(campaign=campaign).ok
    Account.objects.filter(pk=account.pk).update(balance=Decimal("0"))
    with pytest.raises(PreflightError) as refused:
        campaign_commit(campaign=campaign, actor=manager)
    assert [c.name for c in refused.value.checks] == ["balance"]
    assert not Message.objects.exists()


def test_a_scheduled_campaign_passes_the_check_at_commit(world):
    account, manager, number, people, campaign = world
    client = api_client(manager, account)
    PhoneNumber.objects.filter(pk=number.pk).update(registration_status="unregistered")
    later = {"send_mode": "schedule", "schedule_at": "2099-01-01T17:00:00Z"}
    assert client.post(url(campaign, "commit/"), later, format="json").status_code == 422
    PhoneNumber.objects.filter(pk=number.pk).update(registration_status="active")
    res = client.post(url(campaign, "commit/"), later, format="json")
    assert (res.status_code, res.json()["status"]) == (200, "scheduled")


def test_warnings_do_not_block(world):
    account, manager, number, people, campaign = world
    campaign.body = "Beer and pizza after the canvass!"
    campaign.mode = "campaign"
    campaign.save()
    result = campaign_tech_check(campaign=campaign)
    assert result.ok
    assert any("alcohol" in w for w in result.warnings)
    assert any("Paid for by" in w for w in result.warnings)
    assert any("Campaign mode" in c.message for c in result.checks if c.name == "mode")


def test_ucs2_is_named_and_counted(world):
    account, manager, number, people, campaign = world
    campaign.body = "¡Vota hoy! Las urnas cierran a las 8 😀"
    campaign.save()
    body = api_client(manager, account).get(url(campaign)).json()
    assert body["encoding"] == "UCS-2"
    assert any("😀" in w for w in body["warnings"])


def test_another_accounts_campaign_is_404(world):
    account, manager, number, people, campaign = world
    outsider = api_client(make_member(make_account("outside"), "admin"))
    assert outsider.get(url(campaign)).status_code == 404
    assert outsider.post(url(campaign, "commit/"), {}, format="json").status_code == 404
    assert not Message.objects.exists()


@pytest.mark.parametrize(("role", "read", "commit"), [("viewer", 200, 403), ("field", 200, 403)])
def test_roles_may_read_the_check_but_not_commit(world, role, read, commit):
    account, manager, number, people, campaign = world
    client = api_client(make_member(account, role), account)
    assert client.get(url(campaign)).status_code == read
    assert client.post(url(campaign, "commit/"), {}, format="json").status_code == commit
    assert not Message.objects.exists()


def test_recipients_without_a_known_zone_are_named_in_the_warnings(world):
    account, manager, number, people, campaign = world
    Contact.objects.filter(pk__in=[people[0].pk, people[1].pk]).update(
        timezone_source=TimezoneSource.ACCOUNT_DEFAULT
    )
    warnings = api_client(manager, account).get(url(campaign)).json()["warnings"]
    assert any(w.startswith("2 recipients have no known time zone") for w in warnings)


def test_the_send_estimate_spreads_the_audience_over_the_senders_mps():
    longs = [PhoneNumber(kind="long", mps=Decimal("1")) for _ in range(12)]
    rate, seconds = send_duration(messages=47_000, segments=1, numbers=longs)
    assert (rate, seconds) == (12.0, 3917)  # ceil(47,000 segments / 12 per second)
    assert (
        send_estimate_text(eligible=47_000, seconds=seconds, numbers=longs)
        == "47,000 recipients: ~66 minutes across 12 long codes"
    )
    # Two segments each, the campaign throttled to 6 MPS: 94,000 / 6 s.
    rate, seconds = send_duration(messages=47_000, segments=2, numbers=longs, max_mps=Decimal("6"))
    assert (rate, seconds) == (6.0, 15667)
    assert send_estimate_text(eligible=47_000, seconds=seconds, numbers=longs) == (
        "47,000 recipients: ~4.4 hours across 12 long codes"
    )
    mixed = [*longs[:2], PhoneNumber(kind="short", mps=Decimal("100"))]
    assert send_duration(messages=1_020, segments=1, numbers=mixed) == (102.0, 10)
    assert send_estimate_text(eligible=1_020, seconds=10, numbers=mixed) == (
        "1,020 recipients: ~10 seconds across 3 senders (2 long codes, 1 short code)"
    )
    assert send_duration(messages=5, segments=1, numbers=[]) == (0.0, None)


def test_the_tech_check_duration_is_the_same_estimate(world):
    account, manager, number, people, campaign = world  # 8 eligible, one 4-MPS long code
    check = campaign_tech_check(campaign=campaign)
    assert (
        check.estimated_duration_seconds
        == 2
        == send_duration(messages=8, segments=1, numbers=[number])[1]
    )


def test_samples_show_each_link_as_the_short_link_the_recipient_gets(world, settings, client):
    settings.SHORT_LINK_DOMAIN = "go.example.org"
    account, manager, number, people, campaign = world
    long_url = "https://events.example.org/rally?src=sms&utm_campaign=gotv"
    Campaign.objects.filter(pk=campaign.pk).update(body=f"Hi {{first_name}}, RSVP: {long_url} !")
    campaign.refresh_from_db()

    check = campaign_tech_check(campaign=campaign)

    first = check.samples[0]
    short = short_url(link_id=PREVIEW_LINK_ID, contact_id=people[0].pk)
    assert re.fullmatch(r"https://go\.example\.org/s/[0-9A-Za-z]{19}", short)
    assert first.text == f"Hi Pat100, RSVP: {short} !\nReply STOP to opt out."
    assert long_url not in check.as_dict()["samples"][1]
    # The placeholder code leads nowhere (no link has id 0) ...
    assert client.get(short.removeprefix("https://go.example.org")).status_code == 404
    # ... and the text the recipient gets has the sample's length, with a real code.
    campaign_commit(campaign=campaign, actor=manager)
    sent = Message.objects.get(campaign=campaign, contact=people[0]).body
    assert len(sent) == len(first.text) and sent != first.text
    assert sent.startswith("Hi Pat100, RSVP: https://go.example.org/s/")
