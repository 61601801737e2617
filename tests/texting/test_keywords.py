"""Inbound keywords through the real webhook path (store the Telnyx-shaped event, apply
it through the provider-event hook): STOP is account-wide and confirmed once, HELP is
answered every time, START opts back in, a redelivered event changes nothing twice, and
the dispatcher lets exactly the STOP confirmation and the HELP reply reach an opted-out
number."""

import datetime
from decimal import Decimal

import pytest
import redis
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import Account
from contacts.models import Contact, EngagementEvent, SmsStatus
from providers.models import SimulatorMessage, WebhookEvent
from providers.services import webhook_event_process, webhook_event_store, webhook_events_drain
from tests.factories import make_account, make_contact, make_number
from tests.inbound import inbound, text_in
from tests.sending import drain
from texting import dispatch
from texting.models import Campaign, CampaignStatus, Message, MessageKind, MessageStatus
from texting.selectors import campaign_status_snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]

OURS, OTHER_OURS, THEIRS = "+19715550701", "+19715550702", "+19715550799"
ANA, BEN = "+15035550711", "+15035550712"
UNSUBSCRIBED = "You've been unsubscribed. Reply START to opt back in."


def campaign(account, name: str, status=CampaignStatus.SENDING) -> Campaign:
    return Campaign.objects.create(account=account, name=name, body="Hi", status=status)


def message(account, contact, *, campaign=None, sender=OURS, status=MessageStatus.QUEUED, **f):
    minutes_ago = f.pop("minutes_ago", 0)
    at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return Message.objects.create(
        account=account,
        campaign=campaign,
        contact=contact,
        from_number=sender,
        to_number=contact.phone,
        body="Hi",
        status=status,
        send_after=at,
        sent_at=at if status in (MessageStatus.SENT, MessageStatus.DELIVERED) else None,
        **f,
    )


def replies(to: str) -> list[Message]:
    return list(Message.objects.filter(to_number=to, kind__isnull=False).order_by("id"))


def history(contact: Contact, type: str) -> list[EngagementEvent]:
    return list(EngagementEvent.objects.filter(contact=contact, type=type).order_by("id"))


def status_of(contact: Contact) -> str:
    return Contact.objects.get(pk=contact.pk).sms_status


@pytest.fixture
def world():
    account = make_account("kw", help_text="Kw for Oregon: help@kw.example. Reply STOP to opt out.")
    make_number(account, OURS, mps=50)
    make_number(account, OTHER_OURS, mps=50)
    return account, make_contact(account, ANA), make_contact(account, BEN)


def test_stop_opts_out_account_wide_and_cancels_that_phones_waiting_messages(world):
    account, ana, ben = world
    gotv, later = campaign(account, "GOTV"), campaign(account, "Later", CampaignStatus.SCHEDULED)
    answered = message(account, ana, campaign=gotv, status=MessageStatus.DELIVERED, minutes_ago=5)
    waiting = [
        message(account, ana, campaign=later, sender=OTHER_OURS, status=MessageStatus.SCHEDULED),
        message(account, ana, campaign=None, sender=OTHER_OURS),  # a one-to-one reply queued
        message(account, ana, campaign=campaign(account, "Paused", CampaignStatus.PAUSED)),
    ]
    bens = message(account, ben, campaign=later, status=MessageStatus.SCHEDULED)
    other = make_account("kw-other")
    make_number(other, THEIRS)
    other_ana = make_contact(other, ANA)  # the same person in another account
    theirs = message(other, other_ana, campaign=campaign(other, "Theirs"), sender=THEIRS)

    text_in(ANA, OURS, "Stop")

    assert status_of(ana) == SmsStatus.OPTED_OUT
    for row in waiting:
        row.refresh_from_db()
        assert (row.status, row.error_reason) == (MessageStatus.CANCELED, "opted out")
    answered.refresh_from_db()
    assert answered.status == MessageStatus.DELIVERED  # history is not rewritten
    for row in (bens, theirs):
        row.refresh_from_db()
        assert row.status != MessageStatus.CANCELED
    assert status_of(ben) == SmsStatus.OPTED_IN
    assert status_of(other_ana) == SmsStatus.OPTED_IN  # STOP is per account, not global

    (event,) = history(ana, "sms_opt_out")
    assert event.campaign_id == gotv.pk  # the campaign the STOP answered
    assert event.data["from"] == SmsStatus.OPTED_IN and event.data["to"] == SmsStatus.OPTED_OUT
    assert (event.data["source"], event.data["keyword"], event.data["canceled"]) == (
        "keyword",
        "STOP",
        3,
    )
    assert event.data["in_reply_to"] == answered.pk
    assert campaign_status_snapshot(campaign=gotv)["opted_out"] == 1
    assert not EngagementEvent.objects.filter(account=other).exists()


