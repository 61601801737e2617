"""Bench: the conversations inbox at 50,000 open threads and 1,000,000 messages.

Setup (not timed), set-based (INSERT ... SELECT generate_series): 50,000 contacts, one
open conversation each across 10 of our numbers and 5 campaigns (a tenth assigned to a
field user, a tenth to the admin, a third unread), and 20 messages per thread: the 5
campaign messages it got (bulk, outside the search index), then 8 inbound texts and 7
one-to-one replies alternating, with bodies of words drawn from a vocabulary (so
keyword search has realistic hit rates: a common word in ~3% of messages, a rare one in
~150), and each thread's search words (`Conversation.search`, as the services keep
them). Then VACUUM ANALYZE.

Timed, 200 runs each, in one connection (as a web process keeps one), through the
selectors the API and the inbox page call (conversations.selectors):
- the inbox's first page (count + 50 rows, as the paginator reads it), as the admin
  (every thread) and as a field user (their 5,000);
- a filtered page (unread, one campaign);
- a thread's newest 50 messages (a random thread each run);
- keyword search: a common word and a rare word (first page).
Reported as p50/p95 ms against the targets below.
"""

from __future__ import annotations

import random
import time

from django.db import connection

from . import fixtures
from .config import BenchConfig
from .report import BenchResult, Target
from .stats import percentile

THREADS = 50_000
PER_THREAD = 20  # 5 campaign messages, 8 inbound, 7 replies
RUNS = 200
TARGET_PAGE_MS = 50.0
TARGET_THREAD_MS = 20.0
TARGET_SEARCH_MS = 200.0

_WORDS = (
    "yes no maybe vote voting polling place ride volunteer door knock canvass thanks "
    "thank you where when what time address library school church gym early ballot mail "
    "drop box registered register id license sign yard lawn event rally town hall meeting "
    "question answer sure okay later busy work tomorrow today tonight weekend monday "
    "tuesday wednesday thursday friday saturday sunday morning afternoon evening please "
    "call me back text number wrong person who is this stop help info more details "
    "candidate issue schools roads taxes housing jobs health care parks safety water "
    "fire police budget vote-by-mail deadline november election day results count "
    "neighbor family friend wife husband son daughter mom dad brother sister phone email "
    "website link donate money chip in shirt hat bumper sticker parking bus train bike"
)
VOCABULARY = _WORDS.split()
COMMON, RARE = "polling", "zucchini"

_CONVERSATIONS = """
INSERT INTO conversations_conversation (
    account_id, contact_id, phone, our_number, campaign_id, label, status, assigned_to_id,
    snooze_until, tags, unread, last_message_at, last_inbound_at, last_preview, created_at,
    updated_at)
SELECT ct.account_id, ct.id, ct.phone, (%(senders)s::text[])[1 + ct.id %% 10],
       (%(campaigns)s::bigint[])[1 + ct.id %% 5], '', 'open',
       CASE ct.id %% 10 WHEN 0 THEN %(field)s WHEN 1 THEN %(admin)s ELSE NULL END,
       NULL, '[]'::jsonb, CASE WHEN ct.id %% 3 = 0 THEN 1 + ct.id %% 4 ELSE 0 END,
       t.at, t.at, 'Bench preview', t.at - interval '10 days', t.at
FROM contacts_contact ct
CROSS JOIN LATERAL (
    SELECT now() - ((ct.id * 7919) %% 43200) * interval '1 minute' AS at
) t
WHERE ct.account_id = %(account)s
"""

