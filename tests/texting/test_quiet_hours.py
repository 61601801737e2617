"""Quiet hours in the send engine: at commit (set-based, per recipient group) and right
before each call (the dispatcher's final check). Real clock, real PostgreSQL and Redis,
the carrier simulator: recipients are placed in zones where it is night or day *now*, so
the tests hold at whatever hour they run."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from contacts.geo import zone_at_local_hour
from contacts.models import Contact
from providers.models import SimulatorMessage
from tests.factories import (
    api_client,
    daytime_zone,
    make_account,
    make_contact,
    make_member,
    make_number,
)
from texting import dispatch, rules_sql
from texting.audience import campaign_send_window
from texting.commit import campaign_commit
from texting.keywords import keyword_reply_queue
from texting.models import Campaign, Message, MessageKind

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

UTC = datetime.UTC


def zone_at(hour: float) -> str:
    """A zone where the local time is nearest `hour` now."""
    return zone_at_local_hour(hour)


def opens_at(zone: str, hour: int = 8) -> datetime.datetime:
    """Today's `hour`:00 in `zone`, as an instant (the night zones here are at ~03:00)."""
    today = timezone.now().astimezone(ZoneInfo(zone)).date()
    return datetime.datetime.combine(today, datetime.time(hour), tzinfo=ZoneInfo(zone))


def place(contact: Contact, zone: str, state: str = "", source: str = "phone") -> Contact:
    fields = {
        "timezone": zone,
        "timezone_candidates": [zone],
        "timezone_source": source,
        "state": state,
    }
    Contact.objects.filter(pk=contact.pk).update(**fields)
    for key, value in fields.items():
        setattr(contact, key, value)
    return contact


def next_weekday(weekday: int, at: datetime.time, zone: str) -> datetime.datetime:
    """`at` on the first `weekday` (Monday 0) at least a week from now, in `zone`."""
    day = (timezone.now() + datetime.timedelta(days=7)).astimezone(ZoneInfo(zone)).date()
    day += datetime.timedelta(days=(weekday - day.weekday()) % 7)
    return datetime.datetime.combine(day, at, tzinfo=ZoneInfo(zone))


@pytest.fixture
def setup():
    account = make_account("quiet", timezone="America/Los_Angeles")
    user = make_member(account, "manager")
    sender = make_number(account, "+15035550100", state="OR", mps=10)
    return account, user, sender


def draft(account, user, sender, contacts, **fields) -> Campaign:
    return Campaign.objects.create(
        account=account,
        created_by=user,
        name="Quiet",
        body="Doors open at 6.",
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in contacts]},
        **fields,
    )


def by_phone(campaign: Campaign) -> dict[str, Message]:
    return {m.to_number: m for m in Message.objects.filter(campaign=campaign)}


def test_a_send_now_waits_per_recipient_until_their_window_opens(setup):
    account, user, sender = setup
    night = zone_at(3)
    asleep = place(make_contact(account, "+19715550201"), night)
    awake = place(make_contact(account, "+19715550202"), daytime_zone())

    result = campaign_commit(campaign=draft(account, user, sender, [asleep, awake]), actor=user)

    messages = by_phone(result.campaign)
    assert result.campaign.status == "sending"
    held = messages[asleep.phone]
    assert (held.status, held.send_after) == ("scheduled", opens_at(night))
    assert messages[awake.phone].status == "queued"
    assert messages[awake.phone].send_after <= timezone.now()
    assert (result.held_for_quiet_hours, result.latest_send_after) == (1, opens_at(night))
    assert result.warnings and "1 recipient is in quiet hours now" in result.warnings[0]
    # The dispatcher sends the one who is awake and leaves the other in peace.
    dispatch.dispatch_sender(sender=sender.e164)
    assert set(SimulatorMessage.objects.values_list("to_number", flat=True)) == {awake.phone}
    assert Message.objects.get(pk=held.pk).status == "scheduled"


def test_the_commit_stays_one_insert_when_quiet_hours_move_messages(setup):
    account, user, sender = setup
    contacts = [
        place(make_contact(account, f"+1971555{i:04d}"), zone_at(3)) for i in range(300, 340)
    ]
    contacts += [make_contact(account, f"+1971555{i:04d}") for i in range(340, 360)]
    campaign = draft(account, user, sender, contacts)
    with CaptureQueriesContext(connection) as queries:
        result = campaign_commit(campaign=campaign, actor=user)
    inserts = [q for q in queries.captured_queries if "INSERT INTO texting_message" in q["sql"]]
    assert len(inserts) == 1
    assert result.inserted == 60 and result.held_for_quiet_hours == 40


