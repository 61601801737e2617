"""texting.ratelimit.schedule: the dispatcher's look-ahead booking (real Redis)."""

import time
import uuid

import pytest
import redis
from django.conf import settings

from texting import ratelimit

MARGIN = 0.97


@pytest.fixture
def sender():
    name = f"sched-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(
        ratelimit.KEY_PREFIX + name, ratelimit.LOG_PREFIX + name, ratelimit.FLIGHT_PREFIX + name
    )


def book_all(sender: str, *, mps: float, segments: list[int], horizon: float = 100.0, **kw):
    """Book every message (a long horizon); returns each slot in seconds from the first,
    read back from the sender's window log (Redis time, exact)."""
    for i, n in enumerate(segments):
        booking = ratelimit.schedule(
            sender=sender, mps=mps, segments=n, nonce=str(i), horizon=horizon, margin=MARGIN, **kw
        )
        assert booking.booked
    client = redis.Redis.from_url(settings.REDIS_URL)
    scores = dict(client.zrange(ratelimit.LOG_PREFIX + sender, 0, -1, withscores=True))
    slots = [scores[f"{i}:{n}".encode()] / 1e6 for i, n in enumerate(segments)]
    return [slot - slots[0] for slot in slots]


def worst_window(slots: list[float], segments: list[int], width: float = 1.0) -> int:
    """Most segments whose slots fall in any half-open window (t - width, t]."""
    pairs = sorted(zip(slots, segments, strict=True))
    worst = 0
    for i, (end, _) in enumerate(pairs):
        worst = max(worst, sum(n for t, n in pairs[: i + 1] if t > end - width))
    return worst


def test_single_segments_are_spaced_at_the_rate_under_the_margin(sender):
    slots = book_all(sender, mps=10, segments=[1] * 30)
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert gaps == pytest.approx([1 / (10 * MARGIN)] * 29, abs=1e-5)
    assert worst_window(slots, [1] * 30) <= 10


def test_multi_segment_messages_never_overfill_the_carriers_window(sender):
    # A 2-segment message after a run of singles lands both segments at once: the slot
    # moves so that no sliding second holds more than the carrier's 10.
    segments = ([1] * 9 + [2]) * 4 + [3, 1, 3, 1]
    slots = book_all(sender, mps=10, segments=segments)
    assert worst_window(slots, segments) <= 10
    # ... and with a margin for jitter: the window holds up even 25 ms wider.
    assert worst_window(slots, segments, width=1.025) <= 10


def test_beyond_the_horizon_nothing_is_booked_and_the_wait_is_given(sender):
    first = ratelimit.schedule(sender=sender, mps=2, segments=1, nonce="a", horizon=0.2)
    assert first.booked and first.delay == pytest.approx(0, abs=0.01)
    second = ratelimit.schedule(sender=sender, mps=2, segments=1, nonce="b", horizon=0.2)
    assert not second.booked
    # The next slot is 1/(2*0.97) s after the first; asking again works 0.2 s before it.
    assert second.delay == pytest.approx(1 / (2 * 0.97) - 0.2, abs=0.02)


def test_a_campaign_throttle_slows_the_spacing(sender):
    slots = book_all(sender, mps=100, segments=[1] * 5, rate=2)
    assert slots[-1] == pytest.approx(4 / (2 * MARGIN), abs=1e-5)


def test_a_provider_penalty_pushes_the_next_slot(sender):
    ratelimit.penalize(sender=sender, seconds=0.5)
    booking = ratelimit.schedule(sender=sender, mps=10, segments=1, nonce="x", horizon=2)
    assert booking.booked and booking.delay == pytest.approx(0.5, abs=0.02)


def test_an_oversize_message_waits_for_an_empty_window(sender):
    slots = book_all(sender, mps=1, segments=[1, 3, 1])
    # 3 segments at 1 MPS: only into an empty window; the next waits its three intervals.
    assert slots[1] > 1.0
    assert slots[2] - slots[1] == pytest.approx(3 / MARGIN, abs=1e-5)