# k = 0..4: the campaign messages (oldest); then inbound at odd k, replies at even k,
# 37 minutes apart, the last one (k = 19, inbound) at the thread's last_inbound_at.
_MESSAGES = """
INSERT INTO texting_message (
    account_id, campaign_id, contact_id, direction, from_number, to_number, body, segments,
    encoding, status, send_after, attempts, idempotency_key, error_code, error_reason,
    provider_message_id, created_at, sent_at, delivered_at)
SELECT c.account_id,
       CASE WHEN k < 5 THEN (%(campaigns)s::bigint[])[k + 1] END,
       c.contact_id,
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN 'inbound' ELSE 'outbound' END,
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN c.phone ELSE c.our_number END,
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN c.our_number ELSE c.phone END,
       CASE WHEN k < 5 THEN 'Hi Bench, will you vote on Nov 3? Reply STOP to opt out'
            ELSE v.w[1 + (c.id * 31 + k * 17) %% v.n] || ' ' || v.w[1 + (c.id * 7 + k * 101) %% v.n]
                 || ' ' || v.w[1 + (c.id * 13 + k * 3) %% v.n] || ' '
                 || v.w[1 + (c.id * 17 + k * 29) %% v.n] || ' ' || v.w[1 + (c.id + k * 61) %% v.n]
                 || CASE WHEN k >= 5 AND (c.id * 20 + k) %% 4999 = 0 THEN ' zucchini' ELSE '' END
       END,
       1, 'GSM-7',
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN 'received' ELSE 'delivered' END,
       c.last_inbound_at - (19 - k) * interval '37 minutes', 1, gen_random_uuid(), '', '',
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN 'bench-in-' || c.id || '-' || k END,
       c.last_inbound_at - (19 - k) * interval '37 minutes',
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN NULL
            ELSE c.last_inbound_at - (19 - k) * interval '37 minutes' END,
       CASE WHEN k >= 5 AND k %% 2 = 1 THEN NULL
            ELSE c.last_inbound_at - (19 - k) * interval '37 minutes' END
FROM conversations_conversation c
CROSS JOIN generate_series(0, %(last_k)s) AS k
CROSS JOIN (SELECT %(words)s::text[] AS w, %(n)s AS n) v
WHERE c.account_id = %(account)s
"""

# Each thread's words, as conversations.services keeps them (inbound texts and staff
# replies; campaign messages are not part of it), in one statement.
_SEARCH = """
UPDATE conversations_conversation c SET search = s.words
FROM (
    SELECT contact_id,
           CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END AS ours,
           strip(to_tsvector('simple', string_agg(body, ' '))) AS words
    FROM texting_message
    WHERE account_id = %(account)s AND campaign_id IS NULL
    GROUP BY 1, 2
) s
WHERE c.account_id = %(account)s AND c.contact_id = s.contact_id AND c.our_number = s.ours
"""


def _time(fn, runs: int = RUNS) -> tuple[list[float], object]:
    timings, last = [], None
    for _ in range(runs):
        t = time.perf_counter()
        last = fn()
        timings.append((time.perf_counter() - t) * 1000)
    return timings, last


def _ms(values: list[float]) -> dict:
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "max": round(max(values), 2),
    }