def test_a_scheduled_send_is_shifted_per_state_and_zone_with_a_warning(setup):
    account, user, sender = setup
    sunday_10_central = next_weekday(6, datetime.time(10), "America/Chicago")
    texan = place(make_contact(account, "+15125550301"), "America/Chicago", "TX")
    oregonian = place(make_contact(account, "+15035550302"), "America/Los_Angeles", "OR")
    tokyo = place(make_contact(account, "+19715550303"), "Asia/Tokyo")  # Monday 01:00 there
    campaign = draft(account, user, sender, [texan, oregonian, tokyo])

    result = campaign_commit(
        campaign=campaign, actor=user, send_mode="schedule", schedule_at=sunday_10_central
    )

    messages = by_phone(result.campaign)
    assert {m.status for m in messages.values()} == {"scheduled"}
    # Texas: no Sunday texts before noon (§3.1).
    assert messages[texan.phone].send_after == sunday_10_central.replace(hour=12)
    # Oregon: 08:00 there, inside 08:00–20:00, unchanged.
    assert messages[oregonian.phone].send_after == sunday_10_central
    tokyo_open = datetime.datetime.combine(
        sunday_10_central.astimezone(ZoneInfo("Asia/Tokyo")).date(),
        datetime.time(8),
        tzinfo=ZoneInfo("Asia/Tokyo"),
    )
    assert messages[tokyo.phone].send_after == tokyo_open
    assert result.held_for_quiet_hours == 2
    assert result.latest_send_after == max(tokyo_open, sunday_10_central.replace(hour=12))
    assert "2 recipients are in quiet hours at the scheduled time" in result.warnings[0]


def test_recipient_local_time_is_shifted_into_each_recipients_window(setup):
    account, user, sender = setup
    # 07:30 wall clock, on a Sunday, in everyone's own zone.
    sunday = next_weekday(6, datetime.time(7, 30), "America/Los_Angeles")
    oregonian = place(make_contact(account, "+15035550401"), "America/Los_Angeles", "OR")
    texan = place(make_contact(account, "+15125550402"), "America/Chicago", "TX")
    nutmegger = place(make_contact(account, "+18605550403"), "America/New_York", "CT")
    campaign = draft(account, user, sender, [oregonian, texan, nutmegger])

    result = campaign_commit(
        campaign=campaign,
        actor=user,
        send_mode="schedule",
        schedule_at=sunday,
        recipient_local_time=True,
    )

    messages = by_phone(result.campaign)
    for contact, zone, opens in [
        (oregonian, "America/Los_Angeles", (8, 0)),
        (texan, "America/Chicago", (12, 0)),
        (nutmegger, "America/New_York", (9, 0)),
    ]:
        local = messages[contact.phone].send_after.astimezone(ZoneInfo(zone))
        assert (local.date(), (local.hour, local.minute)) == (sunday.date(), opens)
    assert result.held_for_quiet_hours == 3


def test_an_account_window_that_leaves_a_state_no_time_refuses_the_commit(setup):
    account, user, sender = setup
    Account.objects.filter(pk=account.pk).update(
        quiet_hours_start=datetime.time(9), quiet_hours_end=datetime.time(8)
    )
    nutmegger = place(make_contact(account, "+18605550501"), "America/New_York", "CT")
    campaign = draft(account, user, sender, [nutmegger])
    from texting.services import CampaignError

    with pytest.raises(CampaignError, match="CT"):
        campaign_commit(campaign=campaign, actor=user)
    assert not Message.objects.exists()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_the_commit_api_reports_the_quiet_hours_warning(setup):
    account, user, sender = setup
    asleep = place(make_contact(account, "+19715550601"), zone_at(3))
    campaign = draft(account, user, sender, [asleep])
    res = api_client(user, account).post(
        f"/api/v1/campaigns/{campaign.pk}/commit/", {"send_mode": "now"}, format="json"
    )
    assert res.status_code == 200, res.content
    assert res.json()["status"] == "sending"
    assert "quiet hours" in res.json()["warnings"][0]


# --- At send time ---------------------------------------------------------------------


def committed_now(account, user, sender, contacts) -> Campaign:
    return campaign_commit(campaign=draft(account, user, sender, contacts), actor=user).campaign


def test_a_recipient_in_quiet_hours_at_send_time_is_held_until_the_window_opens(setup):
    account, user, sender = setup
    balance = account.balance
    contact = make_contact(account, "+19715550701")  # daytime at commit
    campaign = committed_now(account, user, sender, [contact])
    night = zone_at(3)
    place(contact, night)  # ... and night by the time the dispatcher gets to it

    result = dispatch.dispatch_sender(sender=sender.e164)

    message = Message.objects.get(campaign=campaign)
    assert result.deferred == 1 and result.sent == 0
    assert (message.status, message.send_after) == ("scheduled", opens_at(night))
    assert message.attempts == 0  # a hold is not a try
    assert message.charged is None
    assert Account.objects.get(pk=account.pk).balance == balance
    assert not SimulatorMessage.objects.exists()
    # Before the window opens, nothing releases it.
    assert dispatch.release_due_scheduled() == 0


def test_keyword_replies_are_exempt_from_quiet_hours(setup):
    account, user, sender = setup
    contact = place(make_contact(account, "+19715550702"), zone_at(3))
    reply = keyword_reply_queue(
        account=account,
        contact=contact,
        from_number=sender.e164,
        kind=MessageKind.HELP_REPLY,
        body="Reply STOP to opt out.",
    )
    dispatch.dispatch_sender(sender=sender.e164)
    reply.refresh_from_db()
    assert reply.status == "sent"