def test_a_call_is_refused_when_the_real_call_times_would_overfill_the_carriers_window(sender):
    # Ten calls went out back to back (late ones bunched up): the eleventh must wait
    # until the first leaves the window, whatever its booking said.
    for i in range(10):
        assert ratelimit.fire(sender=sender, nonce=f"n{i}", segments=1, mps=10, margin=MARGIN)
    assert not ratelimit.fire(sender=sender, nonce="late", segments=1, mps=10, margin=MARGIN)
    # A refused call leaves nothing behind: taking one back frees its place.
    ratelimit.unfire(sender=sender, nonce="n0", segments=1)
    assert ratelimit.fire(sender=sender, nonce="late", segments=1, mps=10, margin=MARGIN)


def test_a_call_counts_in_the_window_until_it_has_reached_the_carrier(sender):
    # A call checked more than a window ago that has not answered yet (its thread
    # stalled, its request is slow) may reach the carrier at any moment: nothing else
    # goes meanwhile, however old its check.
    window = ratelimit.fire_window(mps=1, margin=MARGIN)
    assert ratelimit.fire(sender=sender, nonce="slow", segments=1, mps=1, margin=MARGIN)
    time.sleep(window + 0.05)
    assert not ratelimit.fire(sender=sender, nonce="next", segments=1, mps=1, margin=MARGIN)
    # It reached the carrier just now: the next call waits a whole window from then,
    # not from when it was checked.
    client = redis.Redis.from_url(settings.REDIS_URL)
    seconds, micros = client.time()
    ratelimit.landed(
        sender=sender, nonce="slow", segments=1, mps=1, margin=MARGIN, at=seconds + micros / 1e6
    )
    refused = ratelimit.fire(sender=sender, nonce="next", segments=1, mps=1, margin=MARGIN)
    assert not refused
    assert window - 0.1 < refused.retry_after <= window


def test_the_fire_window_guards_the_carrier_but_tolerates_on_time_jitter():
    window = ratelimit.fire_window(mps=10, margin=MARGIN)
    spacing = 10 / (10 * MARGIN)  # ten booked slots span this (the booking window)
    assert 1.0 < window < spacing
    # ... and the carrier's own 1 s window plus a guard for fractional rates too.
    assert ratelimit.fire_window(mps=0.5, margin=MARGIN) > 2.0


def test_several_messages_are_booked_in_one_call_and_stop_at_the_horizon(sender):
    bookings = ratelimit.schedule_many(
        sender=sender,
        mps=10,
        messages=[(1, f"m{i}", None, 0.0) for i in range(5)],
        horizon=0.25,
        margin=MARGIN,
    )
    booked = [b for b in bookings if b.booked]
    # 0, 103, 206 ms fit a 250 ms horizon; the fourth says when to ask again.
    assert len(booked) == 3 and not bookings[-1].booked and len(bookings) == 4
    gaps = [b.delay - a.delay for a, b in zip(booked, booked[1:], strict=False)]
    assert gaps == pytest.approx([1 / (10 * MARGIN)] * 2, abs=2e-3)
    assert 0 < bookings[-1].delay <= 0.1


def test_a_message_not_due_yet_is_booked_no_earlier_than_it_is_due(sender):
    bookings = ratelimit.schedule_many(
        sender=sender,
        mps=10,
        messages=[(1, "now", None, 0.0), (1, "later", None, 0.25)],
        horizon=0.3,
        margin=MARGIN,
    )
    assert [b.booked for b in bookings] == [True, True]
    assert bookings[0].delay < 0.01
    assert bookings[1].delay == pytest.approx(0.25, abs=0.01)  # not at the 103 ms slot


def test_catch_up_lets_a_lagging_sender_go_early_but_never_past_the_window(sender):
    def book(n: int, catch_up: float) -> list[float]:
        return [
            b.delay
            for b in ratelimit.schedule_many(
                sender=sender,
                mps=10,
                messages=[(1, f"c{catch_up}-{i}", None, 0.0) for i in range(n)],
                horizon=100.0,
                margin=MARGIN,
                catch_up=catch_up,
            )
        ]

    strict = book(2, 0.0)
    assert strict[1] - strict[0] == pytest.approx(1 / (10 * MARGIN), abs=2e-3)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(ratelimit.KEY_PREFIX + sender, ratelimit.LOG_PREFIX + sender)
    # Up to 0.2 s ahead of the pace: the first three go at once...
    delays = book(30, 0.2)
    assert delays[2] < 0.01
    # ... and the carrier's window still holds over all of them.
    slots = sorted(delays)
    assert worst_window(slots, [1] * 30) <= 10
    assert worst_window(slots, [1] * 30, width=1.025) <= 10
