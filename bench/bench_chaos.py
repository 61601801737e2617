"""Bench: chaos (issue 14's fault matrix, the long versions of tests/reliability).

Everything in the Procfile runs (web, the default worker, `cfg.workers` dispatchers,
the simulator's worker, beat) on a private redis-server this bench may kill, never the
shared one. For each fault: a fresh campaign of BENCH_CHAOS_MESSAGES to the 11 bench
senders is committed; when ~30 % of it has reached the simulator the fault is injected;
a process that was killed is started again after RESTART_DELAY seconds, as a restarting
process manager would. Then the bench waits until the campaign is completed and nothing
is queued, scheduled or sending, and for the receipts to settle (no change for
SETTLE_SECONDS).

Faults: kill -9 of a dispatcher's main process (its pool children are orphaned);
kill -9 of one dispatcher pool process; Redis restarted (kill -9, no persistence: every
queue and counter gone; down REDIS_DOWN seconds); PostgreSQL dropping every connection
of the bench database (pg_terminate_backend, twice, PG_GAP apart: the shared server is
never restarted); the webhook receiver (web) down for RECEIVER_DOWN seconds.

Per fault it prints:
- lost: messages that never reached the simulator yet did not end failed/canceled, or
  that it accepted without us recording its id;
- duplicated: extra sends of the campaign in the simulator's log (the same recipient
  twice) plus sends under a key that is no message's;
- outage: the longest stretch with no send accepted, from the fault to the end of the
  campaign (for the receiver: from its going down to the first webhook stored after);
- receipts missing: messages left plain `sent` (no final receipt) when they settled.
Targets: 0 lost and 0 duplicated for every fault.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from django.db import connection

from . import fixtures, system
from .bench_end20k import WAITING
from .config import BenchConfig
from .procs import Proc, ProcessManager, port_in_use
from .report import BenchResult, Target

FAULTS = ["dispatcher main", "pool process", "redis restart", "postgres drop", "receiver down"]
RESTART_DELAY = 1.0  # what a restarting process manager waits before starting it again
REDIS_DOWN = 5.0
RECEIVER_DOWN = 30.0
PG_GAP = 3.0
AT_SHARE = 0.3  # inject when this share of the campaign reached the simulator
# Receipts unchanged this long: settled. Longer than the two 60 s recoveries a receipt
# may wait for: a simulator step whose pump failed comes back when its in-flight lease
# ends (lifecycle.LEASE_MS), a parked webhook event is retried every minute.
SETTLE_SECONDS = 75


class PrivateRedis:
    """A redis-server (no persistence) on its own port, ours to kill -9 and restart."""

    def __init__(self, log_dir: Path):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log_dir / "redis.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not port_in_use(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def kill9(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pool_children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _accepted() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM providers_simulatormessage")
        n = cursor.fetchone()[0]
    connection.close()
    return n


def _campaign_state(campaign_id: int) -> tuple[str, int, int]:
    """(campaign status, messages waiting, messages plain `sent`)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM texting_campaign WHERE id = %s", [campaign_id])
        status = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status = ANY(%s)),"
            " count(*) FILTER (WHERE status = 'sent' AND error_reason <> 'delivery unconfirmed')"
            " FROM texting_message WHERE campaign_id = %s",
            [list(WAITING), campaign_id],
        )
        waiting, plain_sent = cursor.fetchone()
    connection.close()
    return status, waiting, plain_sent