def test_exactly_one_confirmation_from_the_number_that_got_the_stop(world):
    account, ana, _ = world
    text_in(ANA, OTHER_OURS, "STOP")
    text_in(ANA, OTHER_OURS, "stop!!")  # a second STOP
    text_in(ANA, OURS, "Please stop texting me")  # and a third, to another of our numbers

    (confirmation,) = replies(ANA)
    assert confirmation.kind == MessageKind.OPT_OUT_CONFIRMATION
    assert confirmation.body == UNSUBSCRIBED
    assert (confirmation.from_number, confirmation.campaign_id) == (OTHER_OURS, None)
    assert confirmation.status == MessageStatus.QUEUED
    assert confirmation.send_after <= timezone.now()
    assert len(history(ana, "sms_opt_out")) == 1
    assert len(history(ana, "sms_received")) == 3


def test_a_confirmation_goes_ahead_of_a_campaign_backlog_on_its_number(world):
    """A STOP confirmation is due within 5 minutes; behind a long backlog on the same
    number it would wait for all of it. The next claim on that number takes it first."""
    account, ana, _ = world
    gotv = campaign(account, "GOTV")
    backlog = [
        message(account, make_contact(account), campaign=gotv, minutes_ago=30) for _ in range(5)
    ]
    text_in(ANA, OURS, "STOP")

    (first,) = dispatch.claim(sender=OURS, limit=1)
    (confirmation,) = replies(ANA)
    assert first.id == confirmation.pk
    # The backlog follows in its own order.
    assert [row.id for row in dispatch.claim(sender=OURS, limit=5)] == [m.pk for m in backlog]


def test_a_stop_cancels_charged_messages_and_gives_the_money_back(world):
    account, ana, _ = world
    before = Account.objects.get(pk=account.pk).balance
    paid = message(account, ana, campaign=campaign(account, "GOTV"), charged=Decimal("0.0079"))
    text_in(ANA, OURS, "unsubscribe")
    paid.refresh_from_db()
    assert (paid.status, paid.charged) == (MessageStatus.CANCELED, None)
    assert Account.objects.get(pk=account.pk).balance == before + Decimal("0.0079")


def test_a_plain_reply_is_not_a_keyword(world):
    account, ana, _ = world
    Contact.objects.filter(pk=ana.pk).update(sms_status=SmsStatus.NONE)  # no consent on file
    waiting = message(account, ana, campaign=campaign(account, "GOTV"))
    for text in ("Can I stop by the office?", "don't stop", "cancel my appointment?", "yes"):
        text_in(ANA, OURS, text)
    assert status_of(ana) == SmsStatus.NONE  # "yes" opts in only the opted out or pending
    assert replies(ANA) == []
    waiting.refresh_from_db()
    assert waiting.status == MessageStatus.QUEUED
    assert len(history(ana, "sms_received")) == 4


def test_help_is_answered_every_time_opted_out_or_not(world):
    account, ana, _ = world
    text_in(ANA, OURS, "HELP")
    text_in(ANA, OURS, "STOP")
    text_in(ANA, OURS, "info")

    help_replies = [m for m in replies(ANA) if m.kind == MessageKind.HELP_REPLY]
    assert len(help_replies) == 2
    assert {m.body for m in help_replies} == {account.help_text}
    assert {m.from_number for m in help_replies} == {OURS}
    assert status_of(ana) == SmsStatus.OPTED_OUT  # HELP changes nothing
    # The STOP did not cancel the HELP reply queued before it.
    assert help_replies[0].status == MessageStatus.QUEUED


