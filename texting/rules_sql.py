"""The compliance rules (`compliance.rules`) applied to whole audiences, set-based.

Quiet hours depend on a recipient's zones and states only, and an audience of 100k has
few distinct (timezone candidates, timezone, state, area code) combinations (the states
are the address's and the one the phone's area code was assigned in:
`contacts.geo.state_for_phone`). So the rules run in
Python once per group (`recipient_groups`: one GROUP BY), and the commit joins the
answers into its INSERT (`QUIET_JOIN`: `unnest` of the group keys and instants), each
row taking `GREATEST(planned, its group's next allowed instant)`. No Python per
recipient.

The same groups give the Tech Check its numbers (`texting.audience.campaign_send_window`).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Q, QuerySet, TextField
from django.db.models.functions import Cast, Substr

from accounts.models import Account
from compliance import rules
from contacts.geo import state_for_phone
from contacts.models import Contact, TimezoneSource

from .models import Campaign


@dataclass(frozen=True)
class SendRules:
    """What quiet hours mean for one account (and campaign): its window, its zone for
    recipients of unknown zone, and whether unverified state rows apply."""

    window: rules.Window
    account_zone: str
    unverified: bool = False

    def zones(self, *, candidates, timezone: str, source: str) -> tuple[str, ...]:
        return rules.recipient_zones(
            candidates=candidates, timezone=timezone, source=source, account_zone=self.account_zone
        )

    def is_quiet(self, moment: datetime.datetime, *, zones, states) -> bool:
        return rules.is_quiet(moment, zones, states, self.window, unverified=self.unverified)

    def next_allowed(self, moment: datetime.datetime, *, zones, states) -> datetime.datetime | None:
        return rules.next_allowed(moment, zones, states, self.window, unverified=self.unverified)


def recipient_states(*, state: str, phone: str) -> list[str]:
    """Every state whose rules reach a recipient: the address's, and the one the phone's
    area code belongs to (FL, OK and CT presume it; compliance.md §3.1, §4.3)."""
    return sorted({s for s in (state, state_for_phone(phone)) if s}) or [""]


def send_rules(*, account: Account, campaign: Campaign | None = None) -> SendRules:
    """The quiet-hours settings for sends of `account` (and `campaign`'s `compliance`
    config, which may turn on the unverified state rows)."""
    config = (campaign.compliance if campaign is not None else None) or {}
    return SendRules(
        window=rules.account_window(
            quiet_start=account.quiet_hours_start, quiet_end=account.quiet_hours_end
        ),
        account_zone=account.timezone,
        unverified=bool(config.get("unverified_state_rules")),
    )


@dataclass(frozen=True)
class RecipientGroup:
    """Recipients who share zones and state, hence quiet hours. `candidates` is the
    contacts' `timezone_candidates` as PostgreSQL prints jsonb (the join key)."""

    candidates: str
    timezone: str
    state: str
    area_code: str  # "+1NPA" of the phones in the group
    unknown: bool  # timezone_source = account default: the account's zone is used
    count: int

    @property
    def states(self) -> list[str]:
        return recipient_states(state=self.state, phone=self.area_code)

    def zones(self, send: SendRules) -> tuple[str, ...]:
        return send.zones(
            candidates=json.loads(self.candidates or "[]"),
            timezone=self.timezone,
            source=TimezoneSource.ACCOUNT_DEFAULT if self.unknown else "",
        )


def recipient_groups(contacts: QuerySet[Contact]) -> list[RecipientGroup]:
    """The distinct (candidates, timezone, state, unknown) of `contacts`, with counts:
    one GROUP BY."""
    rows = (
        contacts.order_by()
        .annotate(
            g_candidates=Cast(F("timezone_candidates"), TextField()),
            g_area=Substr("phone", 1, 5),
            g_unknown=ExpressionWrapper(
                Q(timezone_source=TimezoneSource.ACCOUNT_DEFAULT), output_field=BooleanField()
            ),
        )
        .values("g_candidates", "timezone", "state", "g_area", "g_unknown")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        RecipientGroup(
            candidates=r["g_candidates"] or "[]",
            timezone=r["timezone"],
            state=r["state"] or "",
            area_code=r["g_area"] or "",
            unknown=bool(r["g_unknown"]),
            count=r["n"],
        )
        for r in rows
    ]


def planned_for(
    group: RecipientGroup,
    *,
    at: datetime.datetime,
    local_wall: datetime.datetime | None = None,
) -> datetime.datetime:
    """When the group's messages are planned before quiet hours: `at`, or, for a send
    at the same wall-clock time everywhere, `local_wall` read in the group's zone (as
    the commit's SQL does with `AT TIME ZONE c.timezone`)."""
    if local_wall is None:
        return at
    return local_wall.replace(tzinfo=ZoneInfo(group.timezone)).astimezone(datetime.UTC)


@dataclass(frozen=True)
class Shift:
    group: RecipientGroup
    planned: datetime.datetime
    allowed: datetime.datetime | None  # None: never (the account's window excludes the state)

    @property
    def shifted(self) -> bool:
        return self.allowed != self.planned


def shifts(
    groups: list[RecipientGroup],
    send: SendRules,
    *,
    at: datetime.datetime,
    local_wall: datetime.datetime | None = None,
) -> list[Shift]:
    """For each group: when it was planned and the earliest instant quiet hours allow."""
    out = []
    for group in groups:
        planned = planned_for(group, at=at, local_wall=local_wall)
        allowed = send.next_allowed(planned, zones=group.zones(send), states=group.states)
        out.append(Shift(group=group, planned=planned, allowed=allowed))
    return out


# Joined into the commit's INSERT: each eligible contact `c` finds its group's instant
# (NULL when its group is not shifted, or when the contact changed since the groups were
# read; the dispatcher's final check holds such a message at send time).
QUIET_JOIN = """
LEFT JOIN unnest(%(q_candidates)s::text[], %(q_timezone)s::text[], %(q_state)s::text[],
                 %(q_area)s::text[], %(q_unknown)s::bool[], %(q_at)s::timestamptz[])
    AS q(candidates, timezone, state, area, unknown, at)
    ON q.candidates = c.timezone_candidates::text AND q.timezone = c.timezone
   AND q.state = c.state AND q.area = substr(c.phone, 1, 5)
   AND q.unknown = (c.timezone_source = 'account_default')"""


def quiet_join_params(moved: list[Shift]) -> dict[str, list]:
    """`QUIET_JOIN`'s parameters for the groups whose messages move."""
    return {
        "q_candidates": [s.group.candidates for s in moved],
        "q_timezone": [s.group.timezone for s in moved],
        "q_state": [s.group.state for s in moved],
        "q_area": [s.group.area_code for s in moved],
        "q_unknown": [s.group.unknown for s in moved],
        "q_at": [s.allowed for s in moved],
    }


def state_label(state: str) -> str:
    return state or "an unknown state"


def no_window_error(stuck: list[Shift]) -> str:
    states = sorted({state_label(st) for s in stuck for st in s.group.states})
    return (
        "The account's quiet hours (Settings) leave no time in which recipients in "
        f"{', '.join(states)} may be texted; widen them to at least 09:00–20:00."
    )


def unknown_zone_count(groups: list[RecipientGroup]) -> int:
    return sum(g.count for g in groups if g.unknown)
