"""Bench 3: webhook ingest against the real ASGI server.

Server: the Procfile's `web` line (uvicorn config.asgi:application, one process) on the
bench's port, plus (BENCH_WEBHOOK_WORKER=1, the default) the Procfile's `default` worker
applying the stored events while the load runs, as in production.

Payloads: delivery receipts for outbound messages that exist (status `sent`, with a
provider id), built by the simulator's own event builders
(providers.simulator.events.message_sent / message_finalized) and signed by its own
transport code (providers.simulator.transport.signed_headers: Ed25519 over
"timestamp|body"), so the endpoint verifies them exactly as it verifies the simulator's.
Every event has a unique id; all are built and signed before the clock starts.

1. open loop at `webhook_rate` (500/s) for `webhook_seconds` (20 s): requests scheduled
   at a fixed rate on up to `webhook_connections` keep-alive connections; answer time
   measured from the scheduled moment (waiting for a connection counts): p50/p99/max.
2. closed loop for `webhook_saturation_seconds` (10 s) on the same connections: the
   ceiling in answered requests per second.
Then: every 2xx-answered event must be stored (one WebhookEvent row each), and with a
worker running, processed (status `processed`; the receipts moved their messages).
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import timedelta

from django.db import connection
from django.db.models import Count, Max, Min
from django.utils import timezone

from . import fixtures, httpload, system
from .config import BenchConfig
from .procs import ProcessManager
from .report import BenchResult, Target
from .stats import fmt, summary

PATH = "/webhooks/telnyx/"
DRAIN_TIMEOUT = 300  # seconds the worker gets, after the load, to apply what was stored
HOST = "127.0.0.1"


def _messages(account, count: int) -> list[tuple[str, str, str, int]]:
    """`count` outbound messages in status `sent`, each with a provider id. Returns
    (provider id, from, to, message id)."""
    from .config import LONG_CODES

    low, _high = fixtures.make_contacts(account, count)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO texting_message (
                account_id, contact_id, direction, from_number, to_number, body, segments,
                encoding, status, send_after, attempts, idempotency_key, provider_message_id,
                error_code, error_reason, created_at, sent_at)
            SELECT c.account_id, c.id, 'outbound', (%(senders)s::text[])[1 + c.id %% 10],
                   c.phone, %(body)s, 1, 'GSM-7', 'sent', now(), 1, gen_random_uuid(),
                   gen_random_uuid()::text, '', '', now(), now()
            FROM contacts_contact c WHERE c.account_id = %(account)s AND c.id >= %(low)s
            RETURNING provider_message_id, from_number, to_number, id
            """,
            {"senders": LONG_CODES, "body": fixtures.BODY, "account": account.pk, "low": low},
        )
        return cursor.fetchall()


def _signed_requests(messages, port: int) -> list[bytes]:
    """message.sent then message.finalized (delivered) for each message, as the
    simulator builds and signs them."""
    from providers.models import SimulatorMessage
    from providers.simulator import events
    from providers.simulator.transport import event_body, signed_headers

    now = timezone.now()
    out = []
    for provider_id, from_, to, _pk in messages:
        msg = SimulatorMessage(
            id=uuid.UUID(provider_id),
            idempotency_key=str(uuid.uuid4()),
            from_number=from_,
            to_number=to,
            text=fixtures.BODY,
            media_urls=[],
            parts=1,
            encoding="GSM-7",
            kind="long",
            accepted_at=now - timedelta(seconds=1),
            outcome="delivered",
        )
        for envelope in (events.message_sent(msg), events.message_finalized(msg)):
            body = event_body(envelope)
            out.append(httpload.build_request(HOST, port, PATH, body, signed_headers(body)))
    return out


def _event_states() -> dict[str, int]:
    from providers.models import WebhookEvent

    return dict(WebhookEvent.objects.values_list("status").annotate(n=Count("id")).order_by())


