"""Applying stored events: once, through texting's registered hook; parked events kept
and re-run; failures recorded, not looped."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import EngagementEvent
from providers import hooks
from providers.hooks import EventOutcome, UnprocessableEvent
from providers.models import WebhookEvent, WebhookStatus
from providers.services import (
    WebhookProcessingError,
    rematch_parked,
    webhook_event_process,
    webhook_event_store,
)
from providers.tasks import retry_parked_events
from tests.factories import make_account, make_number
from tests.inbound import inbound as inbound_sms
from tests.providers.conftest import receipts_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def swap_handler():
    original = hooks.event_handler()
    yield hooks.register_event_handler
    hooks.register_event_handler(original)


def received(to: str, from_: str = "+15035550142", text: str = "Yes") -> dict:
    return inbound_sms(from_, to, text)


def delivery_events(message_id: str) -> list[dict]:
    return receipts_for(message_id, from_number="+19715550301")


def store(envelope: dict) -> WebhookEvent:
    return WebhookEvent.objects.get(pk=webhook_event_store(envelope=envelope))


def test_texting_registered_its_handler():
    from texting.inbound import handle_provider_event

    assert hooks.event_handler() is handle_provider_event


def test_an_inbound_sms_is_applied_once_even_when_processed_twice():
    account = make_account()
    make_number(account, "+19715550302")
    event = store(received("+19715550302"))
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.PROCESSED
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.processed_at is not None) == ("processed", 1, True)
    assert EngagementEvent.objects.filter(type="sms_received").count() == 1


def test_an_sms_to_a_number_nobody_owns_fails_with_a_reason():
    event = store(received("+19715550399"))
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.FAILED
    event.refresh_from_db()
    assert event.last_error == "no account owns +19715550399"
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.FAILED  # no loop
    assert event.attempts == 1


def test_delivery_receipts_park_until_the_send_engine_can_match_them(swap_handler):
    message_id = str(uuid.uuid4())
    stored = [store(envelope) for envelope in delivery_events(message_id)]
    for event in stored:
        assert webhook_event_process(event_pk=event.pk) == WebhookStatus.PARKED
    assert rematch_parked(message_ref=message_id) == 2  # still unknown: parked again
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"parked"}

    applied: list[str] = []

    def send_engine_knows_it(event):
        applied.append(event.event_type)
        return EventOutcome.PROCESSED

    swap_handler(send_engine_knows_it)
    assert rematch_parked(message_ref=message_id) == 2
    assert applied == ["message.sent", "message.finalized"]  # in the order they occurred
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert rematch_parked(message_ref=message_id) == 0


def test_the_periodic_task_reruns_recent_parked_events_only(swap_handler, celery_eager):
    recent, old = (store(envelope) for envelope in delivery_events(str(uuid.uuid4())))
    due = timezone.now() - timedelta(seconds=1)
    WebhookEvent.objects.filter(pk__in=[recent.pk, old.pk]).update(
        status=WebhookStatus.PARKED, next_attempt_at=due
    )
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=25))
    swap_handler(lambda event: EventOutcome.PROCESSED)
    assert retry_parked_events() == 1
    assert WebhookEvent.objects.get(pk=recent.pk).status == "processed"
    assert WebhookEvent.objects.get(pk=old.pk).status == "parked"


def test_with_no_handler_registered_events_are_parked_not_dropped(swap_handler):
    swap_handler(None)
    event = store(received("+19715550303"))
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.PARKED


def test_a_transient_handler_error_is_recorded_and_raised_for_retry(swap_handler):
    def broken(event):
        raise ConnectionError("redis went away")

    swap_handler(broken)
    event = store(received("+19715550304"))
    with pytest.raises(WebhookProcessingError):
        webhook_event_process(event_pk=event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 1)
    assert event.last_error == "ConnectionError: redis went away"

    swap_handler(lambda event: (_ for _ in ()).throw(UnprocessableEvent("never applies")))
    assert webhook_event_process(event_pk=event.pk) == WebhookStatus.FAILED


def test_the_handler_effect_rolls_back_with_a_transient_error(swap_handler):
    account = make_account()
    make_number(account, "+19715550305")
    from texting.inbound import handle_provider_event

    def records_then_breaks(event):
        handle_provider_event(event)
        raise RuntimeError("after the write")

    swap_handler(records_then_breaks)
    event = store(received("+19715550305"))
    with pytest.raises(WebhookProcessingError):
        webhook_event_process(event_pk=event.pk)
    assert EngagementEvent.objects.count() == 0


def test_parking_backs_off_and_the_sweep_waits_for_it(swap_handler, celery_eager):
    swap_handler(lambda event: EventOutcome.PARKED)
    event = store(delivery_events(str(uuid.uuid4()))[0])
    webhook_event_process(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == "parked" and event.next_attempt_at > timezone.now()
    assert retry_parked_events() == 0  # not due yet

    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert retry_parked_events() == 1
    event.refresh_from_db()
    assert event.attempts == 2
    # The second wait is longer than the first.
    assert event.next_attempt_at - timezone.now() > timedelta(seconds=15)


def test_a_failing_event_is_never_given_up_on(swap_handler, celery_eager):
    """A long outage must not drop an inbound message (it could be a STOP)."""
    swap_handler(lambda event: (_ for _ in ()).throw(ConnectionError("db flapping")))
    event = store(received("+19715550306"))
    for _ in range(15):
        WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        with pytest.raises(WebhookProcessingError):
            webhook_event_process(event_pk=event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("received", 15)
    assert event.next_attempt_at - timezone.now() <= timedelta(hours=1)

    swap_handler(lambda event: EventOutcome.PROCESSED)
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert retry_parked_events() == 1
    assert WebhookEvent.objects.get(pk=event.pk).status == "processed"


def test_an_event_time_without_offset_is_read_as_utc():
    envelope = received("+19715550307")
    envelope["data"]["occurred_at"] = "2026-01-15T20:16:07.588"
    pk = webhook_event_store(envelope=envelope)
    assert (
        WebhookEvent.objects.get(pk=pk).occurred_at.isoformat()
        == "2026-01-15T20:16:07.588000+00:00"
    )
