"""Threads from inbound messages, through the real webhook path (tests.inbound.text_in:
stored and applied as the webhook worker applies them): inbound Message rows, one
conversation per (contact, our number), routing by the phone pair, unknown senders and
unattached numbers, reopening, snooze, the campaign's `replied` counter."""

import datetime

import pytest
from django.utils import timezone

from contacts.models import Contact
from conversations import selectors, services
from conversations.models import Conversation, ConversationLabel, ConversationStatus
from providers.services import webhook_event_process, webhook_event_store
from tests.factories import make_account, make_contact, make_member, make_number
from tests.inbound import inbound, text_in
from texting.models import Campaign, CampaignStatus, Message, MessageStatus
from texting.selectors import campaign_status_snapshot

pytestmark = pytest.mark.django_db

A, B = "+19715550801", "+19715550802"
ANA, BEN, STRANGER = "+15035550811", "+15035550812", "+15035550899"


@pytest.fixture
def world():
    account = make_account("threads")
    number_a, number_b = make_number(account, A), make_number(account, B)
    ana, ben = make_contact(account, ANA, first_name="Ana"), make_contact(account, BEN)
    return account, number_a, number_b, ana, ben


def campaign(account, name, *senders, status=CampaignStatus.SENDING) -> Campaign:
    return Campaign.objects.create(
        account=account,
        name=name,
        body="Hi",
        status=status,
        sender_ids=[n.pk for n in senders],
    )


def sent(campaign_or_none, account, contact, *, sender: str, minutes: int = 5, body="Hi"):
    at = timezone.now() - datetime.timedelta(minutes=minutes)
    message = Message.objects.create(
        account=account,
        campaign=campaign_or_none,
        contact=contact,
        from_number=sender,
        to_number=contact.phone,
        body=body,
        status=MessageStatus.DELIVERED,
        send_after=at,
        sent_at=at,
    )
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def thread(conversation) -> list[tuple[str, str]]:
    return [
        (m.direction, m.body)
        for m in reversed(selectors.thread_messages(conversation=conversation))
    ]


def test_a_reply_lands_in_the_thread_of_the_number_it_was_sent_to(world):
    account, number_a, number_b, ana, _ = world
    gotv = campaign(account, "GOTV", number_a, number_b)
    canvass = campaign(account, "Canvass", number_b)
    sent(gotv, account, ana, sender=A, minutes=30, body="From A")
    sent(canvass, account, ana, sender=B, minutes=10, body="From B")

    text_in(ANA, B, "Count me in")

    conversation = Conversation.objects.get()
    assert (conversation.contact_id, conversation.phone, conversation.our_number) == (
        ana.pk,
        ANA,
        B,
    )
    assert conversation.campaign_id == canvass.pk  # what her reply answers, on B
    assert thread(conversation) == [("outbound", "From B"), ("inbound", "Count me in")]
    assert (conversation.unread, conversation.last_preview) == (1, "Count me in")
    # The (Ana, A) pair has no conversation: A's outbound is not hers to show.
    assert not Conversation.objects.filter(our_number=A).exists()
    inbound_row = Message.objects.get(direction="inbound")
    assert (inbound_row.from_number, inbound_row.to_number, inbound_row.status) == (
        ANA,
        B,
        MessageStatus.RECEIVED,
    )
    assert inbound_row.contact_id == ana.pk and inbound_row.campaign_id is None


def test_a_second_reply_joins_the_same_thread_and_a_redelivery_adds_nothing(world):
    account, number_a, _, ana, _ = world
    sent(campaign(account, "GOTV", number_a), account, ana, sender=A)
    envelope = text_in(ANA, A, "Yes")
    text_in(ANA, A, "Also my sister")
    again = inbound(ANA, A, "Yes", message_id=envelope["data"]["payload"]["id"])
    webhook_event_process(event_pk=webhook_event_store(envelope=again))

    conversation = Conversation.objects.get()
    assert conversation.unread == 2
    assert [b for _, b in thread(conversation)] == ["Hi", "Yes", "Also my sister"]
    assert Message.objects.filter(direction="inbound").count() == 2


def test_an_unknown_sender_gets_a_phone_only_contact_and_a_labelled_thread(world):
    account, number_a, *_ = world
    campaign(account, "GOTV", number_a)

    text_in(STRANGER, A, "Who is this?")

    contact = Contact.objects.get(account=account, phone=STRANGER)
    assert (contact.first_name, contact.last_name) == ("", "")
    conversation = Conversation.objects.get(contact=contact)
    assert conversation.label == ConversationLabel.UNKNOWN_SENDER
    assert conversation.campaign_id is None
    assert thread(conversation) == [("inbound", "Who is this?")]


def test_a_reply_to_a_number_on_no_active_campaign_is_unattached(world):
    account, number_a, number_b, ana, ben = world
    campaign(account, "Done", number_a, status=CampaignStatus.COMPLETED)
    campaign(account, "Paused", number_b, status=CampaignStatus.PAUSED)

    text_in(ANA, A, "hello?")
    text_in(BEN, B, "hello?")

    assert Conversation.objects.get(contact=ana).label == ConversationLabel.UNATTACHED
    # B is in a paused campaign's pool: a reply to it is attached.
    assert Conversation.objects.get(contact=ben).label == ConversationLabel.NONE


