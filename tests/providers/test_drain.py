"""Stored events are applied in batches (providers.services.webhook_events_drain, run by
the providers.tasks.drain_webhook_events task): each exactly once, a failing event
without holding back the others, and nothing left behind when a kick or a worker is
lost."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import EngagementEvent
from providers import hooks
from providers.hooks import EventOutcome
from providers.models import WebhookEvent, WebhookStatus
from providers.services import (
    DRAIN_KICK_KEY,
    webhook_events_claim,
    webhook_events_drain,
    webhook_events_store,
)
from providers.simulator import events
from providers.tasks import drain_webhook_events, retry_parked_events
from tests.factories import make_account, make_contact, make_number
from tests.providers.conftest import receipts_for
from texting.models import Message, MessageStatus

pytestmark = pytest.mark.django_db

OUR_NUMBER = "+19715550401"


@pytest.fixture
def swap_handler():
    original = hooks.event_handler()
    yield hooks.register_event_handler
    hooks.register_event_handler(original)


def inbound(to: str = OUR_NUMBER, text: str = "Yes") -> dict:
    return events.message_received(
        message_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        from_="+15035550142",
        to=to,
        text=text,
        parts=1,
        encoding="GSM-7",
    )


def receipts(provider_id: str, outcome: str = "delivered") -> list[dict]:
    return receipts_for(provider_id, from_number=OUR_NUMBER, outcome=outcome)


def sent_message(account, phone: str) -> Message:
    """An outbound message the provider accepted (status `sending`, provider id known)."""
    return Message.objects.create(
        account=account,
        contact=make_contact(account, phone),
        from_number=OUR_NUMBER,
        to_number=phone,
        body="Rally at 6pm",
        status=MessageStatus.SENDING,
        send_after=timezone.now(),
        provider_message_id=str(uuid.uuid4()),
    )


def store(*envelopes: dict) -> list[WebhookEvent]:
    pks = webhook_events_store(envelopes=list(envelopes))
    return [WebhookEvent.objects.get(pk=pk) for pk in pks]


def states(stored: list[WebhookEvent]) -> list[tuple[str, int]]:
    return [
        (e.status, e.attempts)
        for e in WebhookEvent.objects.filter(pk__in=[s.pk for s in stored]).order_by("id")
    ]


def test_one_drain_applies_a_mix_of_events_exactly_once():
    account = make_account()
    make_number(account, OUR_NUMBER)
    delivered = sent_message(account, "+15035550101")
    failed = sent_message(account, "+15035550102")
    mix = [
        inbound(text="Count me in"),  # -> processed, on the sender's record
        *receipts(delivered.provider_message_id),  # -> processed, message delivered
        *receipts(failed.provider_message_id, "delivery_failed"),  # -> processed, failed
        *receipts(str(uuid.uuid4())),  # a message we do not know yet -> parked
        inbound(to="+19715550499"),  # nobody owns that number -> failed
    ]
    stored = store(*mix)

    assert webhook_events_drain() == len(mix)
    assert webhook_events_drain() == 0  # nothing left: a second drain applies nothing
    assert states(stored) == [
        ("processed", 1),
        ("processed", 1),
        ("processed", 1),
        ("processed", 1),
        ("processed", 1),
        ("parked", 1),
        ("parked", 1),
        ("failed", 1),
    ]
    delivered.refresh_from_db()
    failed.refresh_from_db()
    assert (delivered.status, delivered.sent_at is not None) == (MessageStatus.DELIVERED, True)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "30003")
    history = EngagementEvent.objects.filter(account=account)
    assert sorted(history.values_list("type", flat=True)) == [
        "sms_delivered",
        "sms_failed",
        "sms_received",
    ]
    assert WebhookEvent.objects.get(pk=stored[-1].pk).last_error == "no account owns +19715550499"
    parked = WebhookEvent.objects.get(pk=stored[5].pk)
    assert parked.next_attempt_at > timezone.now()  # the sweep retries it later


def test_a_receipt_batch_costs_one_statement_per_receipt_and_per_history_row():
    account = make_account()
    messages = [sent_message(account, f"+150355502{i:02d}") for i in range(10)]
    stored = store(*(r for m in messages for r in receipts(m.provider_message_id)))
    with CaptureQueriesContext(connection) as queries:
        assert webhook_events_drain() == len(stored)
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]  # the test's
    # claim, lock; an UPDATE per receipt and a history INSERT per delivery; mark processed
    assert len(statements) == 2 + len(stored) + len(messages) + 1
    assert set(Message.objects.values_list("status", flat=True)) == {MessageStatus.DELIVERED}
    assert EngagementEvent.objects.filter(type="sms_delivered").count() == len(messages)


def test_a_failing_event_does_not_hold_back_the_others_and_is_retried(swap_handler, celery_eager):
    account = make_account()
    make_number(account, OUR_NUMBER)
    from texting.inbound import handle_provider_event

    stored = store(inbound(text="one"), inbound(text="breaks"), inbound(text="three"))
    outage = {"on": True}

    def flaky(event):
        result = handle_provider_event(event)  # writes the contact's history first
        if event.text == "breaks" and outage["on"]:
            raise ConnectionError("redis went away")
        return result

    swap_handler(flaky)
    assert webhook_events_drain() == 3
    assert states(stored) == [("processed", 1), ("received", 1), ("processed", 1)]
    failing = WebhookEvent.objects.get(pk=stored[1].pk)
    assert failing.last_error == "ConnectionError: redis went away"
    assert failing.next_attempt_at > timezone.now()
    # Its own write rolled back with it; the others' stayed.
    texts = EngagementEvent.objects.values_list("data__text", flat=True)
    assert sorted(texts) == ["one", "three"]
    assert webhook_events_drain() == 0  # not fresh any more: the sweep owns its retries

    outage["on"] = False
    WebhookEvent.objects.filter(pk=failing.pk).update(next_attempt_at=timezone.now())
    assert retry_parked_events() == 1
    assert states(stored)[1] == ("processed", 2)
    assert sorted(EngagementEvent.objects.values_list("data__text", flat=True)) == [
        "breaks",
        "one",
        "three",
    ]


def test_storing_kicks_one_drain_after_commit(celery_eager, django_capture_on_commit_callbacks):
    account = make_account()
    make_number(account, OUR_NUMBER)
    with django_capture_on_commit_callbacks(execute=True) as kicks:
        (event,) = store(inbound())
    # One drain kick (the inline drain's own after-commit work, e.g. the inbox's live
    # updates, is captured too: count only the kicks).
    assert [k.__name__ for k in kicks].count("webhook_drain_kick") == 1
    event.refresh_from_db()
    assert event.status == WebhookStatus.PROCESSED  # the kicked drain ran (inline here)
    with django_capture_on_commit_callbacks(execute=True) as kicks:
        assert webhook_events_store(envelopes=[event.payload]) == [None]
    assert kicks == []  # a redelivery stores nothing and kicks nothing


def test_a_lost_kick_is_covered_by_the_beat_drain(no_drain_kick_pending):
    """The kick is marked as queued but the broker lost it: later stores do not kick
    again (the mark says one is queued), and beat's drain, every second, applies them."""
    account = make_account()
    make_number(account, OUR_NUMBER)
    no_drain_kick_pending.set(DRAIN_KICK_KEY, 1, ex=60)  # "queued" (and lost)
    stored = store(inbound(), inbound())
    assert states(stored) == [("received", 0), ("received", 0)]

    schedule = settings.CELERY_BEAT_SCHEDULE["drain-webhook-events"]
    assert schedule["task"] == drain_webhook_events.name
    assert schedule["schedule"] <= 1.0
    assert drain_webhook_events() == 2  # what beat runs
    assert states(stored) == [("processed", 1), ("processed", 1)]
    assert no_drain_kick_pending.get(DRAIN_KICK_KEY) is None  # the next store kicks again


def test_a_batch_whose_worker_died_is_retried_by_the_sweep(swap_handler, celery_eager):
    """A drain that claimed a batch and died before committing it (kill -9, a poison
    event crashing the process) leaves the batch leased; the next drains skip it, and
    when the lease runs out the sweep runs each event on its own."""
    stored = store(inbound(), inbound())
    claimed = webhook_events_claim()  # ... and the worker dies here
    assert sorted(claimed) == sorted(e.pk for e in stored)
    assert webhook_events_drain() == 0
    assert retry_parked_events() == 0  # leased: not due yet

    swap_handler(lambda event: EventOutcome.PROCESSED)
    WebhookEvent.objects.filter(pk__in=claimed).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert retry_parked_events() == 2
    assert states(stored) == [("processed", 2), ("processed", 2)]


def test_a_drain_leaves_events_it_did_not_claim(swap_handler):
    swap_handler(lambda event: EventOutcome.PROCESSED)
    stored = store(*(inbound() for _ in range(5)))
    assert webhook_events_drain(limit=3) == 3
    assert [s for s, _ in states(stored)] == ["processed"] * 3 + ["received"] * 2  # oldest first
    assert webhook_events_drain(limit=3) == 2
