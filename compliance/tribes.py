"""Tribe counts that need the consent rules: how many of a Tribe's members (or an
ad-hoc filter's matches) a bulk send could text now.

`contacts` owns Tribes but sits below `compliance`, so it cannot ask who is eligible;
this module joins the two. A Tribe's mode picks the consent gate
(`eligibility.consent_exclusions`); a cross-mode Tribe is counted with the
Relationship gate (for bulk sends both modes need a confirmed opt-in, so the numbers
agree). Campaign-specific exclusions (recently messaged, frequency caps, excluded
Tribes) are not counted here: the campaign's own audit (`texting.audience`) has them.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts.models import Account
from contacts import tribes
from contacts.models import Contact, Tribe, TribeMode

from . import eligibility


@dataclass(frozen=True)
class AudienceCounts:
    member_count: int
    sms_eligible_count: int
    excluded: dict[str, int]


def _gate(mode: str) -> str:
    return eligibility.CAMPAIGN if mode == TribeMode.CAMPAIGN else eligibility.RELATIONSHIP


def audience_counts(*, account: Account, contacts: QuerySet[Contact], mode: str) -> AudienceCounts:
    """Members and SMS-eligible members in one GROUP BY (reasons as the audit names
    them)."""
    exclusions = eligibility.consent_exclusions(account=account, mode=_gate(mode))
    eligible, excluded = eligibility.excluded_counts(contacts, exclusions)
    return AudienceCounts(
        member_count=eligible + sum(excluded.values()),
        sms_eligible_count=eligible,
        excluded=excluded,
    )


def tribe_counts(*, tribe: Tribe, mode: str | None = None) -> AudienceCounts:
    """The Tribe's counts under its own mode (or `mode`: the campaign's)."""
    return audience_counts(
        account=tribe.account, contacts=tribes.tribe_members(tribe=tribe), mode=mode or tribe.mode
    )


def filter_counts(*, account: Account, filter: Any, mode: str) -> AudienceCounts:
    """An ad-hoc filter's counts (the builder's preview). FilterError if invalid."""
    members = tribes.filter_members(account=account, filter=filter)
    return audience_counts(account=account, contacts=members, mode=mode)
