"""Bench 4: a 20k-message campaign from commit to the last receipt, on the whole system.

Everything in the Procfile runs: web (uvicorn, the simulator posts its signed webhooks to
it), the `default` worker (applies them), `cfg.workers` dispatcher instances, the
simulator's worker (lifecycle: message.sent, message.finalized after 500 ms, replies and
STOPs) and beat. One campaign, 20k opted-in recipients, all 11 senders (the commit
spreads them by hash), committed "send now" through texting.commit.campaign_commit.

Finished when the campaign is `completed` and every message is in a final state:
delivered, failed, canceled, or sent with "delivery unconfirmed" (the simulator's third
outcome). Checks (all must hold for end_20k_ok):
- the status counts sum to the recipients (no row lost or added);
- the campaign is completed and nothing is queued, scheduled, sending or plain `sent`;
- every message that reached the simulator did so once, and its final status is what
  the simulator decided for it (delivered -> delivered, delivery_failed -> failed,
  delivery_unconfirmed -> sent/unconfirmed);
- no webhook event is left unprocessed; no simulator violation.
"""

from __future__ import annotations

import time

from django.db import connection

from . import fixtures, system
from .config import LONG_CODES, SHORT_CODE, BenchConfig
from .procs import ProcessManager
from .report import BenchResult, Target
from .stats import fmt, summary

FINAL = ("delivered", "failed", "canceled")
WAITING = ("queued", "scheduled", "sending")