def test_start_opts_back_in_with_history_and_a_confirmation(world):
    account, ana, _ = world
    gotv = campaign(account, "GOTV")
    message(account, ana, campaign=gotv, status=MessageStatus.DELIVERED, minutes_ago=5)
    text_in(ANA, OURS, "STOP")
    text_in(ANA, OURS, "Start")
    text_in(ANA, OURS, "UNSTOP")  # already opted in: nothing more

    assert status_of(ana) == SmsStatus.OPTED_IN
    (event,) = history(ana, "sms_opt_in")
    assert (event.data["from"], event.data["to"], event.data["keyword"]) == (
        SmsStatus.OPTED_OUT,
        SmsStatus.OPTED_IN,
        "START",
    )
    assert event.campaign_id == gotv.pk
    kinds = [m.kind for m in replies(ANA)]
    assert kinds == [MessageKind.OPT_OUT_CONFIRMATION, MessageKind.OPT_IN_CONFIRMATION]

    # Opted out again: a new STOP, a new confirmation, and the waiting opt-in one canceled.
    text_in(ANA, OURS, "STOP")
    assert status_of(ana) == SmsStatus.OPTED_OUT
    assert [(m.kind, m.status) for m in replies(ANA)] == [
        (MessageKind.OPT_OUT_CONFIRMATION, MessageStatus.QUEUED),
        (MessageKind.OPT_IN_CONFIRMATION, MessageStatus.CANCELED),
        (MessageKind.OPT_OUT_CONFIRMATION, MessageStatus.QUEUED),
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (SmsStatus.OPTED_OUT, SmsStatus.OPTED_IN),
        (SmsStatus.PENDING, SmsStatus.OPTED_IN),  # double opt-in confirmed
        (SmsStatus.NONE, SmsStatus.NONE),
    ],
)
def test_yes_opts_in_only_the_opted_out_or_pending(world, before, after):
    account, ana, _ = world
    Contact.objects.filter(pk=ana.pk).update(sms_status=before)
    text_in(ANA, OURS, "Yes!")
    assert status_of(ana) == after
    assert len(replies(ANA)) == (1 if after != before else 0)


def test_a_redelivered_event_does_nothing_twice(world):
    account, ana, _ = world
    message(account, ana, campaign=campaign(account, "GOTV"))
    envelope = inbound(ANA, OURS, "STOP")
    assert webhook_events_drain() == 0
    first = webhook_event_store(envelope=envelope)
    assert webhook_event_store(envelope=envelope) is None  # the same event id: not stored
    assert webhook_events_drain() == 1  # the worker's batch path
    assert webhook_event_process(event_pk=first) == "processed"  # the sweep, again

    # The provider sends the same message again under a new event id.
    again = inbound(ANA, OURS, "STOP", message_id=envelope["data"]["payload"]["id"])
    assert webhook_event_process(event_pk=webhook_event_store(envelope=again)) == "processed"

    assert WebhookEvent.objects.count() == 2
    assert len(replies(ANA)) == 1
    assert len(history(ana, "sms_opt_out")) == 1
    assert len(history(ana, "sms_received")) == 1


def test_help_redelivered_is_answered_once(world):
    envelope = inbound(ANA, OURS, "HELP")
    pk = webhook_event_store(envelope=envelope)
    webhook_event_process(event_pk=pk)
    webhook_event_process(event_pk=pk)
    again = inbound(ANA, OURS, "help", message_id=envelope["data"]["payload"]["id"])
    webhook_event_process(event_pk=webhook_event_store(envelope=again))
    assert len(replies(ANA)) == 1


# --- The dispatcher: only the STOP confirmation and the HELP reply pass the opt-out ----


