"""The dispatcher against the carrier simulator (in process; real PostgreSQL and Redis)."""

import datetime
import itertools
import time
import uuid

import pytest

from contacts.models import Contact, EngagementEvent, SmsStatus
from providers.base import SendRequest
from providers.models import SimulatorMessage, SimulatorNumber, WebhookEvent
from providers.registry import get_provider
from providers.services import webhook_event_process, webhook_event_store
from providers.simulator import events
from providers.simulator.selectors import violations
from tests.factories import make_account, make_contact, make_member, make_number
from tests.sending import drain
from texting import dispatch
from texting.commit import campaign_commit
from texting.models import Campaign, CampaignStatus, Message
from texting.services import campaign_pause, campaign_resume

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_dispatch_state")]


def committed(n: int, *, mps: int = 50, phones: list[str] | None = None) -> Campaign:
    account = make_account()
    user = make_member(account, "manager")
    sender = make_number(account, f"+1971555{uuid.uuid4().int % 9000 + 1000:04d}", mps=mps)
    phones = phones or [f"+1503555{i:04d}" for i in range(100, 100 + n)]
    contacts = [make_contact(account, p) for p in phones]
    campaign = Campaign.objects.create(
        account=account,
        created_by=user,
        name="Test",
        body="Hello",
        sender_ids=[sender.pk],
        audience={"contact_ids": [c.pk for c in contacts]},
    )
    return campaign_commit(campaign=campaign, actor=user).campaign


def sender_of(campaign: Campaign) -> str:
    return Message.objects.filter(campaign=campaign).values_list("from_number", flat=True).first()


def test_due_messages_are_sent_once_with_their_idempotency_keys():
    campaign = committed(5)
    drain(sender_of(campaign))
    messages = list(Message.objects.filter(campaign=campaign))
    assert {m.status for m in messages} == {"sent"}
    log = SimulatorMessage.objects.filter(to_number__in=[m.to_number for m in messages])
    assert log.count() == 5
    assert {str(m.idempotency_key) for m in messages} == set(
        log.values_list("idempotency_key", flat=True)
    )
    assert {m.provider_message_id for m in messages} == {
        str(x) for x in log.values_list("id", flat=True)
    }
    assert EngagementEvent.objects.filter(type="sms_sent", campaign_id=campaign.pk).count() == 5
    assert dispatch.complete_finished_campaigns() == 1
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_contact_who_opted_out_after_commit_is_not_texted():
    campaign = committed(3)
    gone = Message.objects.filter(campaign=campaign).order_by("id").first()
    Contact.objects.filter(pk=gone.contact_id).update(sms_status=SmsStatus.OPTED_OUT)
    drain(sender_of(campaign))
    gone.refresh_from_db()
    assert (gone.status, gone.error_reason) == ("canceled", "opted_out")
    assert not SimulatorMessage.objects.filter(to_number=gone.to_number).exists()


def test_a_paused_campaign_holds_its_queue_and_resumes():
    campaign = committed(3)
    campaign_pause(campaign=campaign)
    assert dispatch.dispatch_sender(sender=sender_of(campaign)).claimed == 0
    campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
    drain(sender_of(campaign))
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "sent"
    }


def test_the_sender_rate_is_respected_and_the_carrier_sees_no_violation():
    campaign = committed(8, mps=2)
    sender = sender_of(campaign)
    started = time.monotonic()
    drain(sender, seconds=1.6)
    elapsed = time.monotonic() - started
    sent = Message.objects.filter(campaign=campaign, status="sent").count()
    assert 2 <= sent <= 2 * elapsed + 1
    assert violations(from_number=sender).count() == 0


