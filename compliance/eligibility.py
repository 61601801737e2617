"""Who may be texted. The compliance engine (issue 4) owns and extends these rules;
the send engine calls them set-based at commit and per message right before sending.

Today's rules: never an opted-out contact. Stored phones are E.164 and valid by
construction (contacts.phones), so invalid numbers are caught where audiences are
resolved from raw input.
"""

from django.db.models import QuerySet

from accounts.models import Account
from contacts.models import Contact, SmsStatus

# Reasons, as the audit (GET .../audit/) names them.
OPTED_OUT = "opted_out"
INVALID_PHONE = "invalid_phone"


def eligible_contacts(*, account: Account, contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """The subset of `contacts` (of this account) that may receive a campaign message."""
    return contacts.filter(account=account).exclude(sms_status=SmsStatus.OPTED_OUT)


def excluded_counts(*, account: Account, contacts: QuerySet[Contact]) -> dict[str, int]:
    """{reason: count} for the contacts `eligible_contacts` leaves out."""
    opted_out = contacts.filter(account=account, sms_status=SmsStatus.OPTED_OUT).count()
    return {OPTED_OUT: opted_out} if opted_out else {}


def may_send_now(*, contact: Contact) -> tuple[bool, str]:
    """The per-message final check's compliance part (re-read right before the call)."""
    if contact.sms_status == SmsStatus.OPTED_OUT:
        return False, OPTED_OUT
    return True, ""