def run(cfg: BenchConfig, manager: ProcessManager) -> BenchResult:
    from providers.models import WebhookEvent, WebhookStatus

    result = BenchResult("webhooks")
    if cfg.webhook_seconds + cfg.webhook_saturation_seconds > 240:
        raise RuntimeError("webhook runs longer than 240 s would outlive their signatures")
    fixtures.wipe()
    account, _user = fixtures.make_account()
    fixtures.make_senders(account)
    # Enough unique events for the open loop and a generous ceiling in the closed loop.
    events_needed = cfg.webhook_rate * cfg.webhook_seconds + 4000 * cfg.webhook_saturation_seconds
    messages = _messages(account, math.ceil(events_needed / 2))
    t = time.perf_counter()
    requests = _signed_requests(messages, cfg.port)
    print(
        f"  {len(requests):,} signed events for {len(messages):,} messages built in "
        f"{time.perf_counter() - t:.1f} s"
    )
    connection.close()

    procs = system.start(
        cfg, manager, web=True, dispatchers=False, default_worker=cfg.webhook_worker, beat=False
    )
    stream = iter(requests)
    # A few requests to open the server's lazy paths (imports, first DB connection).
    warm = httpload.closed_loop(HOST, cfg.port, stream, seconds=1.0, conns=4)
    cpu = system.CpuMeter(manager)
    cpu.mark_start()
    paced = httpload.open_loop(
        HOST,
        cfg.port,
        stream,
        rate=cfg.webhook_rate,
        seconds=cfg.webhook_seconds,
        conns=cfg.webhook_connections,
    )
    cpu.mark_end()
    manager.check_alive()
    paced_lat = summary(paced.latencies, scale=1000)
    paced_rate = paced.ok / paced.duration if paced.duration else 0.0
    print(
        f"  open loop {cfg.webhook_rate:.0f}/s for {cfg.webhook_seconds:.0f} s: "
        f"{paced.ok:,}/{paced.sent:,} answered 2xx ({paced_rate:,.0f}/s), answer time p50 "
        f"{fmt(paced_lat['p50'], ' ms', 1)}, p99 {fmt(paced_lat['p99'], ' ms', 1)}, max "
        f"{fmt(paced_lat['max'], ' ms', 1)}; statuses {paced.statuses} errors {paced.errors}"
        f"; server+worker CPU {fmt(cpu.children_cores)} cores, machine "
        f"{fmt(cpu.machine_cores)} of 2"
    )
    sat_cpu = system.CpuMeter(manager)
    sat_cpu.mark_start()
    saturated = httpload.closed_loop(
        HOST,
        cfg.port,
        stream,
        seconds=cfg.webhook_saturation_seconds,
        conns=cfg.webhook_connections,
    )
    sat_cpu.mark_end()
    manager.check_alive()
    ceiling = saturated.ok / saturated.duration if saturated.duration else 0.0
    sat_lat = summary(saturated.latencies, scale=1000)
    exhausted = next(stream, None) is None
    print(
        f"  closed loop, {cfg.webhook_connections} connections, "
        f"{cfg.webhook_saturation_seconds:.0f} s: {ceiling:,.0f} answered/s, p50 "
        f"{fmt(sat_lat['p50'], ' ms', 1)}, p99 {fmt(sat_lat['p99'], ' ms', 1)}; statuses "
        f"{saturated.statuses} errors {saturated.errors}"
        + ("  (ran out of prepared events: ceiling understated)" if exhausted else "")
    )

    answered = warm.ok + paced.ok + saturated.ok
    stored = WebhookEvent.objects.count()
    # Let the worker finish what was stored (bounded), to check processing too.
    drain_seconds = None
    if cfg.webhook_worker:
        t = time.perf_counter()
        deadline = t + DRAIN_TIMEOUT
        while time.perf_counter() < deadline:
            manager.check_alive()
            if not WebhookEvent.objects.filter(status=WebhookStatus.RECEIVED).exists():
                break
            time.sleep(0.5)
        drain_seconds = round(time.perf_counter() - t, 1)
    states = _event_states()
    span = WebhookEvent.objects.aggregate(first=Min("received_at"), last=Max("processed_at"))
    processed = states.get(WebhookStatus.PROCESSED, 0)
    processing_rate = None
    if processed and span["first"] and span["last"]:
        processing_rate = round(processed / (span["last"] - span["first"]).total_seconds(), 1)
    system.stop(manager, procs)
    all_stored = stored == answered
    all_processed = (not cfg.webhook_worker) or processed == stored
    print(
        f"  stored {stored:,} of {answered:,} answered; event states {states}"
        + (
            f"; worker: {processing_rate} events/s end to end, "
            + (
                f"drained {drain_seconds} s after the load"
                if states.get(WebhookStatus.RECEIVED, 0) == 0
                else f"NOT drained {DRAIN_TIMEOUT} s after the load"
            )
            if cfg.webhook_worker
            else ""
        )
    )
    non_2xx = sum(n for s, n in paced.statuses.items() if not 200 <= s < 300) + sum(
        paced.errors.values()
    )
    result.figures = {
        "webhook_per_second": round(ceiling, 1),
        "webhook_p99_ms": paced_lat["p99"],
        "webhook_p50_ms": paced_lat["p50"],
        "webhook_max_ms": paced_lat["max"],
        "webhook_offered_per_second": cfg.webhook_rate,
        "webhook_paced_per_second": round(paced_rate, 1),
        "webhook_paced_non_2xx": non_2xx,
        "webhook_all_stored": all_stored,
        "webhook_all_processed": all_processed,
        "webhook_processing_per_second": processing_rate,
    }
    result.details = {
        "open_loop": {
            "rate": cfg.webhook_rate,
            "seconds": cfg.webhook_seconds,
            "connections": cfg.webhook_connections,
            "sent": paced.sent,
            "ok": paced.ok,
            "statuses": paced.statuses,
            "errors": paced.errors,
            "latency_ms": paced_lat,
            "schedule_behind_max_ms": round(paced.behind_max * 1000, 1),
            "cpu": {"children_cores": cpu.children_cores, "machine_cores": cpu.machine_cores},
        },
        "closed_loop": {
            "seconds": cfg.webhook_saturation_seconds,
            "connections": cfg.webhook_connections,
            "sent": saturated.sent,
            "ok": saturated.ok,
            "per_second": round(ceiling, 1),
            "statuses": saturated.statuses,
            "errors": saturated.errors,
            "latency_ms": sat_lat,
            "ran_out_of_events": exhausted,
            "cpu": {
                "children_cores": sat_cpu.children_cores,
                "machine_cores": sat_cpu.machine_cores,
            },
        },
        "stored": stored,
        "answered_2xx": answered,
        "event_states": states,
        "worker_running": cfg.webhook_worker,
        "drain_seconds_after_load": drain_seconds,
    }
    result.targets = [
        Target(
            "webhook ingest ceiling (closed loop)",
            "webhook_per_second",
            round(ceiling, 1),
            ">=",
            500,
            "/s",
        ),
        Target(
            f"webhook answer p99 at {cfg.webhook_rate:.0f}/s offered",
            "webhook_p99_ms",
            paced_lat["p99"] if non_2xx == 0 else None,
            "<=",
            250,
            " ms",
        ),
        Target("every answered webhook stored once", "webhook_all_stored", all_stored, "==", True),
    ]
    if cfg.webhook_worker:
        result.targets.append(
            Target(
                "every stored webhook processed",
                "webhook_all_processed",
                all_processed,
                "==",
                True,
            )
        )
    return result
