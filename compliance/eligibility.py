"""Who may be texted. The send engine calls this set-based at commit (and the audit,
GET .../audit/, counts with it) and per message right before sending.

An audience is classified by an ordered list of `Exclusion`s: each names a reason (as
the audit reports it) and a condition over contact rows that, when true, leaves the
contact out. A contact excluded for several reasons is counted under the first, so
total = eligible + the sum of the excluded counts. The conditions are plain SQL
(`phone IN (SELECT ...)` and the like, which PostgreSQL runs as one hashed subplan, not
one probe per row), so classifying 100k contacts is one statement.

This module owns the exclusions over compliance data (consent, opt-out, DNC). Message
history belongs to `texting`, which adds its own (recently messaged, frequency caps)
through the same `Exclusion` type; this module never imports `texting`.
"""

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Case, CharField, Count, Q, QuerySet, Value, When

from accounts.models import Account
from contacts.models import Contact, SmsStatus

from .models import DncEntry

# Reasons, as the audit (GET .../audit/) names them, in the order a contact excluded
# for several is counted.
INVALID_PHONE = "invalid_phone"
DUPLICATE = "duplicate"
OPTED_OUT = "opted_out"
DNC = "dnc"
NO_OPT_IN = "no_opt_in"
EXCLUDED_TRIBE = "excluded_tribe"
REPLIED_TO_CAMPAIGN = "replied_to_campaign"
RECENTLY_MESSAGED = "recently_messaged"
FREQUENCY_CAP = "frequency_cap"
# Why a double opt-in request is dropped at send time (they answered YES or STOP since).
NOT_PENDING = "not_pending"

# Campaign modes (texting.models.CampaignMode stores them).
RELATIONSHIP = "relationship"
CAMPAIGN = "campaign"

# Kinds of the replies inbound keywords trigger (texting.models.MessageKind stores them;
# an ordinary message has none).
OPT_OUT_CONFIRMATION = "opt_out_confirmation"
HELP_REPLY = "help_reply"
OPT_IN_CONFIRMATION = "opt_in_confirmation"
# The text a double opt-in sends: "reply YES to confirm" (not a keyword reply: it goes to
# a pending contact only, and waits for quiet hours to end).
CONFIRMATION_REQUEST = "confirmation_request"
# The only messages an opted-out number may receive: the one confirmation of its STOP
# and the answer to its HELP (CTIA: both go whether or not the number is subscribed).
# An opt-in confirmation is not among them: a STOP sent after START cancels it.
SENT_DESPITE_OPT_OUT = frozenset({OPT_OUT_CONFIRMATION, HELP_REPLY})


@dataclass(frozen=True)
class Exclusion:
    """Contacts matching `condition` are left out, counted under `reason`."""

    reason: str
    condition: Q


def dnc_phones(*, account: Account) -> QuerySet[DncEntry]:
    """The account's do-not-contact phones, as a subquery (`phone__in=`)."""
    return DncEntry.objects.filter(account=account).values("phone")


def consent_exclusions(
    *, account: Account, mode: str = RELATIONSHIP, send_kind: str = "bulk"
) -> list[Exclusion]:
    """The exclusions a bulk send (campaign commit, automation) always applies.

    The consent gate is `compliance.rules.mode_allows` (one source of truth), turned
    into SQL: both modes need a confirmed opt-in for bulk traffic (Relationship mode
    texts only opted-in contacts; Campaign mode lets unconsented voters be texted only
    by manual one-at-a-time sends, never by a bulk send, schedule or automation)."""
    from .rules import statuses_allowed  # rules reads this module's constants

    allowed = [s for s in statuses_allowed(mode, send_kind) if s != SmsStatus.OPTED_OUT]
    return [
        Exclusion(OPTED_OUT, Q(sms_status=SmsStatus.OPTED_OUT)),
        Exclusion(DNC, Q(phone__in=dnc_phones(account=account))),
        Exclusion(NO_OPT_IN, ~Q(sms_status__in=allowed)),
    ]


def classified(contacts: QuerySet[Contact], exclusions: Sequence[Exclusion]) -> QuerySet[Contact]:
    """`contacts` annotated with `exclusion`: the first matching reason, or None."""
    if not exclusions:
        return contacts.annotate(exclusion=Value(None, output_field=CharField()))
    return contacts.annotate(
        exclusion=Case(
            *(When(e.condition, then=Value(e.reason)) for e in exclusions),
            default=Value(None),
            output_field=CharField(),
        )
    )


def eligible(contacts: QuerySet[Contact], exclusions: Sequence[Exclusion]) -> QuerySet[Contact]:
    """The contacts no exclusion matches."""
    if not exclusions:
        return contacts
    return contacts.exclude(functools.reduce(operator.or_, (e.condition for e in exclusions)))


def excluded_counts(
    contacts: QuerySet[Contact], exclusions: Sequence[Exclusion]
) -> tuple[int, dict[str, int]]:
    """(eligible count, {reason: count}) in one GROUP BY over the classified audience."""
    rows = (
        classified(contacts.order_by(), exclusions)
        .values("exclusion")
        .annotate(n=Count("id"))
        .order_by()
    )
    eligible_count, excluded = 0, {}
    for row in rows:
        if row["exclusion"] is None:
            eligible_count = row["n"]
        else:
            excluded[row["exclusion"]] = row["n"]
    return eligible_count, excluded


def may_send_now(
    *, contact: Contact, kind: str | None = None, dnc: bool = False
) -> tuple[bool, str]:
    """The per-message final check's compliance part (re-read right before the call).
    `kind`: the message's keyword-reply kind, if it is one (None: an ordinary message).
    `dnc`: the phone is on the account's do-not-contact list (the caller reads it for a
    whole batch at once); a listed phone gets nothing, keyword replies included."""
    if contact.sms_status == SmsStatus.OPTED_OUT and kind not in SENT_DESPITE_OPT_OUT:
        return False, OPTED_OUT
    if dnc:
        return False, DNC
    return True, ""
