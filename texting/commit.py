"""Commit: turn a campaign's audience into queued message rows in one transaction.

Set-based (performance.md §3): one INSERT ... SELECT over the eligible contacts, with
ON CONFLICT (campaign, contact) DO NOTHING so a retried commit adds nothing. No Python
object per recipient.

Quiet hours (compliance.rules): each recipient's `send_after` is the later of the
planned instant (now, the scheduled time, or the chosen wall-clock time in their zone)
and the earliest instant their zones and state allow. The rules run in Python once per
distinct (zones, state) group of the audience and are joined into the INSERT
(`texting.rules_sql`). A send now waits per recipient until their window opens; a
scheduled one is moved, with a warning.

Sender choice, per recipient, in SQL:
1. sticky: the number this account last texted them from, if it is in the pool;
2. with local presence, a pool number in the recipient's state;
3. otherwise SHA-256(phone + campaign id) mod the number of senders, so the same
   recipient always gets the same sender for a campaign, whichever process commits.
"""

import datetime
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from compliance import eligibility
from phone_numbers.models import NumberStatus, PhoneNumber
from providers.encoding import segment_count

from . import rules_sql
from .audience import AuditResult, campaign_exclusions, resolve_audience
from .compose import NON_GSM_PATTERN, final_template, message_size
from .links import as_sent, campaign_links_register, shorten_sql
from .merge import fields_expression, sql_expression
from .models import Campaign, CampaignStatus, Message, MessageStatus, SendMode
from .pricing import mms_price, segment_price
from .services import CampaignError, TransitionError, campaign_transition
from .techcheck import campaign_preflight

# The advisory-lock namespace of commits (pg_advisory_xact_lock(namespace, account id)).
COMMIT_LOCK = 7301


@dataclass
class CommitResult:
    campaign: Campaign
    inserted: int
    excluded: dict[str, int] = field(default_factory=dict)
    estimated_cost: Decimal = Decimal("0")
    # Quiet hours: how many messages wait past their planned time, and until when.
    held_for_quiet_hours: int = 0
    latest_send_after: datetime.datetime | None = None
    warnings: list[str] = field(default_factory=list)


def final_body(campaign: Campaign) -> str:
    """The body with the stop language appended (never doubled, never removable)."""
    stop = (campaign.stop_language or campaign.account.stop_language).strip()
    body = campaign.body.rstrip()
    if body.endswith(stop):
        return body
    return f"{body}\n{stop}"


def sender_index(phone: str, campaign_id: int, senders: int) -> int:
    """Python twin of the SQL hash (tests and single sends use it)."""
    digest = hashlib.sha256(f"{phone}{campaign_id}".encode()).hexdigest()
    return int(digest[:15], 16) % senders


def _senders(campaign: Campaign) -> list[PhoneNumber]:
    senders = list(
        PhoneNumber.objects.filter(
            account=campaign.account, pk__in=campaign.sender_ids or [], status=NumberStatus.ACTIVE
        ).order_by("e164")
    )
    if not senders:
        raise CampaignError("Pick at least one active sender number for this campaign.")
    return senders


_INSERT = """
WITH pool AS (
    SELECT e164, state, (row_number() OVER (ORDER BY e164)) - 1 AS i
    FROM unnest(%(numbers)s::text[], %(states)s::text[]) AS p(e164, state)
)
INSERT INTO texting_message (
    account_id, campaign_id, contact_id, direction, from_number, to_number, body,
    segments, encoding, status, send_after, attempts, idempotency_key,
    error_code, error_reason, created_at
)
SELECT
    c.account_id, %(campaign)s, c.id, 'outbound',
    COALESCE(
        sticky.from_number,{local_pick}
        (%(numbers)s::text[])[1 + (h.v %% %(n)s)]
    ),
    c.phone, {body}, {status},
    {send_after}, 0, (%(key_prefix)s || lpad(to_hex(c.id), 12, '0'))::uuid, '', '', now()
FROM ({eligible}) c{quiet_join}{link_join}
CROSS JOIN LATERAL (
    SELECT ('x' || substr(encode(sha256(convert_to(c.phone || %(campaign_text)s, 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint AS v
) h
LEFT JOIN LATERAL (
    SELECT m.from_number FROM texting_message m
    WHERE m.account_id = c.account_id AND m.to_number = c.phone
      AND m.from_number = ANY(%(numbers)s::text[])
    ORDER BY m.created_at DESC LIMIT 1
) sticky ON true{local_join}
ON CONFLICT (campaign_id, contact_id) WHERE campaign_id IS NOT NULL DO NOTHING
"""