def test_a_reply_to_a_finished_campaign_is_not_unattached(world):
    account, number_a, _, ana, _ = world
    done = campaign(account, "Done", number_a, status=CampaignStatus.COMPLETED)
    sent(done, account, ana, sender=A)

    text_in(ANA, A, "late answer")

    conversation = Conversation.objects.get()
    assert (conversation.label, conversation.campaign_id) == ("", done.pk)


def test_a_new_message_reopens_a_resolved_or_snoozed_thread_but_not_spam(world):
    account, number_a, _, ana, ben = world
    campaign(account, "GOTV", number_a)
    admin = make_member(account, "admin")
    text_in(ANA, A, "one")
    text_in(BEN, A, "one")
    ana_thread = Conversation.objects.get(contact=ana)
    ben_thread = Conversation.objects.get(contact=ben)
    services.conversation_update(
        conversation=ana_thread,
        actor=admin,
        data={"status": "snoozed", "snooze_until": timezone.now() + datetime.timedelta(days=1)},
    )
    services.conversation_update(conversation=ben_thread, actor=admin, data={"status": "spam"})

    text_in(ANA, A, "two")
    text_in(BEN, A, "two")

    ana_thread.refresh_from_db()
    ben_thread.refresh_from_db()
    assert (ana_thread.status, ana_thread.snooze_until) == (ConversationStatus.OPEN, None)
    assert ben_thread.status == ConversationStatus.SPAM


def test_a_snoozed_thread_reopens_when_its_time_passes(world):
    account, number_a, _, ana, ben = world
    campaign(account, "GOTV", number_a)
    admin = make_member(account, "admin")
    text_in(ANA, A, "later please")
    text_in(BEN, A, "later please")
    soon = Conversation.objects.get(contact=ana)
    later = Conversation.objects.get(contact=ben)
    for conversation, hours in ((soon, 1), (later, 5)):
        services.conversation_update(
            conversation=conversation,
            actor=admin,
            data={
                "status": "snoozed",
                "snooze_until": timezone.now() + datetime.timedelta(hours=hours),
            },
        )

    assert services.reopen_snoozed(now=timezone.now()) == 0
    assert services.reopen_snoozed(now=timezone.now() + datetime.timedelta(hours=2)) == 1

    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.status, soon.snooze_until) == (ConversationStatus.OPEN, None)
    assert later.status == ConversationStatus.SNOOZED


def test_the_beat_task_reopens_snoozed_threads(world):
    from conversations.tasks import reopen_snoozed

    account, number_a, _, ana, _ = world
    text_in(ANA, A, "x")
    Conversation.objects.filter(contact=ana).update(
        status="snoozed", snooze_until=timezone.now() - datetime.timedelta(seconds=1)
    )

    assert reopen_snoozed() == 1
    assert Conversation.objects.get(contact=ana).status == ConversationStatus.OPEN


def test_replies_in_a_thread_count_once_in_the_campaigns_replied(world):
    account, number_a, _, ana, ben = world
    gotv = campaign(account, "GOTV", number_a)
    sent(gotv, account, ana, sender=A)
    sent(gotv, account, ben, sender=A)
    assert campaign_status_snapshot(campaign=gotv)["replied"] == 0

    text_in(ANA, A, "yes")
    text_in(ANA, A, "and yes again")

    assert campaign_status_snapshot(campaign=gotv)["replied"] == 1
    # Her words are in her history too (the contact card reads it).
    assert ana.events.filter(type="sms_received", campaign_id=gotv.pk).count() == 2


def test_a_stop_and_its_confirmation_show_in_the_thread(world):
    account, number_a, _, ana, _ = world
    sent(campaign(account, "GOTV", number_a), account, ana, sender=A)

    text_in(ANA, A, "STOP")

    conversation = Conversation.objects.get()
    directions = [d for d, _ in thread(conversation)]
    assert directions == ["outbound", "inbound", "outbound"]
    assert thread(conversation)[1] == ("inbound", "STOP")


def test_outbound_campaign_messages_create_no_conversations(world):
    account, number_a, _, ana, ben = world
    gotv = campaign(account, "GOTV", number_a)
    sent(gotv, account, ana, sender=A)
    sent(gotv, account, ben, sender=A)

    assert not Conversation.objects.exists()


def test_thread_pages_go_back_in_time_by_message_id(world):
    account, number_a, _, ana, _ = world
    for i in range(7):
        sent(None, account, ana, sender=A, minutes=100 - i, body=f"out {i}")
    text_in(ANA, A, "newest")
    conversation = Conversation.objects.get()

    first = selectors.thread_messages(conversation=conversation, limit=3)
    second = selectors.thread_messages(conversation=conversation, before=first[-1].pk, limit=3)
    rest = selectors.thread_messages(conversation=conversation, before=second[-1].pk, limit=3)

    assert [m.body for m in first] == ["newest", "out 6", "out 5"]
    assert [m.body for m in second] == ["out 4", "out 3", "out 2"]
    assert [m.body for m in rest] == ["out 1", "out 0"]


def test_the_audit_trail_lists_each_inbound_text_once_with_its_campaign(world):
    from texting.audit_trail import audit_trail

    account, number_a, _, ana, _ = world
    gotv = campaign(account, "GOTV", number_a)
    sent(gotv, account, ana, sender=A)
    text_in(ANA, A, "Yes please")

    trail = audit_trail(account=account, phone=ANA)

    inbound_rows = [m for m in trail.messages if m["direction"] == "inbound"]
    assert [(m["body"], m["campaign_id"]) for m in inbound_rows] == [("Yes please", gotv.pk)]
    assert inbound_rows[0]["id"] == Message.objects.get(direction="inbound").pk