def test_the_confirmation_and_help_reply_go_out_and_nothing_else_does(world):
    account, ana, _ = world
    gotv = campaign(account, "GOTV")
    text_in(ANA, OURS, "STOP")
    text_in(ANA, OURS, "HELP")
    # Anything queued for Ana after her STOP (a path that forgot to check) is stopped at
    # send time, a one-to-one message and a campaign message alike.
    one_to_one = message(account, ana)
    campaign_row = message(account, ana, campaign=gotv)
    opt_in_confirmation = message(account, ana, kind=MessageKind.OPT_IN_CONFIRMATION)

    drain(OURS)

    sent = SimulatorMessage.objects.filter(to_number=ANA).order_by("accepted_at")
    assert [s.text for s in sent] == [UNSUBSCRIBED, account.help_text]
    assert {m.status for m in replies(ANA) if m.kind != MessageKind.OPT_IN_CONFIRMATION} == {
        MessageStatus.SENT
    }
    for row in (one_to_one, campaign_row, opt_in_confirmation):
        row.refresh_from_db()
        assert (row.status, row.error_reason) == (MessageStatus.CANCELED, "opted_out")


def test_a_message_already_claimed_when_the_stop_arrives_is_not_sent(world):
    account, ana, _ = world
    gotv = campaign(account, "GOTV")
    claimed = message(account, ana, campaign=gotv)
    info = dispatch.sender_info([OURS])[OURS]
    rows = dispatch.claim(sender=OURS, limit=10, kind=info.kind)
    assert [r.id for r in rows] == [claimed.pk]  # `sending` now: the STOP cannot cancel it

    text_in(ANA, OURS, "STOP")
    claimed.refresh_from_db()
    assert claimed.status == MessageStatus.SENDING

    # The claim's final check reads Ana's status after the STOP committed.
    booked, _ = dispatch.book(info, rows)
    batch, result = dispatch.prepare(info, booked)
    assert (batch.calls, result.canceled) == ([], 1)
    claimed.refresh_from_db()
    assert (claimed.status, claimed.error_reason, claimed.charged) == (
        MessageStatus.CANCELED,
        "opted_out",
        None,
    )
    drain(OURS)
    assert list(SimulatorMessage.objects.filter(to_number=ANA).values_list("text", flat=True)) == [
        UNSUBSCRIBED
    ]


def test_a_message_checked_before_the_stop_does_not_go_after_it(
    world, settings, django_capture_on_commit_callbacks
):
    """The claim's final check passed, its call waits for its slot, and then the STOP is
    committed: the call must not start. Nothing reaches Ana but the confirmation, and the
    message is canceled with its charge given back."""
    settings.SIMULATOR_LATENCY_MS = 0
    account, ana, _ = world
    gotv = campaign(account, "GOTV")
    checked = message(account, ana, campaign=gotv)
    info = dispatch.sender_info([OURS])[OURS]
    rows = dispatch.claim(sender=OURS, limit=10, kind=info.kind)
    booked, _ = dispatch.book(info, rows)
    batch, result = dispatch.prepare(info, booked)
    assert len(batch.calls) == 1 and result.canceled == 0  # passed: Ana was opted in

    text_in(ANA, OURS, "STOP")

    [(row_message, row, fire_at)] = batch.calls
    assert dispatch.call(batch, row_message, row, fire_at) == "canceled"
    checked.refresh_from_db()
    assert (checked.status, checked.error_reason, checked.charged) == (
        MessageStatus.CANCELED,
        "opted_out",
        None,
    )
    drain(OURS)
    assert list(SimulatorMessage.objects.filter(to_number=ANA).values_list("text", flat=True)) == [
        UNSUBSCRIBED
    ]
    # START clears the mark (once committed): Ana can be texted again at once.
    with django_capture_on_commit_callbacks(execute=True):
        text_in(ANA, OURS, "START")
    again = message(account, ana, campaign=campaign(account, "After START"))
    drain(OURS)
    again.refresh_from_db()
    assert again.status == MessageStatus.SENT


def test_a_keyword_reply_kicks_a_drain_loop_at_once(world, django_capture_on_commit_callbacks):
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete("dispatch")
    with django_capture_on_commit_callbacks(execute=True):
        text_in(ANA, OURS, "STOP")
    assert client.llen("dispatch") == 1  # the confirmation does not wait for the beat
    client.delete("dispatch")
