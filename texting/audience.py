"""A campaign's audience: who it names, who of them may be texted, and why not.

The commit and the eligibility audit (GET .../audit/, the Recipients and Tech Check
panels) read the same classification, so what the audit promises is what the commit
queues. Consent, opt-out and DNC exclusions come from `compliance.eligibility`; this
module adds the ones over message history, which lives here.
"""

from dataclasses import dataclass, field

from django.db.models import F, Lookup, QuerySet

from compliance import eligibility
from compliance.eligibility import DUPLICATE, INVALID_PHONE, NO_OPT_IN, Exclusion
from contacts.models import Contact
from contacts.phones import try_normalize_phone
from contacts.services import contact_for_phone

from .models import Campaign
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
    if "tribe_id" in audience or "filter" in audience:
        raise CampaignError("Tribe and filter audiences arrive with the Recipients tab (issue 5).")
    raise CampaignError("The campaign has no audience: give contact_ids or phones.")


def campaign_exclusions(*, campaign: Campaign) -> list[Exclusion]:
    """Every exclusion this campaign's commit applies, in reporting order."""
    return eligibility.consent_exclusions(account=campaign.account, mode=campaign.mode)


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
