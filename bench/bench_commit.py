"""Bench 1: commit a 100k-recipient audience with texting.commit.campaign_commit.

Setup (not timed): an account, 100k opted-in contacts by INSERT ... SELECT
generate_series (then ANALYZE), 11 senders, a draft campaign whose audience is the 100k
contact ids. Timed: the call `campaign_commit(campaign=..., actor=...)` ("send now"), the
whole transaction, from a fresh process-level connection. Repeated `commit_runs` times,
each on a fresh campaign after the previous run's messages are truncated; the figure is
the median.
"""

from __future__ import annotations

import resource
import statistics
import time

from django.db import connection

from . import fixtures
from .config import BenchConfig
from .report import BenchResult, Target

PERSONAL_BODY = (
    "Hi {first_name|there}! Polls are open 7am-8pm Tuesday: https://vote.example.org/where"
)


def run(cfg: BenchConfig, _manager) -> BenchResult:
    from texting.commit import campaign_commit
    from texting.models import Message, MessageStatus

    result = BenchResult("commit")
    fixtures.wipe()
    account, user = fixtures.make_account()
    senders = list(fixtures.make_senders(account).values())
    t = time.perf_counter()
    low, high = fixtures.make_contacts(account, cfg.commit_rows)
    setup_seconds = time.perf_counter() - t
    contact_ids = list(range(low, high + 1))
    print(f"  setup: {cfg.commit_rows:,} contacts in {setup_seconds:.1f} s")

    runs = []
    for i in range(cfg.commit_runs):
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE texting_message")
        campaign = fixtures.make_campaign(
            account, user, name=f"Commit run {i + 1}", senders=senders, contact_ids=contact_ids
        )
        connection.close()  # the timed call opens its own connection, like a request would
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        statements = _StatementTimer()
        t = time.perf_counter()
        with connection.execute_wrapper(statements):
            outcome = campaign_commit(campaign=campaign, actor=user)
        seconds = time.perf_counter() - t
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        queued = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count()
        runs.append(
            {
                "seconds": round(seconds, 3),
                "inserted": outcome.inserted,
                "queued_rows": queued,
                "campaign_status": outcome.campaign.status,
                "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
                # Where the time went: in the database (execute round trips, summed) or
                # in Python around them (building the statement, Django, transaction).
                "sql_seconds": round(statements.total, 3),
                "statements": statements.count,
                "slowest_statement_seconds": round(statements.slowest, 3),
                "slowest_statement_chars": statements.slowest_chars,
            }
        )
        print(
            f"  run {i + 1}: {seconds:.2f} s, {outcome.inserted:,} rows "
            f"({outcome.inserted / seconds:,.0f} rows/s), campaign {outcome.campaign.status}; "
            f"{statements.count} statements, {statements.total:.2f} s in the database "
            f"(slowest {statements.slowest:.2f} s, {statements.slowest_chars:,} chars of SQL)"
        )

    # The same audience with a merge field and a link: the body is rendered and the
    # link shortened per recipient inside the same INSERT (issue 5).
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE texting_message")
    personal = fixtures.make_campaign(
        account, user, name="Commit, personalised", senders=senders, contact_ids=contact_ids
    )
    personal.body = PERSONAL_BODY
    personal.save(update_fields=["body"])
    connection.close()
    t = time.perf_counter()
    personal_outcome = campaign_commit(campaign=personal, actor=user)
    personal_seconds = time.perf_counter() - t
    print(
        f"  personalised (merge field + link): {personal_seconds:.2f} s,"
        f" {personal_outcome.inserted:,} rows"
    )

    median = statistics.median(r["seconds"] for r in runs)
    rows_ok = all(r["inserted"] == cfg.commit_rows == r["queued_rows"] for r in runs)
    result.figures = {
        "commit_100k_seconds": round(median, 3),
        "commit_100k_rows_per_second": round(cfg.commit_rows / median),
        "commit_rows": cfg.commit_rows,
        "commit_all_rows_queued": rows_ok,
        "commit_100k_personalised_seconds": round(personal_seconds, 3),
    }
    result.details = {
        "runs": runs,
        "contacts_setup_seconds": round(setup_seconds, 2),
        "senders": len(senders),
        "audience": "contact_ids (the only audience kind the product has for now)",
    }
    result.targets = [
        Target(
            f"commit {cfg.commit_rows:,} recipients (median of {len(runs)})",
            "commit_100k_seconds",
            round(median, 3),
            "<=",
            5.0,
            " s",
        ),
        Target("commit queues every recipient", "commit_all_rows_queued", rows_ok, "==", True),
        Target(
            f"commit {cfg.commit_rows:,} with a merge field and a link",
            "commit_100k_personalised_seconds",
            round(personal_seconds, 3),
            "<=",
            5.0,
            " s",
        ),
    ]
    return result


class _StatementTimer:
    """connection.execute_wrapper that sums the time spent in each statement."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.slowest = 0.0
        self.slowest_chars = 0

    def __call__(self, execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - t
            self.total += spent
            self.count += 1
            if spent > self.slowest:
                self.slowest, self.slowest_chars = spent, len(sql)