def _figures(campaign_id: int, fault_at: float, done_at: float) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              count(*) FILTER (WHERE s.id IS NULL AND m.status NOT IN ('failed', 'canceled')),
              count(*) FILTER (WHERE s.id IS NOT NULL AND m.provider_message_id IS NULL),
              count(*) FILTER (WHERE s.id IS NOT NULL
                               AND m.provider_message_id IS DISTINCT FROM s.id::text)
            FROM texting_message m
            LEFT JOIN providers_simulatormessage s ON s.idempotency_key = m.idempotency_key::text
            WHERE m.campaign_id = %s
            """,
            [campaign_id],
        )
        never_sent, _unrecorded, wrong_id = cursor.fetchone()
        # The campaign's sends per recipient (keyword replies, a STOP's confirmation, are
        # messages of their own to the same phones, not duplicates).
        cursor.execute(
            """
            SELECT coalesce(sum(n - 1), 0) FROM (
              SELECT count(*) AS n FROM providers_simulatormessage s
              JOIN texting_message m ON m.idempotency_key::text = s.idempotency_key
              WHERE m.campaign_id = %s GROUP BY s.to_number) per_recipient
            """,
            [campaign_id],
        )
        twice = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM providers_simulatormessage s WHERE NOT EXISTS ("
            " SELECT 1 FROM texting_message m WHERE m.idempotency_key::text = s.idempotency_key)"
        )
        unknown = cursor.fetchone()[0]
        cursor.execute(
            "SELECT extract(epoch FROM accepted_at) FROM providers_simulatormessage"
            " WHERE accepted_at >= to_timestamp(%s) ORDER BY accepted_at",
            [fault_at],
        )
        times = [fault_at] + [float(r[0]) for r in cursor.fetchall()]
        cursor.execute("SELECT count(*) FROM texting_message WHERE campaign_id = %s", [campaign_id])
        messages = cursor.fetchone()[0]
    connection.close()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return {
        "messages": messages,
        "lost": never_sent + wrong_id,  # wrong_id includes the unrecorded ones
        "duplicated": int(twice) + unknown,
        "outage_seconds": round(max(gaps, default=done_at - fault_at), 1),
    }


def _first_event_after(at: float) -> float | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM min(received_at)) FROM providers_webhookevent"
            " WHERE received_at > to_timestamp(%s)",
            [at],
        )
        value = cursor.fetchone()[0]
    connection.close()
    return None if value is None else float(value)


class Run:
    """One fault on one campaign: the processes, and restarting what was killed."""

    def __init__(self, cfg: BenchConfig, manager: ProcessManager, redis: PrivateRedis):
        self.cfg, self.manager, self.redis = cfg, manager, redis
        self.orphan_groups: list[int] = []

    def restart(self, proc: Proc, *, keep_group: bool = False) -> Proc:
        """Start `proc`'s command again (a restarting process manager), after a delay."""
        if keep_group:
            self.orphan_groups.append(proc.pgid)
        self.manager.procs.remove(proc)
        time.sleep(RESTART_DELAY)
        new = self.manager.start(proc.name, list(proc.popen.args))
        # Generous: on a loaded 2-core machine a Celery worker has taken 2 minutes to boot.
        if proc.name == "web":
            self.manager.wait_for_port(new, self.cfg.port, timeout=300)
        else:
            self.manager.wait_for_log(new, " ready.", timeout=300)
        return new

    def named(self, prefix: str) -> Proc:
        return next(p for p in self.manager.procs if p.name.startswith(prefix))

    def inject(self, fault: str) -> None:
        if fault == "dispatcher main":
            proc = self.named("dispatcher")
            os.kill(proc.popen.pid, signal.SIGKILL)  # the main process only
            proc.popen.wait(timeout=10)
            self.restart(proc, keep_group=True)
        elif fault == "pool process":
            proc = self.named("dispatcher")
            os.kill(random.choice(_pool_children(proc.popen.pid)), signal.SIGKILL)
        elif fault == "redis restart":
            self.redis.kill9()
            time.sleep(REDIS_DOWN)
            self.redis.start()
        elif fault == "postgres drop":
            for i in range(2):
                if i:
                    time.sleep(PG_GAP)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                connection.close()
        elif fault == "receiver down":
            proc = self.named("web")
            self.manager._signal_group(proc.pgid, signal.SIGKILL)
            proc.popen.wait(timeout=10)
            time.sleep(RECEIVER_DOWN - RESTART_DELAY)
            self.restart(proc)
        else:
            raise ValueError(fault)

    def end_orphans(self) -> None:
        for pgid in self.orphan_groups:
            self.manager._signal_group(pgid, signal.SIGKILL)