def run(cfg: BenchConfig, _manager) -> BenchResult:
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Role
    from conversations.models import Conversation
    from conversations.selectors import ConversationFilters, conversation_list, thread_messages

    result = BenchResult("inbox")
    fixtures.wipe()
    account, admin = fixtures.make_account()
    field = get_user_model().objects.create_user(username="bench-field", password="bench")
    Membership.objects.create(user=field, account=account, role=Role.FIELD)
    admin_m = Membership.objects.get(user=admin, account=account)
    field_m = Membership.objects.get(user=field, account=account)
    senders = list(fixtures.make_senders(account).values())[:10]
    started = time.perf_counter()
    fixtures.make_contacts(account, THREADS)
    campaigns = [
        fixtures.make_campaign(account, admin, name=f"Bench {i}", senders=senders, contact_ids=[])
        for i in range(5)
    ]
    campaign_ids = [c.pk for c in campaigns]
    params = {
        "account": account.pk,
        "senders": [s.e164 for s in senders],
        "campaigns": campaign_ids,
        "field": field.pk,
        "admin": admin.pk,
    }
    with connection.cursor() as cursor:
        cursor.execute(_CONVERSATIONS, params)
        threads = cursor.rowcount
        t = time.perf_counter()
        cursor.execute(
            _MESSAGES,
            {**params, "last_k": PER_THREAD - 1, "words": VOCABULARY, "n": len(VOCABULARY)},
        )
        messages = cursor.rowcount
        insert_seconds = time.perf_counter() - t
        cursor.execute("ANALYZE texting_message")  # the UPDATE's join needs real estimates
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute(_SEARCH, params)
        for table in ("contacts_contact", "conversations_conversation", "texting_message"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(
            "SELECT count(*) FROM texting_message WHERE account_id = %s AND campaign_id IS NULL"
            " AND to_tsvector('simple', body) @@ plainto_tsquery('simple', %s)",
            [account.pk, COMMON],
        )
        common_hits = cursor.fetchone()[0]
    print(
        f"  setup: {threads:,} conversations, {messages:,} messages (insert {insert_seconds:.1f} s)"
        f" in {time.perf_counter() - started:.1f} s; '{COMMON}' in {common_hits:,} messages"
    )

    def page(membership, filters=None):
        qs = conversation_list(account=account, membership=membership, filters=filters)
        return qs.count(), list(qs[:50])

    ids = list(Conversation.objects.filter(account=account).values_list("pk", flat=True))
    rng = random.Random(7)
    threads_by_id = {c.pk: c for c in Conversation.objects.filter(pk__in=rng.sample(ids, RUNS))}
    sample = list(threads_by_id.values())

    def one_thread():
        return thread_messages(conversation=sample[rng.randrange(len(sample))])

    def filtered():
        campaign = campaign_ids[rng.randrange(len(campaign_ids))]
        return page(admin_m, ConversationFilters(unread=True, campaign_id=campaign))

    page(admin_m)  # warm the connection and the caches as a running server has them
    timings = {}
    timings["inbox_admin"], (admin_total, _) = _time(lambda: page(admin_m))
    timings["inbox_field"], (field_total, _) = _time(lambda: page(field_m))
    timings["inbox_filtered"], _ = _time(filtered)
    timings["thread_newest_50"], last_thread = _time(one_thread)
    timings["search_common"], (common_total, _) = _time(
        lambda: page(admin_m, ConversationFilters(q=COMMON))
    )
    timings["search_rare"], (rare_total, _) = _time(
        lambda: page(admin_m, ConversationFilters(q=RARE))
    )
    figures = {}
    for name, values in timings.items():
        stats = _ms(values)
        figures[f"{name}_p50_ms"] = stats["p50"]
        figures[f"{name}_p95_ms"] = stats["p95"]
        print(f"  {name}: p50 {stats['p50']} ms, p95 {stats['p95']} ms, max {stats['max']} ms")
    print(
        f"  rows: admin sees {admin_total:,}, field user {field_total:,}; "
        f"'{COMMON}' matches {common_total:,} threads, '{RARE}' {rare_total:,}; "
        f"a thread page has {len(last_thread)} messages"
    )
    result.figures = figures
    result.details = {
        "threads": threads,
        "messages": messages,
        "insert_seconds": round(insert_seconds, 1),
        "admin_threads": admin_total,
        "field_threads": field_total,
        "search_common_threads": common_total,
        "search_rare_threads": rare_total,
        "runs": RUNS,
    }
    result.targets = [
        Target(
            "inbox first page, admin (p95)",
            "inbox_admin_p95_ms",
            figures["inbox_admin_p95_ms"],
            "<=",
            TARGET_PAGE_MS,
            " ms",
        ),
        Target(
            "inbox first page, field user (p95)",
            "inbox_field_p95_ms",
            figures["inbox_field_p95_ms"],
            "<=",
            TARGET_PAGE_MS,
            " ms",
        ),
        Target(
            "inbox filtered: unread + campaign (p95)",
            "inbox_filtered_p95_ms",
            figures["inbox_filtered_p95_ms"],
            "<=",
            TARGET_PAGE_MS,
            " ms",
        ),
        Target(
            "thread newest 50 (p95)",
            "thread_newest_50_p95_ms",
            figures["thread_newest_50_p95_ms"],
            "<=",
            TARGET_THREAD_MS,
            " ms",
        ),
        Target(
            f"keyword search, common word '{COMMON}' (p95)",
            "search_common_p95_ms",
            figures["search_common_p95_ms"],
            "<=",
            TARGET_SEARCH_MS,
            " ms",
        ),
        Target(
            f"keyword search, rare word '{RARE}' (p95)",
            "search_rare_p95_ms",
            figures["search_rare_p95_ms"],
            "<=",
            TARGET_SEARCH_MS,
            " ms",
        ),
        Target("setup: 50,000 threads", "inbox_threads", threads, "==", THREADS),
        Target(
            "setup: 1,000,000 messages",
            "inbox_messages",
            messages,
            "==",
            THREADS * PER_THREAD,
        ),
    ]
    result.figures["inbox_threads"] = threads
    result.figures["inbox_messages"] = messages
    return result
