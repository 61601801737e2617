"""The carrier simulator behaves like the network: idempotent sends, MPS it enforces and
logs, outcomes with real Telnyx codes, Telnyx-shaped events."""

import time
import uuid

import pytest
from django.utils import timezone

from providers.base import PermanentError, RateLimitedError, SendRequest, parse_telnyx_event
from providers.encoding import segment_count
from providers.models import SimulatorMessage, SimulatorNumber
from providers.registry import get_provider
from providers.simulator import events, services
from providers.simulator.adapter import SimulatorProvider
from providers.simulator.behaviour import decide_fate
from providers.simulator.selectors import violations
from providers.simulator.throughput import take_segments

pytestmark = pytest.mark.django_db

SIM = SimulatorProvider()


def request(
    sender: str,
    to: str = "+15035550100",
    text: str = "Hi from the campaign",
    key: str | None = None,
):
    return SendRequest(from_=sender, to=to, text=text, idempotency_key=key or str(uuid.uuid4()))


def test_the_default_provider_is_the_simulator():
    assert get_provider().name == "simulator"
    assert get_provider() is get_provider()


# --- idempotency ------------------------------------------------------------------------
def test_the_same_idempotency_key_twice_is_one_send_with_the_same_id(
    mps_windows, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as first_callbacks:
        first = SIM.send(request("+19715550201", key="msg-1"))
    with django_capture_on_commit_callbacks() as second_callbacks:
        second = SIM.send(request("+19715550201", key="msg-1"))
    assert second.provider_message_id == first.provider_message_id
    assert SimulatorMessage.objects.count() == 1
    assert len(first_callbacks) == 1  # the lifecycle task
    assert second_callbacks == []  # a replay emits no new events
    assert mps_windows.zcard("sim:mps:+19715550201") == 1  # nor uses throughput


# --- throughput -------------------------------------------------------------------------
def test_sends_paced_within_mps_log_no_violation(mps_windows):
    started = timezone.now()
    for _ in range(10):  # 10 MPS long code, 10 one-segment messages over ~1.2 s
        SIM.send(request("+19715550202"))
        time.sleep(0.12)
    assert violations(since=started).count() == 0
    assert SimulatorMessage.objects.filter(from_number="+19715550202").count() == 10


def test_a_burst_above_mps_is_refused_and_logged(mps_windows):
    for _ in range(10):
        SIM.send(request("+19715550203"))
    with pytest.raises(RateLimitedError) as refused:
        SIM.send(request("+19715550203"))
    assert refused.value.code == "10011"
    assert refused.value.retry_after == 1.0
    violation = violations(from_number="+19715550203").get()
    assert (violation.count_in_window, violation.limit) == (11, 10)
    assert SimulatorMessage.objects.filter(from_number="+19715550203").count() == 10
    # Another sender has its own window.
    SIM.send(request("+19715550204"))


def test_multi_segment_messages_count_as_several(mps_windows):
    three_parts = "x" * 400
    assert segment_count(three_parts) == (3, "GSM-7")
    for _ in range(3):
        SIM.send(request("+19715550205", text=three_parts))  # 9 segments
    with pytest.raises(RateLimitedError):
        SIM.send(request("+19715550205", text=three_parts))  # 12 > 10
    assert violations(from_number="+19715550205").get().count_in_window == 12
    SIM.send(request("+19715550205", text="one more"))  # 10: still fits


def test_the_window_slides(mps_windows):
    for _ in range(10):
        SIM.send(request("+19715550206"))
    time.sleep(1.05)
    SIM.send(request("+19715550206"))
    assert violations(from_number="+19715550206").count() == 0


@pytest.mark.parametrize(
    "sender, kind, mps",
    [("+18335550207", "toll_free", 20), ("55501", "short", 100)],
    ids=["toll-free-20", "short-code-100"],
)
def test_unknown_senders_get_the_default_mps_for_their_kind(mps_windows, sender, kind, mps):
    assert services.sender_mps(sender) == (kind, mps)
    # The window holds exactly that many segments (Redis only, so a loaded machine
    # cannot stretch the burst past one second).
    for i in range(mps):
        assert take_segments(sender=sender, mps=mps, parts=1, nonce=f"n{i}")[0]
    assert not take_segments(sender=sender, mps=mps, parts=1, nonce="over")[0]


def test_numbers_the_simulator_provisioned_use_their_own_mps(mps_windows):
    SIM.order_number("+19715550208")
    SimulatorNumber.objects.filter(e164="+19715550208").update(mps=2)
    SIM.send(request("+19715550208"))
    SIM.send(request("+19715550208"))
    with pytest.raises(RateLimitedError):
        SIM.send(request("+19715550208"))


# --- outcomes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "to, outcome, code, reply",
    [
        ("+12025550100", "delivered", "", ""),
        ("+12025550101", "delivery_failed", "40008", ""),
        ("+12025550102", "delivery_failed", "40001", ""),
        ("+12025550103", "delivery_failed", "40012", ""),
        ("+12025550104", "delivery_unconfirmed", "", ""),
        ("+12025550105", "delivered", "", "reply"),
        ("+12025550106", "delivered", "", "stop"),
    ],
)
def test_reserved_recipients_force_an_outcome(mps_windows, to, outcome, code, reply):
    result = SIM.send(request("+19715550209", to=to))
    msg = SimulatorMessage.objects.get(pk=result.provider_message_id)
    assert (msg.outcome, msg.error_code, msg.reply) == (outcome, code, reply)


