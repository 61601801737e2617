"""Bench: the eligibility audit (GET .../audit/) of a 100k-recipient audience.

Setup (not timed): 100k contacts with a realistic consent mix (most opted in; some
with no consent, pending double opt-in, opted out), 2,000 phones on the account's DNC
list, and 30,000 earlier outbound campaign messages to the audience so the exclusions
over message history (frequency caps, recently messaged) have rows to read. The
campaign excludes anyone messaged in the last 48 hours.

Timed: `texting.audience.campaign_audit(campaign=...)`, what the API view calls, from a
fresh connection; median of `commit_runs` runs. Checked: the audit adds up (total is
the audience size, eligible + excluded = total) and the eligible count is exactly what
a commit of the same campaign then queues.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection

from . import fixtures
from .config import BenchConfig
from .report import BenchResult, Target

_MIX = """
UPDATE contacts_contact SET sms_status = CASE
    WHEN id %% 20 = 0 THEN 'opted_out'
    WHEN id %% 20 IN (1, 2) THEN 'none'
    WHEN id %% 20 = 3 THEN 'pending'
    ELSE 'opted_in' END
WHERE account_id = %(account)s
"""
_DNC = """
INSERT INTO compliance_dncentry (account_id, phone, reason, note, created_at)
SELECT %(account)s, phone, 'manual', 'bench', now() FROM contacts_contact
WHERE account_id = %(account)s AND id %% 50 = 7
"""
# Earlier sends: one message to 30% of the audience, spread over the last 6 days.
_HISTORY = """
INSERT INTO texting_message (
    account_id, campaign_id, contact_id, direction, from_number, to_number, body, segments,
    encoding, status, send_after, attempts, idempotency_key, error_code, error_reason,
    created_at, sent_at)
SELECT c.account_id, %(campaign)s, c.id, 'outbound', %(sender)s, c.phone, 'Earlier', 1,
       'GSM-7', 'delivered', now() - (c.id %% 144) * interval '1 hour', 1, gen_random_uuid(),
       '', '', now() - (c.id %% 144) * interval '1 hour', now() - (c.id %% 144) * interval '1 hour'
FROM contacts_contact c
WHERE c.account_id = %(account)s AND c.id %% 10 IN (4, 5, 6)
"""


def run(cfg: BenchConfig, _manager) -> BenchResult:
    from texting.audience import campaign_audit
    from texting.commit import campaign_commit

    result = BenchResult("audit")
    fixtures.wipe()
    account, user = fixtures.make_account()
    senders = list(fixtures.make_senders(account).values())
    t = time.perf_counter()
    low, high = fixtures.make_contacts(account, cfg.commit_rows)
    contact_ids = list(range(low, high + 1))
    earlier = fixtures.make_campaign(
        account, user, name="Earlier send", senders=senders, contact_ids=[]
    )
    with connection.cursor() as cursor:
        cursor.execute(_MIX, {"account": account.pk})
        cursor.execute(_DNC, {"account": account.pk})
        cursor.execute(
            _HISTORY,
            {"account": account.pk, "campaign": earlier.pk, "sender": senders[0].e164},
        )
        history = cursor.rowcount
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE texting_message")
        cursor.execute("ANALYZE compliance_dncentry")
    campaign = fixtures.make_campaign(
        account, user, name="Audited", senders=senders, contact_ids=contact_ids
    )
    campaign.exclusions = {"messaged_within_hours": 48}
    campaign.save(update_fields=["exclusions"])
    print(
        f"  setup: {cfg.commit_rows:,} contacts, {history:,} earlier messages, DNC list"
        f" in {time.perf_counter() - t:.1f} s"
    )

    runs, audit = [], None
    for i in range(cfg.commit_runs):
        connection.close()  # a fresh connection, as a request would have
        t = time.perf_counter()
        audit = campaign_audit(campaign=campaign)
        seconds = time.perf_counter() - t
        runs.append(round(seconds, 3))
        print(
            f"  run {i + 1}: {seconds:.2f} s; total {audit.total:,}, eligible {audit.eligible:,},"
            f" excluded {audit.excluded}"
        )
    median = statistics.median(runs)
    adds_up = audit.total == cfg.commit_rows == audit.eligible + sum(audit.excluded.values())
    # The promise: what the audit calls eligible is what the commit queues.
    queued = campaign_commit(campaign=campaign, actor=user).inserted
    print(f"  commit of the same campaign queued {queued:,}")
    result.figures = {
        "audit_100k_seconds": round(median, 3),
        "audit_adds_up": adds_up,
        "audit_matches_commit": queued == audit.eligible,
    }
    result.details = {
        "runs": runs,
        "eligible": audit.eligible,
        "excluded": audit.excluded,
        "earlier_messages": history,
        "queued_by_commit": queued,
    }
    result.targets = [
        Target(
            f"audit {cfg.commit_rows:,} recipients (median of {len(runs)})",
            "audit_100k_seconds",
            round(median, 3),
            "<=",
            2.0,
            " s",
        ),
        Target("audit: total = eligible + excluded", "audit_adds_up", adds_up, "==", True),
        Target(
            "audit: eligible = what the commit queues",
            "audit_matches_commit",
            queued == audit.eligible,
            "==",
            True,
        ),
    ]
    return result
