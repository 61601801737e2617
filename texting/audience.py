"""A campaign's audience: who it names, who of them may be texted, and why not.

The commit and the eligibility audit (GET .../audit/, the Recipients and Tech Check
panels) read the same classification, so what the audit promises is what the commit
queues. Consent, opt-out and DNC exclusions come from `compliance.eligibility`; this
module adds the ones over message history, which lives here.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, F, Lookup, Q, QuerySet
from django.utils import timezone

from accounts.models import Account
from compliance import eligibility, rules
from compliance.eligibility import (
    DUPLICATE,
    EXCLUDED_TRIBE,
    FREQUENCY_CAP,
    INVALID_PHONE,
    NO_OPT_IN,
    RECENTLY_MESSAGED,
    REPLIED_TO_CAMPAIGN,
    Exclusion,
)
from contacts import tribes
from contacts.filters import FilterError
from contacts.geo import area_code_prefixes
from contacts.models import Contact, EngagementEvent, EventType, Tribe, TribeMode
from contacts.phones import try_normalize_phone
from contacts.services import contact_for_phone

from . import rules_sql
from .models import Campaign, Direction, Message, MessageStatus
from .services import CampaignError


class EqualsAny(Lookup):
    """`column = ANY(array)`: one array parameter, not one placeholder per value (an IN
    list of 100k costs seconds to build and plan). PostgreSQL hashes a large array for
    a scan, or walks an index with it for a small one, and keeps the rows in table
    order, which keeps the commit's index writes sequential."""

    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection) -> tuple[str, tuple]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        sql_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} = ANY(%s::{sql_type}[])", (*lhs_params, list(self.rhs))


@dataclass
class Audience:
    """The contacts an audience names, plus {reason: count} for the entries that name
    no contact we can text (invalid phones, repeats, phones we have no record of)."""

    contacts: QuerySet[Contact]
    unresolved: dict[str, int] = field(default_factory=dict)


def _add(counts: dict[str, int], reason: str, n: int) -> None:
    if n:
        counts[reason] = counts.get(reason, 0) + n


def resolve_audience(*, campaign: Campaign, create: bool = True) -> Audience:
    """The campaign's audience. `create`: make phone-only contacts for listed phones we
    have no record of (the commit does; the audit only counts them, as `no_opt_in`,
    since a new record carries no consent)."""
    audience, account = campaign.audience or {}, campaign.account
    unresolved: dict[str, int] = {}
    if "contact_ids" in audience:
        raw = audience["contact_ids"]
        ids = [i for i in raw if isinstance(i, int) and not isinstance(i, bool)]
        unique = list(dict.fromkeys(ids))
        _add(unresolved, DUPLICATE, len(ids) - len(unique))
        contacts = Contact.objects.filter(EqualsAny(F("pk"), unique), account=account)
        return Audience(contacts, unresolved)
    if "phones" in audience:
        phones = []
        for raw in audience["phones"]:
            phone = try_normalize_phone(str(raw))
            if phone is None:
                _add(unresolved, INVALID_PHONE, 1)
            else:
                phones.append(phone)
        unique = list(dict.fromkeys(phones))
        _add(unresolved, DUPLICATE, len(phones) - len(unique))
        contacts = Contact.objects.filter(EqualsAny(F("phone"), unique), account=account)
        if create:
            for phone in unique:
                contact_for_phone(account=account, phone=phone)
        else:
            _add(unresolved, NO_OPT_IN, len(unique) - contacts.count())
        return Audience(contacts, unresolved)
    if "tribe_id" in audience:
        tribe = Tribe.objects.filter(account=account, pk=audience["tribe_id"]).first()
        if tribe is None:
            raise CampaignError(f"No Tribe {audience['tribe_id']} in this account.")
        problem = tribe_mode_problem(tribe_mode=tribe.mode, campaign_mode=campaign.mode)
        if problem:
            raise CampaignError(problem)
        try:
            return Audience(tribes.tribe_members(tribe=tribe))
        except FilterError as exc:
            raise CampaignError(f"The Tribe “{tribe.name}” has an unusable filter: {exc}") from exc
    if "filter" in audience:
        try:
            return Audience(tribes.filter_members(account=account, filter=audience["filter"]))
        except FilterError as exc:
            raise CampaignError(f"audience.{exc}") from exc
    raise CampaignError(
        "The campaign has no audience: give a tribe_id, a filter, contact_ids or phones."
    )