@pytest.mark.parametrize("to, code", [("+12025550110", "40300"), ("+12025550111", "40310")])
def test_reserved_recipients_rejected_at_the_api(mps_windows, to, code):
    with pytest.raises(PermanentError) as rejected:
        SIM.send(request("+19715550210", to=to))
    assert rejected.value.code == code
    assert SimulatorMessage.objects.count() == 0


def test_outcomes_follow_the_ratios_and_are_reproducible(settings):
    settings.SIMULATOR_DELIVERED_RATIO, settings.SIMULATOR_FAILED_RATIO = 0.5, 0.3
    settings.SIMULATOR_REPLY_RATE, settings.SIMULATOR_STOP_RATE = 0.2, 0.05
    fates = [decide_fate(to="+15035550100", idempotency_key=f"k{i}") for i in range(2000)]
    share = {o: sum(f.outcome == o for f in fates) / 2000 for o in ("delivered", "delivery_failed")}
    assert 0.45 < share["delivered"] < 0.55 and 0.25 < share["delivery_failed"] < 0.35
    assert {f.error_code for f in fates if f.outcome == "delivery_failed"} == {
        "40008",
        "40001",
        "40012",
    }
    replied = [f for f in fates if f.reply]
    assert 0.1 < len(replied) / 2000 < 0.2  # replies only to messages that were not failed
    assert any(f.reply == "stop" for f in replied)
    assert fates == [decide_fate(to="+15035550100", idempotency_key=f"k{i}") for i in range(2000)]


def test_all_delivered_when_configured(settings):
    settings.SIMULATOR_DELIVERED_RATIO, settings.SIMULATOR_FAILED_RATIO = 1.0, 0.0
    settings.SIMULATOR_REPLY_RATE = settings.SIMULATOR_STOP_RATE = 0.0
    fates = {decide_fate(to="+15035550100", idempotency_key=str(i)) for i in range(200)}
    assert {(f.outcome, f.reply) for f in fates} == {("delivered", "")}


# --- events -----------------------------------------------------------------------------
def test_lifecycle_events_are_shaped_like_telnyx(mps_windows):
    result = SIM.send(request("+19715550211", to="+12025550101", text="Vote Tuesday ✅"))
    msg = SimulatorMessage.objects.get(pk=result.provider_message_id)
    assert (result.parts, result.encoding) == (1, "UCS-2")
    sent, finalized = events.message_sent(msg), events.message_finalized(msg)
    for envelope in (sent, finalized):
        assert set(envelope) == {"data", "meta"}
        assert set(envelope["data"]) == {
            "event_type",
            "id",
            "occurred_at",
            "record_type",
            "payload",
        }
        assert envelope["data"]["record_type"] == "event"
        assert envelope["meta"]["attempt"] == 1
        assert envelope["data"]["payload"]["cost"] == {"amount": "0.0070", "currency": "USD"}
    assert events.message_sent(msg)["data"]["id"] == sent["data"]["id"]  # stable: re-runs dedupe
    parsed = parse_telnyx_event(finalized)
    assert parsed.event_type == "message.finalized"
    assert parsed.message_id == result.provider_message_id
    assert (parsed.status, parsed.direction, parsed.parts) == ("delivery_failed", "outbound", 1)
    assert (parsed.from_number, parsed.to_number) == ("+19715550211", "+12025550101")
    assert parsed.errors == [
        {
            "code": "40008",
            "title": "Undeliverable",
            "detail": "The message was rejected by the recipient carrier.",
        }
    ]
    assert str(parsed.cost) == "0.0070"
    assert parse_telnyx_event(sent).status == "sent" and parse_telnyx_event(sent).errors == []