# Local presence only: a pool number in the recipient's state, by the same hash. Left
# out of the statement otherwise (it costs ~0.3 s per 100k rows even when it matches
# nothing).
_LOCAL_PICK = "\n        local_pick.e164,"
_LOCAL_JOIN = """
LEFT JOIN LATERAL (
    SELECT local.e164 FROM (
        SELECT e164, (row_number() OVER (ORDER BY e164)) - 1 AS i, count(*) OVER () AS n
        FROM pool WHERE pool.state = c.state AND c.state <> ''
    ) local
    WHERE local.i = h.v %% local.n
) local_pick ON true"""


def campaign_commit(
    *,
    campaign: Campaign,
    actor: AbstractBaseUser,
    send_mode: str = SendMode.NOW,
    schedule_at: datetime.datetime | None = None,
    recipient_local_time: bool = False,
) -> CommitResult:
    """Queue the campaign's messages and move it to sending (or scheduled).

    Raises CampaignError (bad input, 400), PreflightError (a Tech Check failed, 422; a
    CampaignError too) or TransitionError (wrong state, 409); on any, nothing is
    written.
    """
    if send_mode not in SendMode.values:
        raise CampaignError(f"send_mode must be one of {', '.join(SendMode.values)}.")
    scheduled = send_mode == SendMode.SCHEDULE
    if scheduled and schedule_at is None:
        raise CampaignError("A scheduled send needs schedule_at.")
    if scheduled and not recipient_local_time and schedule_at <= timezone.now():
        raise CampaignError("schedule_at is in the past.")
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update().select_related("account").get(pk=campaign.pk)
        )
        if campaign.status != CampaignStatus.DRAFT:
            raise TransitionError(f"Only a draft can be committed; this one is {campaign.status}.")
        # One commit per account at a time: the frequency caps and "recently messaged"
        # read the account's other messages, and two commits running side by side could
        # not see each other's rows (READ COMMITTED), so both would pass the caps.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [COMMIT_LOCK, campaign.account_id]
            )
        target = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.SENDING
        try:
            audience = resolve_audience(campaign=campaign)
        except CampaignError:
            audience = None  # the pre-flight's audience check says why
        audit = None
        if audience is not None:
            exclusions = campaign_exclusions(campaign=campaign)
            eligible_count, excluded = eligibility.excluded_counts(audience.contacts, exclusions)
            for reason, n in audience.unresolved.items():
                excluded[reason] = excluded.get(reason, 0) + n
            audit = AuditResult(
                total=eligible_count + sum(excluded.values()),
                eligible=eligible_count,
                excluded=dict(excluded),
            )
        # The Tech Check again, on the locked row and this very classification: what
        # changed since the user looked (balance, a sender's registration, the body)
        # refuses here, before anything is written. There is no other way to send a
        # campaign: a scheduled one passed this at commit and only changes status later.
        campaign_preflight(campaign=campaign, audit=audit)
        senders = _senders(campaign)
        columns = [
            "id",
            "account_id",
            "phone",
            "state",
            "timezone",
            "timezone_candidates",
            "timezone_source",
        ]
        eligible_qs = eligibility.eligible(audience.contacts, exclusions)
        template = final_template(campaign)
        if template.has_fields:
            # Merge fields: each recipient's body is rendered in the SELECT itself; its
            # encoding is exact, its segments the longest rendering's (texting.compose).
            eligible_qs = eligible_qs.annotate(
                merged_body=sql_expression(template), merge_values=fields_expression(template)
            )
            columns += ["merged_body", "merge_values"]
        eligible_sql, eligible_params = (
            eligible_qs.order_by()  # Contact.Meta.ordering would sort 100k rows
            .values(*columns)
            .query.sql_with_params()
        )
        body = final_body(campaign)
        # Counted with each long URL as its fixed-length short link (texting.links).
        segments, encoding = segment_count(as_sent(body))
        if template.has_fields:
            size = message_size(template=template, contacts=audience.contacts)
            # UCS-2 when the literal text is, else when a field's value leaves GSM-7 (the
            # values are a few words: the regex never reads the whole body).
            literal = "".join(part for part in template.parts if isinstance(part, str))
            ucs2 = (
                "true" if segment_count(literal)[1] == "UCS-2" else "c.merge_values ~ %(non_gsm)s"
            )
            body_sql = (
                f"c.merged_body, CASE WHEN {ucs2} THEN %(ucs2_segments)s"
                " ELSE %(gsm_segments)s END,"
                f" CASE WHEN {ucs2} THEN 'UCS-2' ELSE 'GSM-7' END"
            )
            merge_params = {
                "non_gsm": NON_GSM_PATTERN,
                "gsm_segments": size.gsm_segments,
                "ucs2_segments": size.ucs2_segments,
            }
        else:
            body_sql, merge_params = "%(body)s, %(segments)s, %(encoding)s", {}
        # Per-recipient short links (texting.links): each long URL in the body column is
        # replaced in the same SELECT (registered once per campaign, codes from an HMAC).
        link_join = ""
        links = campaign_links_register(campaign=campaign, body=body)
        if links:
            column = "c.merged_body" if template.has_fields else "%(body)s"
            shortened, link_join, link_params = shorten_sql(column, links=links)
            body_sql = body_sql.replace(column, shortened, 1)
            merge_params = {**merge_params, **link_params}
        params: dict = {
            "campaign": campaign.pk,
            "campaign_text": str(campaign.pk),
            "numbers": [s.e164 for s in senders],
            "states": [s.state for s in senders],
            "n": len(senders),
            "body": body,
            "segments": segments,
            "encoding": encoding,
            "status": MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED,
            # Idempotency keys: this commit's random prefix + the contact id, unique
            # because a campaign holds a contact once. gen_random_uuid() per row costs
            # ~0.6 s per 100k here. The prefix keeps uuid4's version and variant bits.
            "key_prefix": str(uuid.uuid4())[:24],
            **merge_params,
        }
        wall = None
        if scheduled and recipient_local_time:
            # Everyone gets the same wall-clock time in their own zone: the time the
            # user picked, read in the account's zone, re-read in each recipient's.
            wall = schedule_at.astimezone(ZoneInfo(campaign.account.timezone)).replace(tzinfo=None)
            params["wall"] = wall
            planned = "(%(wall)s::timestamp AT TIME ZONE {c}.timezone)"
        elif scheduled:
            params["schedule_at"] = schedule_at
            planned = "%(schedule_at)s::timestamptz"
        else:
            planned = "now()"
        # Quiet hours, once per (zones, state) group of the audience (a superset of the
        # eligible groups, read without the exclusions' subqueries).
        moved = [
            s
            for s in rules_sql.shifts(
                rules_sql.recipient_groups(audience.contacts),
                rules_sql.send_rules(account=campaign.account, campaign=campaign),
                at=schedule_at if scheduled and wall is None else timezone.now(),
                local_wall=wall,
            )
            if s.shifted
        ]
        stuck = [s for s in moved if s.allowed is None]
        if stuck:
            raise CampaignError(rules_sql.no_window_error(stuck))
        params |= rules_sql.quiet_join_params(moved)
        send_after = planned.format(c="c")
        if moved:
            send_after = f"GREATEST({send_after}, q.at)"
        # Django renders the eligible subquery with positional %s; turn them into named
        # parameters so both halves share one statement.
        names = []
        for i, value in enumerate(eligible_params):
            params[f"e{i}"] = value
            names.append(f"%(e{i})s")
        eligible = eligible_sql.replace("%s", "{}").format(*names)
        with connection.cursor() as cursor:
            # The plan's cost crosses the JIT thresholds, and compiling it costs more than
            # it saves for a statement that runs once.
            cursor.execute("SET LOCAL jit = off")
            local = campaign.local_presence
            statement = _INSERT.format(
                body=body_sql,
                send_after=send_after,
                eligible=eligible,
                quiet_join=rules_sql.QUIET_JOIN if moved else "",
                link_join=link_join,
                # Held by quiet hours: `scheduled` until the window opens (housekeeping
                # queues it then), so the due index holds only what can go.
                status="CASE WHEN q.at IS NULL THEN %(status)s ELSE 'scheduled' END"
                if moved
                else "%(status)s",
                local_pick=_LOCAL_PICK if local else "",
                local_join=_LOCAL_JOIN if local else "",
            )
            cursor.execute(statement, params)
            inserted = cursor.rowcount
            # Cost per sender, and what quiet hours moved (only when something could
            # have moved: the comparison with each contact's zone costs a join).
            held = "false"
            if moved:
                held = "m.send_after > " + planned.format(c="ct")
            cursor.execute(
                "SELECT m.from_number, sum(m.segments), count(*),"
                f" count(*) FILTER (WHERE {held}), max(m.send_after) FILTER (WHERE {held})"
                " FROM texting_message m"
                + (" LEFT JOIN contacts_contact ct ON ct.id = m.contact_id" if wall else "")
                + " WHERE m.campaign_id = %(campaign)s GROUP BY m.from_number",
                params,
            )
            kinds = {s.e164: s.kind for s in senders}
            estimated, held_count, latest = Decimal("0"), 0, None
            for e164, total, n_messages, n_held, last in cursor.fetchall():
                if campaign.media_ids:  # an MMS costs MMS_PRICE per message, any length
                    estimated += mms_price() * n_messages
                else:
                    estimated += segment_price(kinds.get(e164, "long")) * total
                held_count += n_held
                if last is not None:
                    latest = max(latest or last, last)
        campaign.send_mode = send_mode
        campaign.schedule_at = schedule_at
        campaign.recipient_local_time = recipient_local_time
        campaign.committed_at = timezone.now()
        campaign.estimated_cost = estimated
        campaign.save(
            update_fields=[
                "send_mode",
                "schedule_at",
                "recipient_local_time",
                "committed_at",
                "estimated_cost",
            ]
        )
        campaign = campaign_transition(campaign=campaign, to=target)
    return CommitResult(
        campaign=campaign,
        inserted=inserted,
        excluded=excluded,
        estimated_cost=estimated,
        held_for_quiet_hours=held_count,
        latest_send_after=latest,
        warnings=_quiet_hours_warnings(held_count, latest, scheduled=scheduled),
    )


def _quiet_hours_warnings(
    held: int, latest: datetime.datetime | None, *, scheduled: bool
) -> list[str]:
    if not held:
        return []
    who = "recipient is" if held == 1 else "recipients are"
    when = f"the last at {latest.isoformat(timespec='minutes')}" if latest else ""
    if scheduled:
        return [
            f"{held} {who} in quiet hours at the scheduled time; their messages were "
            f"moved to when their window opens ({when})."
        ]
    return [
        f"{held} {who} in quiet hours now; their messages wait until their window opens ({when})."
    ]


def campaign_message_counts(*, campaign: Campaign) -> dict[str, int]:
    """{status: count} for the campaign's messages (uses message_campaign_status)."""
    rows = Message.objects.filter(campaign=campaign).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows.order_by()}