def tribe_mode_problem(*, tribe_mode: str, campaign_mode: str) -> str:
    """Why a Tribe of `tribe_mode` may not be a campaign's audience ("" when it may).

    A Tribe serves campaigns of its own mode; a cross-mode one serves both. A
    Campaign-mode Tribe (voter-file people, usually without consent) as the audience of
    a Relationship-mode campaign, or the other way round, is refused rather than
    warned about: the campaign's mode decides who may be texted, and a list built for
    the other mode would mostly be excluded, or name people the campaign has no
    relationship with."""
    if tribe_mode in (TribeMode.CROSS, campaign_mode):
        return ""
    return (
        f"A {tribe_mode}-mode Tribe cannot be the audience of a {campaign_mode}-mode "
        "campaign; pick a Tribe of that mode or a cross-mode one."
    )


def campaign_exclusions(*, campaign: Campaign) -> list[Exclusion]:
    """Every exclusion this campaign's commit applies, in reporting order: consent,
    opt-out and DNC (`compliance.eligibility`), then the campaign's own choices
    (`exclusions`: `replied_to_campaign`, `messaged_within_hours`), then the frequency
    caps (`compliance.rules.caps_to_count`), all over message history, which lives here.
    Each is a `phone IN (SELECT ...)` / `id IN (SELECT ...)` subquery that PostgreSQL
    runs once, as a hashed subplan."""
    account = campaign.account
    found = eligibility.consent_exclusions(account=account, mode=campaign.mode)
    options = campaign.exclusions or {}
    if options.get("excluded_tribe_ids"):
        # A Tribe deleted since it was chosen would silently stop excluding anyone.
        wanted = set(options["excluded_tribe_ids"])
        missing = wanted - set(
            Tribe.objects.filter(account=account, pk__in=wanted).values_list("pk", flat=True)
        )
        if missing:
            raise CampaignError(
                f"The excluded Tribe{'s' if len(missing) > 1 else ''} "
                f"{', '.join(str(i) for i in sorted(missing))} no longer exist"
                f"{'' if len(missing) > 1 else 's'}: remove "
                f"{'them' if len(missing) > 1 else 'it'} from the exclusions or pick another."
            )
        # Membership of any of them, inline (one WHERE), NULL-free (contacts.filters),
        # so the audit's CASE and the commit's NOT agree.
        found.append(
            Exclusion(
                EXCLUDED_TRIBE,
                tribes.tribes_condition(account=account, tribe_ids=options["excluded_tribe_ids"]),
            )
        )
    if options.get("replied_to_campaign"):
        found.append(
            Exclusion(
                REPLIED_TO_CAMPAIGN,
                Q(
                    pk__in=replied_contacts(
                        account_id=account.pk, campaign_id=options["replied_to_campaign"]
                    )
                ),
            )
        )
    if options.get("messaged_within_hours"):
        since = timezone.now() - datetime.timedelta(hours=options["messaged_within_hours"])
        found.append(
            Exclusion(
                RECENTLY_MESSAGED, Q(phone__in=messaged_phones(campaign=campaign, since=since))
            )
        )
    caps = []
    for cap, states in rules.caps_to_count(campaign.compliance):
        over = Q(phone__in=capped_phones(campaign=campaign, cap=cap))
        caps.append(over if states is None else _in_states(states) & over)
    if caps:
        found.append(Exclusion(FREQUENCY_CAP, _any(caps)))
    return found


def _in_states(states) -> Q:
    """Contacts in any of `states`: by address, or by the area code of their phone (FL,
    OK and CT presume an in-state area code is an in-state person; compliance.md §3.1)."""
    codes = [prefix[2:] for state in states for prefix in area_code_prefixes(state)]
    in_states = Q(state__in=states)
    return in_states | Q(phone__regex=rf"^\+1({'|'.join(codes)})") if codes else in_states


def _any(conditions: list[Q]) -> Q:
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


# A message that never left does not count as having texted someone.
_NOT_SENT = (MessageStatus.FAILED, MessageStatus.CANCELED)


def replied_contacts(*, account_id: int, campaign_id: int) -> QuerySet:
    """Contacts with an inbound SMS attributed to that campaign (texting.inbound records
    `sms_received` with the campaign it answers; index `event_campaign_type`)."""
    return EngagementEvent.objects.filter(
        account_id=account_id, type=EventType.SMS_RECEIVED, campaign_id=campaign_id
    ).values("contact_id")


def messaged_phones(*, campaign: Campaign, since: datetime.datetime) -> QuerySet:
    """Phones this account sent anything to since `since` (index `message_to_recent`),
    this campaign's own messages aside."""
    return phones_messaged_since(account_id=campaign.account_id, since=since).exclude(
        campaign_id=campaign.pk
    )