@pytest.mark.parametrize(
    "text, parts, encoding",
    [
        ("", 1, "GSM-7"),
        ("a" * 160, 1, "GSM-7"),
        ("a" * 161, 2, "GSM-7"),
        ("[" * 80, 1, "GSM-7"),  # extended characters count twice
        ("[" * 81, 2, "GSM-7"),
        ("é" * 160, 1, "GSM-7"),
        ("✅" * 70, 1, "UCS-2"),
        ("✅" * 71, 2, "UCS-2"),
        ("😀" * 35, 1, "UCS-2"),  # astral: two UTF-16 units each
        ("a" * 1530, 10, "GSM-7"),
    ],
)
def test_segment_count(text, parts, encoding):
    assert segment_count(text) == (parts, encoding)


# --- numbers and registration -----------------------------------------------------------
def test_search_fabricates_plausible_numbers_for_the_area():
    found = SIM.search_numbers(kind="long", state="OR", limit=5)
    assert len(found) == 5 and len({n.e164 for n in found}) == 5
    assert all(n.e164[2:5] in ("503", "971", "541") and n.state == "OR" for n in found)
    by_area = SIM.search_numbers(kind="long", area_code="312", limit=3)
    assert all(n.e164.startswith("+1312") and n.state == "IL" for n in by_area)
    toll_free = SIM.search_numbers(kind="toll_free", limit=3)
    assert all(n.e164[2:5] in ("833", "844", "855", "866", "877", "888") for n in toll_free)


def test_an_ordered_number_is_registered_with_mps_by_kind_and_leaves_the_inventory():
    first = SIM.search_numbers(kind="toll_free", limit=1)[0]
    ordered = SIM.order_number(first.e164)
    assert (ordered.kind, ordered.status, int(ordered.mps)) == ("toll_free", "active", 20)
    assert SimulatorNumber.objects.filter(e164=first.e164, kind="toll_free").exists()
    assert first.e164 not in {n.e164 for n in SIM.search_numbers(kind="toll_free", limit=1)}


def test_registrations_are_approved_after_a_few_seconds(settings):
    settings.SIMULATOR_REGISTRATION_SECONDS = 0.3
    brand = SIM.create_brand(display_name="Alpha for Oregon", email="ops@example.org")
    campaign = SIM.create_campaign_registration(
        brand_id=brand.id, usecase="POLITICAL", description="GOTV"
    )
    assignment = SIM.assign_number_to_campaign(campaign_id=campaign.id, e164="+19715550212")
    assert (brand.status, campaign.status, assignment.status) == ("pending", "pending", "pending")
    time.sleep(0.35)
    for kind, reg_id in (
        ("brand", brand.id),
        ("campaign", campaign.id),
        ("number", "+19715550212"),
    ):
        assert SIM.registration_status(kind=kind, registration_id=reg_id).status == "approved"


def test_a_brand_named_reject_is_rejected_with_a_reason_and_so_are_its_campaigns(settings):
    settings.SIMULATOR_REGISTRATION_SECONDS = 0
    brand = SIM.create_brand(display_name="Please REJECT me", email="ops@example.org")
    campaign = SIM.create_campaign_registration(
        brand_id=brand.id, usecase="POLITICAL", description="x"
    )
    status = SIM.registration_status(kind="brand", registration_id=brand.id)
    assert status.status == "rejected" and "could not be verified" in status.reason
    assert (
        SIM.registration_status(kind="campaign", registration_id=campaign.id).status == "rejected"
    )


def test_a_campaign_for_an_unknown_brand_is_refused():
    with pytest.raises(PermanentError):
        SIM.create_campaign_registration(brand_id="nope", usecase="POLITICAL", description="x")


@pytest.mark.parametrize(
    ("mps", "burst", "window_s"),
    [(1.5, 2, 4 / 3), (0.5, 1, 2.0), (2, 2, 1.0)],
    ids=["1.5-mps", "0.5-mps", "2-mps"],
)
def test_fractional_rates_are_honoured_not_rounded_down(mps_windows, mps, burst, window_s):
    from providers.simulator.throughput import take_segments

    sender = f"+1971555{int(mps * 100):04d}"
    results = [
        take_segments(sender=sender, mps=mps, parts=1, nonce=f"n{i}")[0] for i in range(burst + 1)
    ]
    assert results == [True] * burst + [False]
    time.sleep(window_s + 0.05)
    assert take_segments(sender=sender, mps=mps, parts=1, nonce="later")[0]


def test_a_sender_without_throughput_is_refused(mps_windows):
    from providers.simulator.throughput import take_segments

    with pytest.raises(ValueError, match="no throughput"):
        take_segments(sender="+19715550999", mps=0, parts=1, nonce="x")
