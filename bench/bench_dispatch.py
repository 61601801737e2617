"""Bench 2: dispatch on the carrier simulator, measured from the simulator's send log.

Senders: 10 long codes at 10 MPS and one short code at 100 MPS (200 MPS in all);
PhoneNumber.mps equals what the simulator enforces (checked). SIMULATOR_LATENCY_MS=100.
System, from the Procfile: `cfg.workers` instances (distinct -n) of the dispatcher entry
(`celery -A config worker -Q dispatch`), one `default` worker, and `celery beat`, which
kicks texting.tasks.dispatch_tick every second. No simulator worker and no web server
run: the lifecycle tasks (message.sent/finalized, replies) the simulator enqueues on
every accept wait unprocessed in the bench's Redis db and are flushed afterwards, so the
box does dispatch work only.

run_backlog ("dispatch"): one campaign per sender, each committed with enough messages
that its sender never runs dry (1.6x what the window needs). The window starts `warmup`
seconds after the first accepted send and lasts `seconds`. Per number: segments accepted
in the window / (mps x seconds); aggregate: all segments / (200 x seconds). Violations:
SimulatorViolation rows (the simulator's own check, on Redis time) over the whole run,
plus our own recount of the most segments any sender had in a sliding 1 s window of the
send log (accepted_at).

run_paced ("latency"): same system, but each sender's messages are due at exactly
`paced_fraction` (95%) of its MPS: committed, then, in the same transaction,
send_after = t0 + k / (0.95 x mps) for the sender's k-th message. So a message is due at
max(send_after, campaign.committed_at) and the limiter always has a token for it then;
due-to-call measures the dispatcher's reaction time. The provider call time is the
simulator's accepted_at: it stamps a request when it arrives, before sleeping the API
latency (an older adapter slept first; then accepted_at - SIMULATOR_LATENCY_MS is used,
see `call_offset`). accepted_at is the moment send() was entered (the request's arrival at
the carrier), the same moment the simulator's window counts it.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from datetime import datetime

from django.db import connection, transaction

from . import fixtures, system
from .config import LONG_CODES, LONG_MPS, SHORT_CODE, SHORT_MPS, BenchConfig
from .procs import ProcessManager
from .report import BenchResult, Target
from .stats import fmt, max_in_sliding_window, summary

ALL_MPS = {**{n: LONG_MPS for n in LONG_CODES}, SHORT_CODE: SHORT_MPS}
ALLOWED_TOTAL = sum(ALL_MPS.values())


# --- setup ----------------------------------------------------------------------------
def _setup(per_sender: dict[str, int]):
    """Account, senders, contacts and one draft campaign per sender (exact counts)."""
    fixtures.wipe()
    account, user = fixtures.make_account()
    numbers = fixtures.make_senders(account)
    low, _high = fixtures.make_contacts(account, sum(per_sender.values()))
    campaigns, next_id = [], low
    for e164, count in per_sender.items():
        ids = list(range(next_id, next_id + count))
        next_id += count
        campaigns.append(
            fixtures.make_campaign(
                account, user, name=f"Bench {e164}", senders=[numbers[e164]], contact_ids=ids
            )
        )
    connection.close()
    return user, campaigns


def _commit_all(campaigns, user, *, paced_fraction: float | None = None, lead: float = 3.0):
    """Commit every campaign in one transaction; paced: respace send_after per sender."""
    from texting.commit import campaign_commit

    with transaction.atomic():
        for campaign in campaigns:
            campaign_commit(campaign=campaign, actor=user)
        t0 = None
        if paced_fraction is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp() + make_interval(secs => %s)", [lead])
                t0 = cursor.fetchone()[0]
                cursor.execute(
                    """
                    UPDATE texting_message m
                    SET send_after = %(t0)s
                        + make_interval(secs => (r.k - 1) / (%(fraction)s * p.mps))
                    FROM (SELECT id, from_number,
                                 row_number() OVER (PARTITION BY from_number ORDER BY id) AS k
                          FROM texting_message WHERE status = 'queued') r
                    JOIN numbers_phonenumber p ON p.e164 = r.from_number
                    WHERE m.id = r.id
                    """,
                    {"t0": t0, "fraction": paced_fraction},
                )
    connection.close()
    return t0


def _wait_first_send(manager: ProcessManager, timeout: float = 60) -> datetime:
    from providers.models import SimulatorMessage

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        manager.check_alive()
        first = SimulatorMessage.objects.order_by("accepted_at").values_list(
            "accepted_at", flat=True
        )[:1]
        if first:
            return first[0]
        time.sleep(0.1)
    raise RuntimeError(f"no send reached the simulator within {timeout:.0f} s of the commit")


def _run_until(
    manager: ProcessManager, until: float, *, cpu: system.CpuMeter, window, peak: dict
) -> None:
    """Sleep until wall time `until`, checking the children, marking the CPU window and
    printing progress every 10 s; `peak` gets the most PostgreSQL connections seen."""
    from providers.models import SimulatorMessage

    start_mark, end_mark = window
    last_print, last_count, last_t = time.time(), 0, time.time()
    last_sample = 0.0
    while (now := time.time()) < until:
        manager.check_alive()
        if now - last_sample >= 1.0:
            ours, server = fixtures.db_connections()
            peak["bench"], peak["server"] = max(peak["bench"], ours), max(peak["server"], server)
            last_sample = now
        if cpu._start is None and now >= start_mark:
            cpu.mark_start()
        if cpu.children_cores is None and cpu._start is not None and now >= end_mark:
            cpu.mark_end()
        if now - last_print >= 10:
            count = SimulatorMessage.objects.count()
            rate = (count - last_count) / (now - last_t)
            print(f"    {count:,} accepted so far, {rate:,.0f}/s over the last 10 s", flush=True)
            last_print, last_count, last_t = now, count, now
        time.sleep(min(0.2, max(0.0, until - now)))
    if cpu.children_cores is None:
        cpu.mark_end()


# --- analysis -------------------------------------------------------------------------
def _send_log() -> dict[str, list[tuple[float, int]]]:
    """{sender: [(accepted_at epoch seconds, parts)]} sorted by time."""
    from providers.models import SimulatorMessage

    log: dict[str, list[tuple[float, int]]] = defaultdict(list)
    rows = SimulatorMessage.objects.order_by("accepted_at").values_list(
        "from_number", "accepted_at", "parts"
    )
    for sender, at, parts in rows.iterator(chunk_size=5000):
        log[sender].append((at.timestamp(), parts))
    return log


def _conformance(log, start: float, end: float, seconds: float) -> tuple[dict, dict]:
    """Per-sender rates in [start, end) and sliding-window maxima (whole run and window)."""
    from providers.models import SimulatorViolation

    violations: dict[str, list[float]] = defaultdict(list)
    for sender, at in SimulatorViolation.objects.values_list("from_number", "at"):
        violations[sender].append(at.timestamp())
    per_sender, total_segments = {}, 0
    for sender, mps in ALL_MPS.items():
        entries = log.get(sender, [])
        times = [t for t, _ in entries]
        parts = [p for _, p in entries]
        in_window = [(t, p) for t, p in entries if start <= t < end]
        segments = sum(p for _, p in in_window)
        total_segments += segments
        run_max, run_max_at = max_in_sliding_window(times, parts)
        win_max, _ = max_in_sliding_window([t for t, _ in in_window], [p for _, p in in_window])
        gaps = [b[0] - a[0] for a, b in zip(in_window, in_window[1:], strict=False)]
        per_sender[sender] = {
            "mps": mps,
            "segments_in_window": segments,
            "achieved_mps": round(segments / seconds, 2),
            "ratio": round(segments / (mps * seconds), 3),
            "max_segments_any_1s_window_run": run_max,
            "max_segments_any_1s_window_measured": win_max,
            "max_window_at": run_max_at,
            "violations_run": len(violations.get(sender, [])),
            "violations_in_window": sum(1 for t in violations.get(sender, []) if start <= t < end),
            "gap_ms": summary(gaps, scale=1000),
        }
    timeline = [0] * max(1, int(seconds))
    for entries in log.values():
        for t, p in entries:
            if start <= t < end:
                timeline[min(len(timeline) - 1, int(t - start))] += p
    totals = {
        "segments_in_window": total_segments,
        "achieved_mps": round(total_segments / seconds, 2),
        "ratio": round(total_segments / (ALLOWED_TOTAL * seconds), 3),
        "violations_run": sum(len(v) for v in violations.values()),
        "violations_in_window": sum(v["violations_in_window"] for v in per_sender.values()),
        "senders_over_limit_in_log": [
            s for s, v in per_sender.items() if v["max_segments_any_1s_window_run"] > v["mps"]
        ],
        "per_second_segments": timeline,
    }
    return per_sender, totals


def _message_states() -> dict:
    from django.db.models import Count

    from texting.models import Message

    by_status = dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT error_code, count(*) FROM texting_message WHERE error_code <> '' "
            "GROUP BY error_code"
        )
        errors = dict(cursor.fetchall())
        cursor.execute("SELECT max(attempts), avg(attempts) FROM texting_message")
        max_attempts, avg_attempts = cursor.fetchone()
    return {
        "by_status": by_status,
        "error_codes": errors,
        "max_attempts": max_attempts,
        "avg_attempts": round(float(avg_attempts or 0), 3),
    }


def _print_senders(per_sender: dict) -> None:
    print(
        f"    {'sender':>14} {'mps':>5} {'achieved':>9} {'ratio':>6} {'max/1s':>7}"
        f" {'viol':>5} {'gap p50':>8} {'gap max':>8}"
    )
    for sender, v in per_sender.items():
        print(
            f"    {sender:>14} {v['mps']:>5} {v['achieved_mps']:>9.2f} {v['ratio']:>6.3f}"
            f" {v['max_segments_any_1s_window_run']:>7} {v['violations_run']:>5}"
            f" {fmt(v['gap_ms']['p50'], ' ms', 0):>8} {fmt(v['gap_ms']['max'], ' ms', 0):>8}"
        )


# --- the two runs ---------------------------------------------------------------------
def run_backlog(cfg: BenchConfig, manager: ProcessManager) -> BenchResult:
    result = BenchResult("dispatch")
    need = cfg.warmup + cfg.seconds
    per_sender = {s: math.ceil(mps * need * 1.6) + 20 for s, mps in ALL_MPS.items()}
    user, campaigns = _setup(per_sender)
    print(
        f"  backlog: {sum(per_sender.values()):,} messages "
        f"({per_sender[LONG_CODES[0]]:,} per long code, {per_sender[SHORT_CODE]:,} on the "
        f"short code), window {cfg.seconds:.0f} s after {cfg.warmup:.0f} s warm-up"
    )
    procs = system.start(cfg, manager)
    _commit_all(campaigns, user)
    first = _wait_first_send(manager).timestamp()
    start, end = first + cfg.warmup, first + cfg.warmup + cfg.seconds
    cpu = system.CpuMeter(manager)
    peak = {"bench": 0, "server": 0}
    _run_until(manager, end + 1.0, cpu=cpu, window=(start, end), peak=peak)
    queued_left = _queued_left()
    system.stop(manager, procs)

    log = _send_log()
    per_sender, totals = _conformance(log, start, end, cfg.seconds)
    states = _message_states()
    _print_senders(per_sender)
    ran_dry = [s for s, left in queued_left.items() if left == 0]
    ratio = totals["ratio"]
    print(
        f"  aggregate: {totals['achieved_mps']:.1f} of {ALLOWED_TOTAL} MPS allowed "
        f"= {ratio:.3f}; simulator violations {totals['violations_run']} "
        f"(in window {totals['violations_in_window']}); worker CPU "
        f"{fmt(cpu.children_cores)} cores ("
        f"{fmt(_cpu_per_message(cpu, totals['achieved_mps']), ' ms', 1)} per send), machine "
        f"{fmt(cpu.machine_cores)} of 2; peak PostgreSQL connections {peak['bench']} "
        f"(server {peak['server']})"
    )
    if ran_dry:
        print(f"  WARNING: {', '.join(ran_dry)} ran out of queued messages: ratio understated")
    if totals["senders_over_limit_in_log"]:
        print(
            "  note: the send log shows more than the MPS in some sliding 1 s window for "
            f"{', '.join(totals['senders_over_limit_in_log'])} (the recount uses the wall "
            "clock, the simulator's own window too; see violations for its verdict)"
        )
    result.figures = {
        "dispatch_ratio": ratio,
        "dispatch_achieved_mps": totals["achieved_mps"],
        "dispatch_allowed_mps": ALLOWED_TOTAL,
        "dispatch_violations": totals["violations_run"],
        "dispatch_min_sender_ratio": min(v["ratio"] for v in per_sender.values()),
        "dispatch_max_segments_per_1s_over_limit": len(totals["senders_over_limit_in_log"]),
        "dispatch_worker_cpu_cores": cpu.children_cores,
        # CPU the bench's processes spent per accepted send. The simulator runs inside
        # the dispatcher's send() (the provider call), so its own work is included.
        "dispatch_cpu_ms_per_message": _cpu_per_message(cpu, totals["achieved_mps"]),
    }
    result.details = {
        "window": {"start": start, "end": end, "seconds": cfg.seconds, "warmup": cfg.warmup},
        "per_sender": per_sender,
        "totals": totals,
        "messages": states,
        "queued_left_at_stop": queued_left,
        "ran_dry": ran_dry,
        "cpu": {"children_cores": cpu.children_cores, "machine_cores": cpu.machine_cores},
        "db_connections_peak": peak,
        "system": f"{cfg.workers} x {system.dispatch_entry()} + worker + beat (Procfile)",
    }
    result.targets = [
        Target(
            f"dispatch achieved/allowed over {cfg.seconds:.0f} s with backlog",
            "dispatch_ratio",
            ratio if not ran_dry else None,
            ">=",
            0.95,
        ),
        Target(
            "dispatch: zero simulator violations (any sender, any 1 s window)",
            "dispatch_violations",
            totals["violations_run"],
            "==",
            0,
        ),
    ]
    return result


def _cpu_per_message(cpu: system.CpuMeter, rate: float) -> float | None:
    if not cpu.children_cores or not rate:
        return None
    return round(cpu.children_cores / rate * 1000, 2)


def call_offset(cfg: BenchConfig) -> float:
    """Seconds between the provider call and the simulator's accepted_at: 0 when the
    adapter accepts on arrival and sleeps the latency afterwards (current), the latency
    when it sleeps first (the adapter before the dispatcher rewrite)."""
    import inspect

    from providers.simulator.adapter import SimulatorProvider

    source = inspect.getsource(SimulatorProvider.send)
    sleeps_first = 0 <= source.find("time.sleep") < source.find("message_accept")
    return cfg.latency_ms / 1000 if sleeps_first else 0.0


def _queued_left() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT from_number, count(*) FROM texting_message WHERE status = 'queued' "
            "GROUP BY from_number"
        )
        left = dict(cursor.fetchall())
    return {s: left.get(s, 0) for s in ALL_MPS}


def run_paced(cfg: BenchConfig, manager: ProcessManager) -> BenchResult:
    result = BenchResult("latency")
    fraction = cfg.paced_fraction
    span = cfg.warmup + cfg.paced_seconds
    per_sender = {s: math.ceil(fraction * mps * span) + 1 for s, mps in ALL_MPS.items()}
    user, campaigns = _setup(per_sender)
    offered = fraction * ALLOWED_TOTAL
    print(
        f"  paced: {sum(per_sender.values()):,} messages due at {fraction:.0%} of each "
        f"sender's MPS ({offered:.0f}/s in all) for {span:.0f} s; measured after "
        f"{cfg.warmup:.0f} s"
    )
    procs = system.start(cfg, manager)
    t0 = _commit_all(campaigns, user, paced_fraction=fraction).timestamp()
    start, end = t0 + cfg.warmup, t0 + span
    cpu = system.CpuMeter(manager)
    peak = {"bench": 0, "server": 0}
    _run_until(manager, end + 3.0, cpu=cpu, window=(start, end), peak=peak)
    # Sends after this moment do not count (a stopping worker may finish its drain loop).
    cutoff = time.time()
    system.stop(manager, procs)

    latency = call_offset(cfg)
    with connection.cursor() as cursor:
        cursor.execute(
            # Due = the moment the respacing gave the message, recomputed the same way
            # (a requeued row's send_after moves later: it must not hide its wait).
            """
            WITH due AS (
                SELECT m.id, m.from_number, m.idempotency_key, extract(epoch FROM greatest(
                           to_timestamp(%(t0)s)
                           + make_interval(secs => (r.k - 1) / (%(fraction)s * p.mps)),
                           c.committed_at)) AS due
                FROM (SELECT id, row_number() OVER (PARTITION BY from_number ORDER BY id) AS k
                      FROM texting_message) r
                JOIN texting_message m ON m.id = r.id
                JOIN texting_campaign c ON c.id = m.campaign_id
                JOIN numbers_phonenumber p ON p.e164 = m.from_number
            )
            SELECT d.from_number, d.due, extract(epoch FROM s.accepted_at)
            FROM due d
            LEFT JOIN providers_simulatormessage s ON s.idempotency_key = d.idempotency_key::text
            WHERE d.due >= %(start)s AND d.due < %(end)s
            """,
            {"t0": t0, "fraction": fraction, "start": start, "end": end},
        )
        rows = cursor.fetchall()
    delays, missed, by_sender = [], 0, defaultdict(list)
    for sender, due, accepted in rows:
        if accepted is None or float(accepted) > cutoff:
            missed += 1
            delay = cutoff - float(due)  # still waiting at the cutoff: a lower bound
        else:
            delay = float(accepted) - latency - float(due)
        delays.append(delay)
        by_sender[sender].append(delay)
    overall = summary(delays, scale=1000)
    log = _send_log()
    per_sender, totals = _conformance(log, start, end, cfg.paced_seconds)
    print(
        f"  due -> provider call: p50 {fmt(overall['p50'], ' ms', 0)}, p90 "
        f"{fmt(overall['p90'], ' ms', 0)}, p99 {fmt(overall['p99'], ' ms', 0)}, max "
        f"{fmt(overall['max'], ' ms', 0)} over {overall['count']:,} messages "
        f"({missed} not sent 3 s after the window, counted with their wait so far)"
    )
    print(
        f"  achieved {totals['achieved_mps']:.1f}/s of {offered:.0f}/s offered; simulator "
        f"violations {totals['violations_run']}; worker CPU {fmt(cpu.children_cores)} cores, "
        f"machine {fmt(cpu.machine_cores)} of 2; peak PostgreSQL connections {peak['bench']}"
        f" (server {peak['server']})"
    )
    sender_latency = {s: summary(v, scale=1000) for s, v in sorted(by_sender.items())}
    for sender, s in sender_latency.items():
        print(
            f"    {sender:>14}: p50 {fmt(s['p50'], ' ms', 0):>8}  p99 {fmt(s['p99'], ' ms', 0):>8}"
            f"  max {fmt(s['max'], ' ms', 0):>8}  n={s['count']}"
        )
    result.figures = {
        "due_to_call_p50_ms": overall["p50"],
        "due_to_call_p99_ms": overall["p99"],
        "due_to_call_max_ms": overall["max"],
        "due_to_call_missed": missed,
        "paced_achieved_mps": totals["achieved_mps"],
        "paced_offered_mps": offered,
        "paced_violations": totals["violations_run"],
        "paced_worker_cpu_cores": cpu.children_cores,
        "paced_cpu_ms_per_message": _cpu_per_message(cpu, totals["achieved_mps"]),
    }
    result.details = {
        "definition": (
            "due = max(send_after, campaign.committed_at) with send_after pre-spaced at "
            f"{fraction:.0%} of each sender's MPS; call = simulator accepted_at - "
            f"{latency * 1000:.0f} ms; messages unsent at the end count with their wait so far"
        ),
        "window": {"start": start, "end": end, "t0": t0},
        "overall_ms": overall,
        "per_sender_ms": sender_latency,
        "per_sender_rates": per_sender,
        "totals": totals,
        "messages": _message_states(),
        "cpu": {"children_cores": cpu.children_cores, "machine_cores": cpu.machine_cores},
        "db_connections_peak": peak,
    }
    result.targets = [
        Target(
            f"due message -> provider call p99 at {offered:.0f} MPS offered",
            "due_to_call_p99_ms",
            overall["p99"],
            "<=",
            250,
            " ms",
        ),
        Target(
            "paced run: zero simulator violations",
            "paced_violations",
            totals["violations_run"],
            "==",
            0,
        ),
    ]
    return result