def _snapshot(campaign_id: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT status, (status = 'sent' AND error_reason = 'delivery unconfirmed'), count(*)
            FROM texting_message WHERE campaign_id = %s GROUP BY 1, 2
            """,
            [campaign_id],
        )
        counts: dict[str, int] = {}
        for status, unconfirmed, n in cursor.fetchall():
            key = "sent_unconfirmed" if unconfirmed else status
            counts[key] = counts.get(key, 0) + n
        cursor.execute("SELECT status FROM texting_campaign WHERE id = %s", [campaign_id])
        campaign_status = cursor.fetchone()[0]
        cursor.execute("SELECT status, count(*) FROM providers_webhookevent GROUP BY status")
        events = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE reply <> '') FROM providers_simulatormessage"
        )
        accepted, replies = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM providers_webhookevent WHERE event_type = 'message.received'"
        )
        inbound = cursor.fetchone()[0]
    connection.close()
    return {
        "simulator_queue": _queue_length("simulator"),
        "campaign": campaign_status,
        "messages": counts,
        "events": events,
        "accepted": accepted,
        "replies_drawn": replies,
        "replies_arrived": inbound,
    }


def _queue_length(queue: str) -> int:
    """Celery messages waiting in a queue (Redis list; ETA tasks a worker already holds
    are not counted)."""
    import redis
    from django.conf import settings

    return int(redis.Redis.from_url(settings.REDIS_URL).llen(queue))


def _all_final(snap: dict) -> bool:
    """The campaign is completed and every message is in a final state."""
    messages = snap["messages"]
    return snap["campaign"] == "completed" and all(
        k in FINAL or k == "sent_unconfirmed" for k, n in messages.items() if n
    )


def _drained(snap: dict) -> bool:
    """Nothing left in flight: no event waiting to be applied or parked, and every reply
    the simulator drew has arrived as a message.received event."""
    events = snap["events"]
    return (
        not events.get("received")
        and not events.get("parked")
        and snap["replies_arrived"] >= snap["replies_drawn"]
    )


def _consistency(campaign_id: int) -> dict:
    """Per message: did it reach the simulator once, and does its status match the fate
    the simulator drew for it?"""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              count(*) FILTER (WHERE s.id IS NOT NULL) AS reached,
              count(*) FILTER (WHERE s.id IS NOT NULL AND m.provider_message_id IS NULL)
                AS accepted_but_no_provider_id,
              count(*) FILTER (WHERE s.id IS NOT NULL AND NOT (
                   (s.outcome = 'delivered' AND m.status = 'delivered')
                OR (s.outcome = 'delivery_failed' AND m.status = 'failed')
                OR (s.outcome = 'delivery_unconfirmed' AND m.status = 'sent'
                    AND m.error_reason = 'delivery unconfirmed'))) AS status_mismatch,
              count(*) FILTER (WHERE s.id IS NULL AND m.status NOT IN ('failed', 'canceled'))
                AS never_sent_not_ended,
              count(*) FILTER (WHERE s.outcome = 'delivered') AS sim_delivered,
              count(*) FILTER (WHERE s.outcome = 'delivery_failed') AS sim_failed,
              count(*) FILTER (WHERE s.outcome = 'delivery_unconfirmed') AS sim_unconfirmed,
              count(*) FILTER (WHERE s.reply = 'reply') AS sim_replies,
              count(*) FILTER (WHERE s.reply = 'stop') AS sim_stops
            FROM texting_message m
            LEFT JOIN providers_simulatormessage s ON s.idempotency_key = m.idempotency_key::text
            WHERE m.campaign_id = %s
            """,
            [campaign_id],
        )
        names = [c.name for c in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
        cursor.execute(
            "SELECT count(*) FROM providers_simulatormessage s WHERE NOT EXISTS ("
            " SELECT 1 FROM texting_message m WHERE m.idempotency_key::text = s.idempotency_key)"
        )
        row["accepted_unknown_to_us"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM providers_simulatorviolation")
        row["violations"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM texting_message WHERE direction = 'inbound'")
        row["inbound_messages"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM providers_webhookevent WHERE event_type = 'message.received'"
        )
        row["inbound_events"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM contacts_contact WHERE sms_status = 'opted_out'")
        row["opted_out_contacts"] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT from_number, count(*) FROM texting_message WHERE campaign_id = %s "
            "GROUP BY from_number",
            [campaign_id],
        )
        row["per_sender"] = dict(cursor.fetchall())
    return row


def _receipt_lags() -> dict:
    """How long the simulator's events took: occurred_at (when the simulator built the
    event) -> received_at (stored by the webhook view) -> processed_at (applied)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM received_at - occurred_at),"
            " extract(epoch FROM processed_at - occurred_at),"
            " (payload -> 'meta' ->> 'attempt')::int"
            " FROM providers_webhookevent WHERE occurred_at IS NOT NULL"
        )
        rows = cursor.fetchall()
    return {
        "stored_ms": summary([float(r[0]) for r in rows], scale=1000, digits=0),
        "processed_ms": summary(
            [float(r[1]) for r in rows if r[1] is not None], scale=1000, digits=0
        ),
        "max_attempt": max((r[2] or 1 for r in rows), default=None),
    }


def run(cfg: BenchConfig, manager: ProcessManager) -> BenchResult:
    from texting.commit import campaign_commit

    result = BenchResult("end20k")
    n = cfg.end_messages
    _account, user, campaign, numbers = fixtures.fresh_campaign("End to end", n)
    connection.close()
    procs = system.start(cfg, manager, web=True, simulator=True)
    t0 = time.time()
    outcome = campaign_commit(campaign=campaign, actor=user)
    commit_seconds = time.time() - t0
    connection.close()
    print(f"  committed {outcome.inserted:,} messages in {commit_seconds:.1f} s")

    completed_at = final_at = drained_at = None
    last_print = 0.0
    snap: dict = {}
    cpu = system.CpuMeter(manager)
    cpu.mark_start()
    peak = [0, 0]  # connections: ours, whole server
    while time.time() - t0 < cfg.end_timeout:
        manager.check_alive()
        peak = [max(a, b) for a, b in zip(peak, fixtures.db_connections(), strict=True)]
        snap = _snapshot(campaign.pk)
        now = time.time()
        if completed_at is None and snap["campaign"] == "completed":
            completed_at = now
        if final_at is None and _all_final(snap):
            final_at = now
        if final_at is not None and _drained(snap):
            drained_at = now
            break
        if now - last_print >= 15:
            print(
                f"    {now - t0:5.0f} s: campaign {snap['campaign']}, accepted "
                f"{snap['accepted']:,}, messages {snap['messages']}, events {snap['events']}, "
                f"simulator queue {snap['simulator_queue']:,}",
                flush=True,
            )
            last_print = now
        time.sleep(1.0)
    cpu.mark_end()
    timed_out = drained_at is None
    end_queue = _queue_length("simulator")
    system.stop(manager, procs)

    snap = _snapshot(campaign.pk)
    check = _consistency(campaign.pk)
    counts = snap["messages"]
    total = sum(counts.values())
    stuck = sum(counts.get(s, 0) for s in WAITING)
    not_final = counts.get("sent", 0)
    unprocessed_events = snap["events"].get("received", 0) + snap["events"].get("parked", 0)
    per_sender = check.pop("per_sender")
    mps = {s.e164: float(s.mps) for s in numbers.values()}
    ideal = max(count / mps[s] for s, count in per_sender.items())
    checks = {
        "status counts sum to recipients": total == n,
        "campaign completed": snap["campaign"] == "completed",
        "nothing queued/scheduled/sending": stuck == 0,
        "no message left in plain sent (receipt missing)": not_final == 0,
        "each message reached the simulator at most once, none unknown": (
            check["accepted_unknown_to_us"] == 0 and check["accepted_but_no_provider_id"] == 0
        ),
        "final status matches the simulator's fate": check["status_mismatch"] == 0
        and check["never_sent_not_ended"] == 0,
        "no webhook event left unprocessed or parked": unprocessed_events == 0,
        "no webhook event failed": not snap["events"].get("failed"),
        "every reply the simulator drew arrived": snap["replies_arrived"] >= snap["replies_drawn"],
        "no simulator violation": check["violations"] == 0,
    }
    ok = all(checks.values()) and not timed_out

    def since(at: float | None) -> float | None:
        return None if at is None else round(at - t0, 1)

    lags = _receipt_lags()
    print(
        f"  {'finished' if not timed_out else 'TIMED OUT'}: campaign completed at "
        f"{fmt(since(completed_at), ' s', 0)}, every message final at "
        f"{fmt(since(final_at), ' s', 0)}, all events and replies in at "
        f"{fmt(since(drained_at), ' s', 0)} (ideal send time {ideal:.0f} s = the busiest "
        "sender's share / its MPS)"
    )
    print(
        f"  provider event -> stored p50 {fmt(lags['stored_ms']['p50'], ' ms', 0)}, p99 "
        f"{fmt(lags['stored_ms']['p99'], ' ms', 0)}; -> processed p50 "
        f"{fmt(lags['processed_ms']['p50'], ' ms', 0)}, p99 "
        f"{fmt(lags['processed_ms']['p99'], ' ms', 0)}; worst webhook attempt "
        f"{lags['max_attempt']}"
    )
    print(
        f"  messages {counts}; events {snap['events']}; simulator tasks still queued {end_queue:,}"
    )
    print(
        f"  simulator: {check['reached']:,} accepted, {check['sim_delivered']:,} delivered / "
        f"{check['sim_failed']:,} failed / {check['sim_unconfirmed']:,} unconfirmed, "
        f"{check['sim_replies']} replies + {check['sim_stops']} STOPs; inbound events "
        f"{check['inbound_events']}, opted-out contacts {check['opted_out_contacts']}"
    )
    print(
        f"  peak PostgreSQL connections: {peak[0]} from the bench's processes, {peak[1]} on "
        f"the server (max_connections {fixtures.max_connections()})"
    )
    for name, passed in checks.items():
        print(f"    {'ok ' if passed else 'NO '} {name}")
    result.figures = {
        "end_20k_ok": ok,
        # commit -> every message final (None: not within BENCH_END_TIMEOUT)
        "end_20k_seconds": since(final_at),
        "end_20k_timed_out": timed_out,
        "end_20k_timeout_seconds": cfg.end_timeout,
        "end_20k_completed_seconds": since(completed_at),
        "end_20k_drained_seconds": since(drained_at),
        "end_20k_ideal_seconds": round(ideal, 1),
        "end_20k_messages": n,
    }
    result.details = {
        "checks": checks,
        "timed_out": timed_out,
        "commit_seconds": round(commit_seconds, 2),
        "message_counts": counts,
        "event_states": snap["events"],
        "simulator_tasks_queued_at_end": end_queue,
        "event_lags": lags,
        "replies": {"drawn": snap["replies_drawn"], "arrived": snap["replies_arrived"]},
        "consistency": check,
        "per_sender_messages": per_sender,
        "long_codes": LONG_CODES,
        "short_code": SHORT_CODE,
        "cpu": {"children_cores": cpu.children_cores, "machine_cores": cpu.machine_cores},
        "db_connections_peak": {
            "bench": peak[0],
            "server": peak[1],
            "max_connections": fixtures.max_connections(),
        },
    }
    result.targets = [
        Target(
            f"end of a {n:,} campaign: every message final, counts = rows",
            "end_20k_ok",
            ok,
            "==",
            True,
        )
    ]
    return result