def one_fault(fault: str, cfg: BenchConfig, manager: ProcessManager, redis: PrivateRedis) -> dict:
    from texting.commit import campaign_commit

    n = cfg.chaos_messages
    redis.kill9()
    redis.start()  # empty
    _account, user, campaign, _numbers = fixtures.fresh_campaign(f"Chaos: {fault}", n)
    connection.close()
    procs = system.start(cfg, manager, web=True, simulator=True)
    run = Run(cfg, manager, redis)
    try:
        t0 = time.time()
        campaign_commit(campaign=campaign, actor=user)
        connection.close()
        while _accepted() < n * AT_SHARE:
            if time.time() - t0 > cfg.end_timeout:
                raise RuntimeError(f"chaos ({fault}): nothing sent")
            time.sleep(0.2)
        fault_at = time.time()
        run.inject(fault)
        injected_at = time.time()
        done_at = None
        settled_at, last_plain = None, None
        while time.time() - t0 < cfg.end_timeout:
            status, waiting, plain_sent = _campaign_state(campaign.pk)
            now = time.time()
            if done_at is None and status == "completed" and not waiting:
                done_at = now
            if done_at is not None:
                if plain_sent != last_plain:
                    last_plain, settled_at = plain_sent, now
                elif plain_sent == 0 or now - settled_at > SETTLE_SECONDS:
                    break
            time.sleep(0.5)
        alive = {p.name: p.alive() for p in manager.procs}
    finally:
        run.end_orphans()
        system.stop(manager, list(manager.procs))
    row = {
        "fault": fault,
        "completed": done_at is not None,
        "seconds": round((done_at or time.time()) - t0, 1),
        "fault_seconds": round(injected_at - fault_at, 1),
        **_figures(campaign.pk, fault_at, done_at or time.time()),
        "receipts_missing": _campaign_state(campaign.pk)[2],
        "processes_alive": all(alive.values()),
    }
    if fault == "receiver down":
        first = _first_event_after(fault_at + RECEIVER_DOWN - RESTART_DELAY)
        row["outage_seconds"] = None if first is None else round(first - fault_at, 1)
    del procs
    return row


def run(cfg: BenchConfig, manager: ProcessManager) -> BenchResult:
    result = BenchResult("chaos")
    log_dir = Path(cfg.log_dir) / "chaos"
    log_dir.mkdir(parents=True, exist_ok=True)
    redis = PrivateRedis(log_dir)
    chaos = ProcessManager(log_dir=log_dir, env={**manager.env, "REDIS_URL": redis.url})
    rows = []
    try:
        for fault in FAULTS:
            print(f"  -- {fault}", flush=True)
            row = one_fault(fault, cfg, chaos, redis)
            rows.append(row)
            print(
                f"     {row['messages']:,} messages: lost {row['lost']}, duplicated "
                f"{row['duplicated']}, outage {row['outage_seconds']} s, receipts missing "
                f"{row['receipts_missing']}, completed in {row['seconds']} s"
                f"{'' if row['completed'] else ' (TIMED OUT)'}",
                flush=True,
            )
    finally:
        chaos.stop_all()
        redis.kill9()
    print(f"  {'fault':<18} {'lost':>5} {'dup':>5} {'outage s':>9} {'receipts missing':>17}")
    for row in rows:
        print(
            f"  {row['fault']:<18} {row['lost']:>5} {row['duplicated']:>5}"
            f" {row['outage_seconds']!s:>9} {row['receipts_missing']:>17}"
        )
    ok = all(r["completed"] and r["lost"] == 0 and r["duplicated"] == 0 for r in rows)
    result.figures = {
        "chaos_ok": ok,
        "chaos_lost": sum(r["lost"] for r in rows),
        "chaos_duplicated": sum(r["duplicated"] for r in rows),
    }
    result.details = {"faults": rows, "messages_per_fault": cfg.chaos_messages}
    result.targets = [
        Target("chaos: every fault, 0 lost and 0 duplicated", "chaos_ok", ok, "==", True),
    ]
    with contextlib.suppress(Exception):
        connection.close()
    return result
