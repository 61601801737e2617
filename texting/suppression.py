"""What texting does when phones go on or come off an account's do-not-contact list
(the hooks `compliance.hooks` calls; registered in `TextingConfig.ready()`).

Listing a phone stops everything already waiting for it, exactly as a STOP does, but
spares nothing (a DNC-listed number gets no keyword reply either): its queued and
scheduled messages in the account are canceled in one statement, charges given back.
A message a dispatcher has already claimed (`sending`) is caught by its final check if
that runs after the listing commits; one whose check ran before is stopped right before
its call by the dispatcher's DNC mark (`dispatch.dnc_mark`), set here before the commit.
"""

from collections.abc import Sequence

from django.db import connection, transaction

from accounts.models import Account
from compliance.eligibility import DNC

from . import dispatch
from .keywords import messages_cancel_to_phones

# The phones among `phones` with a claimed message (message_to_recent serves it).
_IN_FLIGHT = """
SELECT DISTINCT to_number FROM texting_message
WHERE account_id = %(account)s AND to_number = ANY(%(phones)s) AND status = 'sending'
"""


def messages_stop_to_phones(*, account: Account, phones: Sequence[str]) -> None:
    """`phones` were put on `account`'s DNC list (inside that transaction)."""
    messages_cancel_to_phones(account=account, phones=phones, reason=DNC)
    # Only a phone with a claimed message can have a call booked before this commit.
    # Read after the cancel: a claim that raced it has committed by now (the cancel
    # waited for its row locks), so every such row is `sending` and seen here. A list
    # of 50,000 phones costs one indexed read, not 50,000 Redis keys.
    with connection.cursor() as cursor:
        cursor.execute(_IN_FLIGHT, {"account": account.pk, "phones": list(phones)})
        in_flight = [phone for (phone,) in cursor.fetchall()]
    if in_flight:
        dispatch.dnc_mark(account_id=account.pk, phones=in_flight)


def dnc_marks_clear(*, account: Account, phones: Sequence[str]) -> None:
    """`phones` came off `account`'s DNC list: once that commits, their marks go (or new
    messages to them would be stopped until the marks lapse)."""
    phones = list(phones)
    transaction.on_commit(lambda: dispatch.dnc_unmark(account_id=account.pk, phones=phones))
