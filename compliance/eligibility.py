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

# Kinds of the replies inbound keywords trigger (texting.models.MessageKind stores them;
# an ordinary message has none).
OPT_OUT_CONFIRMATION = "opt_out_confirmation"
HELP_REPLY = "help_reply"
OPT_IN_CONFIRMATION = "opt_in_confirmation"
# The only messages an opted-out number may receive: the one confirmation of its STOP
# and the answer to its HELP (CTIA: both go whether or not the number is subscribed).
# An opt-in confirmation is not among them: a STOP sent after START cancels it.
SENT_DESPITE_OPT_OUT = frozenset({OPT_OUT_CONFIRMATION, HELP_REPLY})


def eligible_contacts(*, account: Account, contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """The subset of `contacts` (of this account) that may receive a campaign message."""
    return contacts.filter(account=account).exclude(sms_status=SmsStatus.OPTED_OUT)


def excluded_counts(*, account: Account, contacts: QuerySet[Contact]) -> dict[str, int]:
    """{reason: count} for the contacts `eligible_contacts` leaves out."""
    opted_out = contacts.filter(account=account, sms_status=SmsStatus.OPTED_OUT).count()
    return {OPTED_OUT: opted_out} if opted_out else {}


def may_send_now(*, contact: Contact, kind: str | None = None) -> tuple[bool, str]:
    """The per-message final check's compliance part (re-read right before the call).
    `kind`: the message's keyword-reply kind, if it is one (None: an ordinary message)."""
    if contact.sms_status == SmsStatus.OPTED_OUT and kind not in SENT_DESPITE_OPT_OUT:
        return False, OPTED_OUT
    return True, ""