def test_a_hold_past_the_messages_send_by_fails_it_as_expired_now(setup):
    account, user, sender = setup
    contact = make_contact(account, "+19715550703")
    campaign = committed_now(account, user, sender, [contact])
    night = zone_at(3)
    place(contact, night)
    Message.objects.filter(campaign=campaign).update(
        send_by=opens_at(night) - datetime.timedelta(minutes=1)
    )
    dispatch.dispatch_sender(sender=sender.e164)
    message = Message.objects.get(campaign=campaign)
    assert message.status == "failed"
    assert message.error_reason.startswith("expired")
    assert message.charged is None


def test_a_hold_within_send_by_waits(setup):
    account, user, sender = setup
    contact = make_contact(account, "+19715550704")
    campaign = committed_now(account, user, sender, [contact])
    night = zone_at(3)
    place(contact, night)
    Message.objects.filter(campaign=campaign).update(
        send_by=opens_at(night) + datetime.timedelta(hours=2)
    )
    dispatch.dispatch_sender(sender=sender.e164)
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.send_after) == ("scheduled", opens_at(night))


def test_consent_downgraded_since_commit_cancels_the_campaign_message(setup):
    account, user, sender = setup
    contact = make_contact(account, "+19715550705")
    campaign = committed_now(account, user, sender, [contact])
    Contact.objects.filter(pk=contact.pk).update(sms_status="pending")
    dispatch.dispatch_sender(sender=sender.e164)
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.error_reason) == ("canceled", "no_opt_in")
    assert not SimulatorMessage.objects.exists()


def test_the_final_check_reads_one_statement_per_claim(setup):
    """The quiet-hours check is zone math on what the claim's one read loaded (the
    account's window comes with it): no query per message."""
    account, user, sender = setup
    contacts = [make_contact(account, f"+1971555{i:04d}") for i in range(800, 810)]
    campaign = committed_now(account, user, sender, contacts)
    for c in contacts[:5]:
        place(c, zone_at(3))
    ids = list(Message.objects.filter(campaign=campaign).values_list("pk", flat=True))
    Message.objects.filter(pk__in=ids).update(status="sending")
    with CaptureQueriesContext(connection) as queries:
        messages, _ = dispatch.checked_messages(ids)
        verdicts = [dispatch.final_check(m) for m in messages]
    assert len(queries.captured_queries) == 1
    assert sum(1 for v in verdicts if v and v[0] == dispatch.QUIET_HOURS) == 5
    assert verdicts.count(None) == 5


# --- For the Tech Check -------------------------------------------------------------------


def test_the_send_window_counts_who_waits_and_who_has_no_known_zone(setup):
    account, user, sender = setup
    Account.objects.filter(pk=account.pk).update(timezone=daytime_zone())
    account.refresh_from_db()
    night = zone_at(3)
    asleep = place(make_contact(account, "+13125550801"), night)
    awake = place(make_contact(account, "+13125550802"), daytime_zone())
    unknown = place(
        make_contact(account, "+18005550803"), "America/Denver", source="account_default"
    )
    opted_out = place(make_contact(account, "+13125550804", sms_status="opted_out"), night)
    campaign = draft(account, user, sender, [asleep, awake, unknown, opted_out])

    window = campaign_send_window(campaign=campaign)

    assert window.eligible == 3
    assert window.in_quiet_hours == 1 and window.latest == opens_at(night)
    assert window.unknown_timezone == 1
    # An hour after the night zone's window opens, nobody waits (the others are in
    # their afternoon or evening; Illinois numbers, so the federal window applies).
    later = campaign_send_window(
        campaign=campaign, at=opens_at(night) + datetime.timedelta(hours=1)
    )
    assert (later.in_quiet_hours, later.latest) == (0, None)
    assert not Message.objects.exists()  # reads only


def test_the_area_codes_state_tightens_quiet_hours_without_an_address(setup):
    """At 20:30 local the federal window is open, Florida's (8 pm) is not: a Miami number
    with no address is held, a Chicago one goes; the same at send time."""
    account, user, sender = setup
    evening = zone_at(20.5)
    miami = place(make_contact(account, "+13055550401"), evening)
    chicago = place(make_contact(account, "+13125550402"), evening)
    assert rules_sql.recipient_states(state="", phone=miami.phone) == ["FL"]
    assert rules_sql.recipient_states(state="IL", phone=miami.phone) == ["FL", "IL"]

    result = campaign_commit(campaign=draft(account, user, sender, [miami, chicago]), actor=user)

    messages = by_phone(result.campaign)
    assert messages[miami.phone].status == "scheduled"
    assert messages[miami.phone].send_after > timezone.now()
    assert messages[chicago.phone].status == "queued"
    # At send time too: were the Miami row due now, the final check holds it.
    Message.objects.filter(pk=messages[miami.phone].pk).update(
        status="queued", send_after=timezone.now()
    )
    for _ in range(5):  # a sender's first claims are small: until both were looked at
        dispatch.dispatch_sender(sender=sender.e164)
    assert set(SimulatorMessage.objects.values_list("to_number", flat=True)) == {chicago.phone}
    assert Message.objects.get(pk=messages[miami.phone].pk).status == "scheduled"
