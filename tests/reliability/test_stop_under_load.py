"""STOP under load (issue 4's acceptance), with real processes: the web server (uvicorn,
as in the Procfile), a default worker (webhooks), a dispatch worker and beat, on the
test database and a private Redis; the carrier simulator is the network.

While a campaign is sending at 40 messages a second, a signed `message.received` STOP
is posted to the webhook the way Telnyx posts it. Within 1 s of the webhook's answer
the contact is opted out and every queued or scheduled message to that phone in the
account is canceled, and afterwards nothing is sent to that phone but the one
confirmation.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact, SmsStatus
from providers.models import SimulatorMessage
from providers.simulator.transport import post_signed_event
from tests.inbound import inbound
from texting.commit import campaign_commit
from texting.models import Campaign, Message, MessageStatus, SendMode

from .checks import committed_campaign, recipients, wait_for_completion
from .conftest import wait_for_count

RECIPIENTS = 400
SENDERS = 4
MPS = 10  # 40 messages a second in all: the campaign sends for ~10 s
BUDGET_SECONDS = 1.0


def waiting_to(phone: str, account_id: int) -> int:
    """Messages to `phone` still waiting to go, not counting keyword replies (the STOP's
    own confirmation waits in the queue like any message)."""
    return Message.objects.filter(
        account_id=account_id,
        to_number=phone,
        status__in=[MessageStatus.QUEUED, MessageStatus.SCHEDULED],
        kind__isnull=True,
    ).count()


@pytest.mark.timeout(240)
def test_a_stop_mid_campaign_takes_effect_within_a_second(cluster):
    procs, _redis = cluster
    campaign = committed_campaign(phones=recipients(RECIPIENTS), senders=SENDERS, mps=MPS)
    account = campaign.account
    # The last recipient in the queue: still waiting when the STOP comes.
    target = (
        Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        .order_by("-id")
        .first()
    )
    contact = Contact.objects.get(pk=target.contact_id)
    # A second message to the same phone, scheduled by another campaign of the account.
    later = Campaign.objects.create(
        account=account,
        created_by=campaign.created_by,
        name="Tomorrow's reminder",
        body="Reminder: canvass tomorrow at 10am.",
        sender_ids=campaign.sender_ids,
        audience={"contact_ids": [contact.pk]},
    )
    campaign_commit(
        campaign=later,
        actor=campaign.created_by,
        send_mode=SendMode.SCHEDULE,
        schedule_at=timezone.now() + timedelta(hours=20),
    )
    assert waiting_to(contact.phone, account.pk) == 2

    web, base = procs.web()
    procs.start(
        web,
        procs.worker("rel-default", queues="default"),
        procs.worker("rel-dispatch", queues="dispatch"),
        procs.beat(),
    )
    wait_for_count(
        lambda: Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count(),
        RECIPIENTS // 5,
        what="messages sent",
        every=0.02,
    )
    assert waiting_to(contact.phone, account.pk) == 2, "the target was sent before the STOP"

    in_flight = Message.objects.filter(
        campaign=campaign, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).count()
    stop = inbound(contact.phone, target.from_number, "Stop")
    status = post_signed_event(stop, url=f"{base}/webhooks/telnyx/")
    answered, answered_at = time.monotonic(), timezone.now()
    assert status == 200

    def stopped() -> bool:
        opted_out = Contact.objects.filter(pk=contact.pk, sms_status=SmsStatus.OPTED_OUT).exists()
        return opted_out and waiting_to(contact.phone, account.pk) == 0

    while not stopped():
        assert time.monotonic() - answered < 10, "the STOP never took effect"
        time.sleep(0.005)
    took = time.monotonic() - answered
    assert took <= BUDGET_SECONDS, f"the STOP took {took:.3f} s to take effect"
    assert in_flight > RECIPIENTS // 2, "the campaign was nearly done: not a STOP under load"

    wait_for_completion(campaign)
    # Both waiting messages were canceled, never sent; the one confirmation went out.
    assert set(Message.objects.filter(pk=target.pk).values_list("status", flat=True)) | set(
        Message.objects.filter(campaign=later).values_list("status", flat=True)
    ) == {MessageStatus.CANCELED}
    confirmation = Message.objects.get(account=account, to_number=contact.phone, kind__isnull=False)
    wait_for_count(
        lambda: SimulatorMessage.objects.filter(to_number=contact.phone).count(),
        1,
        what="the confirmation at the simulator",
    )
    time.sleep(1)  # anything else on its way to that phone would land by now
    to_phone = list(
        SimulatorMessage.objects.filter(to_number=contact.phone).values_list(
            "accepted_at", "idempotency_key"
        )
    )
    assert [str(key) for _, key in to_phone] == [str(confirmation.idempotency_key)]
    # It went ahead of the campaign's backlog on its number, not after it.
    ((confirmed_at, _),) = to_phone
    assert confirmed_at - answered_at < timedelta(seconds=5)