def test_a_call_that_reaches_the_carrier_late_never_crowds_the_carriers_second():
    """A thread can stall between the window check and its request reaching the carrier
    (a saturated CPU): the carrier counts the request when it arrives. The simulator's
    reserved recipient +12025550107 makes the request arrive 1.2 s after the call. The
    calls after it must be spaced from that arrival, not from the check, so at 1 MPS
    the carrier never sees two requests in one second."""
    phones = ["+12025550107", "+15035550100", "+15035550101"]
    campaign = committed(3, mps=1, phones=phones)
    sender = sender_of(campaign)
    SimulatorNumber.objects.create(e164=sender, kind="long", mps=1)  # the carrier's limit too
    drain(sender, seconds=10)
    assert set(Message.objects.filter(campaign=campaign).values_list("status", flat=True)) == {
        "sent"
    }
    assert violations(from_number=sender).count() == 0
    accepted = sorted(
        SimulatorMessage.objects.filter(from_number=sender).values_list("accepted_at", flat=True)
    )
    assert len(accepted) == 3
    # The carrier's window at 1 MPS: any sliding second holds at most one segment.
    assert all(b - a >= datetime.timedelta(seconds=1) for a, b in itertools.pairwise(accepted))


def test_a_permanent_provider_error_fails_the_message_with_the_reason():
    campaign = committed(1, phones=["+12025550111"])  # simulator: 40310 invalid 'to'
    drain(sender_of(campaign))
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.error_code) == ("failed", "40310")
    assert message.error_reason


def test_a_worker_dying_after_the_provider_accepted_never_sends_twice():
    campaign = committed(1)
    sender = sender_of(campaign)
    (row,) = dispatch.claim(sender=sender, limit=10)
    message_id = row.id
    message = Message.objects.get(pk=message_id)
    # The call went out and was accepted; then the worker was killed before recording it.
    get_provider().send(
        SendRequest(
            from_=sender,
            to=message.to_number,
            text=message.body,
            idempotency_key=str(message.idempotency_key),
        )
    )
    Message.objects.filter(pk=message_id).update(lease_until=message.created_at)  # lease long gone
    assert dispatch.reclaim_expired_leases() == 1
    drain(sender)
    message.refresh_from_db()
    assert message.status == "sent"
    assert SimulatorMessage.objects.filter(to_number=message.to_number).count() == 1
    assert message.provider_message_id == str(
        SimulatorMessage.objects.get(to_number=message.to_number).id
    )


def receipts_for(message: Message) -> tuple[dict, dict]:
    sim = SimulatorMessage.objects.get(id=message.provider_message_id)
    return events.message_sent(sim), events.message_finalized(sim)


def apply(envelope: dict) -> str:
    pk = webhook_event_store(envelope=envelope)
    return webhook_event_process(event_pk=pk) if pk else "duplicate"


def test_receipts_move_forward_only_and_count_once_in_any_order():
    campaign = committed(1, phones=["+12025550100"])  # simulator: delivered
    drain(sender_of(campaign))
    message = Message.objects.get(campaign=campaign)
    sent, finalized = receipts_for(message)
    assert apply(finalized) == "processed"
    assert apply(sent) == "processed"  # late `sent` after `delivered`
    assert apply(finalized) == "duplicate"
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    assert (
        EngagementEvent.objects.filter(type="sms_delivered", contact_id=message.contact_id).count()
        == 1
    )


def test_a_receipt_before_the_send_is_recorded_parks_and_is_matched_later():
    campaign = committed(1, phones=["+12025550101"])  # simulator: delivery_failed 40008
    sender = sender_of(campaign)
    (row,) = dispatch.claim(sender=sender, limit=1)
    message_id = row.id
    message = Message.objects.get(pk=message_id)
    result = get_provider().send(
        SendRequest(
            from_=sender,
            to=message.to_number,
            text=message.body,
            idempotency_key=str(message.idempotency_key),
        )
    )
    _, finalized = receipts_for(Message(provider_message_id=result.provider_message_id))
    assert apply(finalized) == "parked"
    Message.objects.filter(pk=message_id).update(lease_until=message.created_at)
    dispatch.reclaim_expired_leases()
    drain(sender)  # records the provider id (a replay) and rematches the parked receipt
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "40008")
    assert WebhookEvent.objects.get(event_id=finalized["data"]["id"]).status == "processed"
