"""Per-number health: delivery receipts and STOPs counted per sending number (Redis,
hourly buckets, 24 h), shown in the Compose tab's sender picker. Receipts and STOPs come
in through the real webhook path."""

import datetime
import uuid

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from providers.services import webhook_event_process, webhook_event_store
from tests.conftest import redis_keys_cleared
from tests.factories import make_contact, make_number
from tests.inbound import text_in
from tests.providers.conftest import receipts_for
from texting import sender_health
from texting.models import Campaign, Message, MessageStatus

pytestmark = pytest.mark.django_db

OURS, OTHER = "+19715550301", "+19715550302"


@pytest.fixture(autouse=True)
def _no_counts():
    yield from redis_keys_cleared("sender-health:*")


def sent_message(account, contact, *, sender: str = OURS) -> str:
    provider_id = str(uuid.uuid4())
    Message.objects.create(
        account=account,
        contact=contact,
        from_number=sender,
        to_number=contact.phone,
        body="Hi",
        status=MessageStatus.SENDING,
        send_after=timezone.now(),
        provider_message_id=provider_id,
    )
    return provider_id


def receive(provider_id: str, *, sender: str = OURS, outcome: str = "delivered") -> None:
    for envelope in receipts_for(provider_id, from_number=sender, outcome=outcome):
        webhook_event_process(event_pk=webhook_event_store(envelope=envelope))


def send_and_receive(account, outcomes: list[str], *, sender: str = OURS) -> None:
    for i, outcome in enumerate(outcomes):
        contact = make_contact(account, f"+1312555{i + 1000:04d}")
        receive(sent_message(account, contact, sender=sender), sender=sender, outcome=outcome)


def test_receipts_count_once_per_transition_for_their_sending_number(
    account, django_capture_on_commit_callbacks
):
    make_number(account, OURS)
    ana = make_contact(account, "+13125550311")
    with django_capture_on_commit_callbacks(execute=True):
        delivered = sent_message(account, ana)
        receive(delivered)
        receive(delivered)  # the provider sends them again: nothing moves, nothing counts
        receive(sent_message(account, ana, sender=OTHER), sender=OTHER, outcome="delivery_failed")
    health = sender_health.sender_health([OURS, OTHER, "+19715550399"])
    assert (health[OURS].delivered, health[OURS].failed) == (1, 0)
    assert (health[OTHER].delivered, health[OTHER].failed) == (0, 1)
    assert health["+19715550399"].finalized == 0


def test_a_stop_counts_an_opt_out_on_the_number_it_was_sent_to(
    account, django_capture_on_commit_callbacks
):
    make_number(account, OURS)
    ana = make_contact(account, "+13125550312")
    with django_capture_on_commit_callbacks(execute=True):
        text_in(ana.phone, OURS, "STOP")
        text_in(ana.phone, OURS, "stop")  # already out: no second count
    assert sender_health.sender_health([OURS])[OURS].opted_out == 1


def test_counts_older_than_a_day_fall_out_of_the_window(account):
    client = redis.Redis.from_url(settings.REDIS_URL)
    now = timezone.now()
    for hours_ago, n in ((1, 5), (23, 7), (25, 100)):
        bucket = (now - datetime.timedelta(hours=hours_ago)).strftime("%Y%m%d%H")
        client.hset(f"sender-health:{OURS}:{bucket}", "delivered", n)
    assert sender_health.sender_health([OURS], now=now)[OURS].delivered == 12


@pytest.mark.parametrize(
    ("delivered", "failed", "opted_out", "state"),
    [
        (10, 0, 0, "quiet"),  # too few receipts to judge
        (95, 5, 0, "ok"),
        (85, 15, 0, "warning"),  # delivery under 90%
        (100, 0, 3, "warning"),  # opt-outs over 2%
    ],
)
def test_state(delivered, failed, opted_out, state):
    health = sender_health.SenderHealth(delivered=delivered, failed=failed, opted_out=opted_out)
    assert health.state == state


def test_the_sender_picker_shows_each_numbers_health(
    account, admin_user, client, django_capture_on_commit_callbacks
):
    ours = make_number(account, OURS)
    other = make_number(account, OTHER)
    quiet = make_number(account, "+19715550303")
    with django_capture_on_commit_callbacks(execute=True):
        send_and_receive(account, ["delivered"] * 19 + ["delivery_failed"])
        send_and_receive(account, ["delivered"] * 15 + ["delivery_failed"] * 5, sender=OTHER)
    draft = Campaign.objects.create(account=account, name="GOTV", body="Polls close at 8pm")
    client.force_login(admin_user)
    html = client.get(f"/campaigns/{draft.pk}/compose/").content.decode()

    def cell(number) -> str:
        row = html[html.index(f'<tr data-sender="{number.pk}"') :]
        return row[row.index("<td data-health=") : row.index("</td>", row.index("data-health"))]

    assert 'data-health="ok"' in cell(ours) and "95% delivered · 0 opt-outs" in cell(ours)
    assert 'data-health="warning"' in cell(other) and "75% delivered" in cell(other)
    assert 'data-health="quiet"' in cell(quiet) and "too few to judge" in cell(quiet)