def phones_messaged_since(*, account_id: int, since: datetime.datetime) -> QuerySet:
    """Phones this account sent anything to since `since` (index `message_to_recent`)."""
    return (
        Message.objects.filter(
            account_id=account_id, direction=Direction.OUTBOUND, created_at__gte=since
        )
        .exclude(status__in=_NOT_SENT)
        .values("to_number")
    )


# --- The filter language's message-history fields (registered with contacts.filters
# in TextingConfig.ready(): contacts cannot import texting). --------------------------


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def replied_field_check(account: Account, value) -> str:
    if not _whole(value) or not Campaign.objects.filter(account=account, pk=value).exists():
        return "Give the id of one of this account's campaigns."
    return ""


def replied_field_matches(account: Account, value) -> Q:
    return Q(pk__in=replied_contacts(account_id=account.pk, campaign_id=value))


def messaged_field_check(account: Account, value) -> str:
    if not _whole(value) or not 1 <= value <= 8760:
        return "Give a whole number of hours from 1 to 8760."
    return ""


def messaged_field_matches(account: Account, value) -> Q:
    since = timezone.now() - datetime.timedelta(hours=value)
    return Q(phone__in=phones_messaged_since(account_id=account.pk, since=since))


def capped_phones(*, campaign: Campaign, cap: rules.Cap) -> QuerySet:
    """Phones that already got `cap.messages` campaign messages within `cap.hours`
    (keyword replies and one-to-one messages do not count; messages queued by other
    campaigns do, or two campaigns committed together would both pass), this
    campaign's own aside."""
    since = timezone.now() - datetime.timedelta(hours=cap.hours)
    return (
        Message.objects.filter(
            account_id=campaign.account_id,
            direction=Direction.OUTBOUND,
            campaign_id__isnull=False,
            kind__isnull=True,
            created_at__gte=since,
        )
        .exclude(status__in=_NOT_SENT)
        .exclude(campaign_id=campaign.pk)
        .values("to_number")
        .annotate(n=Count("id"))
        .filter(n__gte=cap.messages)
        .values("to_number")
    )


@dataclass
class AuditResult:
    total: int
    eligible: int
    excluded: dict[str, int]

    def as_dict(self) -> dict:
        return {"total": self.total, "eligible": self.eligible, "excluded": self.excluded}


def campaign_audit(*, campaign: Campaign) -> AuditResult:
    """Total, eligible and excluded-by-reason for the campaign's audience, right now.
    Reads only: nothing is created or changed."""
    audience = resolve_audience(campaign=campaign, create=False)
    eligible_count, excluded = eligibility.excluded_counts(
        audience.contacts, campaign_exclusions(campaign=campaign)
    )
    for reason, n in audience.unresolved.items():
        _add(excluded, reason, n)
    total = eligible_count + sum(excluded.values())
    return AuditResult(total=total, eligible=eligible_count, excluded=excluded)


@dataclass
class SendWindow:
    """Quiet hours over a campaign's eligible audience, for the Tech Check.

    `in_quiet_hours`: recipients who may not be texted at `at` (sent then, their
    messages wait until their window opens); `latest`: when the last of them may be
    texted (None when nobody waits); `unknown_timezone`: recipients whose zone is not
    known (the account's zone is assumed; warn about them)."""

    at: datetime.datetime
    eligible: int
    in_quiet_hours: int
    latest: datetime.datetime | None
    unknown_timezone: int
    never: int = 0  # recipients the account's quiet hours leave no time for


def campaign_send_window(
    *,
    campaign: Campaign,
    at: datetime.datetime | None = None,
    local_wall: datetime.datetime | None = None,
) -> SendWindow:
    """How quiet hours would treat the campaign's eligible recipients if it were sent at
    `at` (default: now), or at the wall-clock time `local_wall` in each recipient's
    zone. One GROUP BY over the audience; the rules run once per group. Reads only."""
    at = at or timezone.now()
    audience = resolve_audience(campaign=campaign, create=False)
    contacts = eligibility.eligible(audience.contacts, campaign_exclusions(campaign=campaign))
    groups = rules_sql.recipient_groups(contacts)
    send = rules_sql.send_rules(account=campaign.account, campaign=campaign)
    moved = [s for s in rules_sql.shifts(groups, send, at=at, local_wall=local_wall) if s.shifted]
    waiting = [s for s in moved if s.allowed is not None]
    return SendWindow(
        at=at,
        eligible=sum(g.count for g in groups),
        in_quiet_hours=sum(s.group.count for s in waiting),
        latest=max((s.allowed for s in waiting), default=None),
        unknown_timezone=rules_sql.unknown_zone_count(groups),
        never=sum(s.group.count for s in moved if s.allowed is None),
    )
