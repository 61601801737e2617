"""Inbound keywords applied: STOP, HELP, START (texting.inbound calls this first).

compliance.keywords says what a text asks for and what that does; contacts owns the
contact's status and history; this module, which owns the messages, puts it together
in the caller's transaction (one per inbound event, with the event's own status):

- **opt-out** (account-wide): the contact (one per phone per account) becomes
  `opted_out` with `sms_opt_out` in its history, attributed to the campaign the STOP
  answers; every queued or scheduled message to that phone in the account is canceled
  and any charge on it given back; one confirmation is queued from the number that got
  the STOP. A second STOP changes nothing and gets no second confirmation (it still
  cancels, in case something was queued since). A message already `sending` is caught
  by the dispatcher's final check, which reads the contact's status after its claim,
  or, if that check ran before the STOP, by the opt-out mark each call looks for right
  before it goes (`dispatch.opt_out_mark`, set before this transaction commits).
- **help**: the account's help text, every time, opted out or not.
- **opt-in**: back to `opted_in` with `sms_opt_in` and a confirmation (YES only from
  opted out or pending double opt-in).

Every status change also writes its consent record and audit entry
(`compliance.consent.consent_keyword_record`: `opt_out`, `re_opt_in`, or `confirm` for a
YES that completes a double opt-in; source `keyword`, the inbound message id and the
campaign it answers as the reference, the contact's words as the language). The
confirmations are the account's own texts (`Account.opt_out_confirmation`,
`opt_in_confirmation`, edited on the Settings page).

Replies are ordinary queue rows (no campaign, `queued`, due now) with a `kind`; only a
STOP confirmation and a HELP reply may reach an opted-out number
(compliance.eligibility.may_send_now). A phone on the account's DNC list gets no reply
at all (none is queued, and the final check would refuse one).
"""

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from accounts.models import Account
from compliance.consent import consent_keyword_record
from compliance.eligibility import SENT_DESPITE_OPT_OUT
from compliance.keywords import KeywordMatch, keyword_effect, keyword_reply_text
from compliance.suppression import dnc_listed
from contacts.models import Contact, SmsStatus
from contacts.services import contact_lock, contact_sms_status_change
from phone_numbers.selectors import active_senders
from providers.encoding import segment_count

from . import dispatch, live, sender_health, tasks
from .models import PRIORITY_SEND_AFTER, Direction, Message, MessageKind, MessageStatus

log = logging.getLogger(__name__)

# A reply's idempotency key derives from the inbound message it answers, so even a
# reply queued twice would be one send at the provider.
_REPLY_KEYS = uuid.UUID("6f1d7a52-3c0e-4f3b-9a51-2b8d0c6e4a17")

# Cancel phones' waiting messages in the account and give back what they were
# charged, in one statement (message_to_recent finds the rows). The keyword replies
# that may reach an opted-out number are left alone on a STOP (`exempt`): a STOP never
# cancels its own confirmation; a DNC entry spares nothing. A row a dispatcher claimed
# meanwhile is `sending` when the lock is granted and is skipped (re-checked); its final
# check sees the opt-out (or the DNC entry).
_CANCEL_TO_PHONES = """
WITH gone AS (
    UPDATE texting_message m
    SET status = 'canceled', error_reason = %(reason)s, failed_at = now(), charged = NULL
    FROM (SELECT id, charged FROM texting_message
          WHERE account_id = %(account)s AND to_number = ANY(%(phones)s)
            AND direction = 'outbound' AND status IN ('queued', 'scheduled')
            AND (kind IS NULL OR NOT kind = ANY(%(exempt)s))
          FOR UPDATE) old
    WHERE m.id = old.id
    RETURNING m.campaign_id, m.account_id, old.charged
), refunded AS (
    UPDATE accounts_account a SET balance = a.balance + s.amount
    FROM (SELECT account_id, sum(charged) AS amount FROM gone
          WHERE charged IS NOT NULL GROUP BY account_id) s
    WHERE a.id = s.account_id
    RETURNING a.id
)
SELECT campaign_id, count(*) FROM gone GROUP BY campaign_id
"""


@dataclass
class KeywordOutcome:
    changed: bool  # the contact's status moved
    canceled: int  # waiting messages canceled
    reply: Message | None  # the reply queued, if any


def messages_cancel_to_phone(*, account: Account, phone: str, reason: str) -> int:
    """Cancel every queued or scheduled message to `phone` in `account` (any campaign,
    or none) but a STOP confirmation or HELP reply, refunding their charges. Returns how
    many."""
    return messages_cancel_to_phones(
        account=account, phones=[phone], reason=reason, exempt=SENT_DESPITE_OPT_OUT
    )


def messages_cancel_to_phones(
    *, account: Account, phones: Sequence[str], reason: str, exempt: Collection[str] = ()
) -> int:
    """Cancel every queued or scheduled message to any of `phones` in `account`, in one
    statement, refunding their charges; keyword replies of the `exempt` kinds are left
    alone. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CANCEL_TO_PHONES,
            {
                "account": account.pk,
                "phones": list(phones),
                "reason": reason,
                "exempt": sorted(exempt),
            },
        )
        rows = cursor.fetchall()
    live.campaigns_changed(campaign_id for campaign_id, _ in rows)
    return sum(n for _, n in rows)


def keyword_reply_queue(
    *,
    account: Account,
    contact: Contact,
    from_number: str,
    kind: str,
    body: str,
    answers: str = "",
) -> Message | None:
    """Queue a keyword reply to `contact` from `from_number` (the number they wrote to),
    due now. `answers`: the inbound message's provider id (its idempotency key's seed).
    None for a phone on the account's DNC list: it gets nothing, not even a confirmation."""
    if dnc_listed(account=account, phone=contact.phone):
        return None
    segments, encoding = segment_count(body)
    key = uuid.uuid5(_REPLY_KEYS, f"{answers}:{kind}") if answers else uuid.uuid4()
    # A confirmation goes now, not at the next beat tick (CTIA: promptly after the STOP).
    transaction.on_commit(lambda: tasks.kick_dispatch(loops=1))
    return Message.objects.create(
        account=account,
        campaign=None,
        contact=contact,
        direction=Direction.OUTBOUND,
        from_number=from_number,
        to_number=contact.phone,
        body=body,
        segments=segments,
        encoding=encoding,
        status=MessageStatus.QUEUED,
        send_after=PRIORITY_SEND_AFTER,  # ahead of bulk traffic on that number
        kind=kind,
        idempotency_key=key,
    )


def confirmation_request_text(account: Account) -> str:
    """The double opt-in request: program name, YES to confirm, frequency, rates, HELP
    and STOP (compliance.md §2: what an opt-in confirmation must carry)."""
    return (
        f"{account.name}: reply YES to confirm you want texts from us. Msg frequency "
        "varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out."
    )


def _request_sender(*, account: Account, phone: str) -> str | None:
    """The number to ask from: the one that last texted this phone, if the account
    still sends from it (their thread stays one thread), else its first active number
    (long codes before toll-free before short codes)."""
    active = active_senders(account=account).order_by("kind", "e164")
    last = (
        Message.objects.filter(account=account, to_number=phone, direction=Direction.OUTBOUND)
        .order_by("-created_at")
        .values_list("from_number", flat=True)
        .first()
    )
    if last and active.filter(e164=last).exists():
        return last
    return active.values_list("e164", flat=True).first()


def confirmation_request_queue(
    *, account_id: int, contact_id: int, record_id: int
) -> Message | None:
    """Ask a contact a double opt-in made pending to reply YES (compliance.hooks, in the
    consent record's transaction). Queued ahead of bulk traffic; the dispatcher holds it
    through the recipient's quiet hours and drops it if they are no longer pending by
    then. Its idempotency key derives from the consent record: one request per record.
    None (nothing queued) for a DNC-listed phone or an account with no active number."""
    contact = (
        Contact.objects.select_related("account")
        .filter(account_id=account_id, pk=contact_id)
        .first()
    )
    if contact is None or contact.sms_status != SmsStatus.PENDING:
        return None
    account = contact.account
    sender = _request_sender(account=account, phone=contact.phone)
    if sender is None:
        log.warning(
            "double opt-in request not sent: account %s has no active number (contact %s)",
            account.pk,
            contact.pk,
        )
        return None
    with transaction.atomic():
        return keyword_reply_queue(
            account=account,
            contact=contact,
            from_number=sender,
            kind=MessageKind.CONFIRMATION_REQUEST,
            body=confirmation_request_text(account),
            answers=f"consent-record:{record_id}",
        )


def inbound_keyword_apply(
    *,
    account: Account,
    contact: Contact,
    match: KeywordMatch,
    our_number: str,
    campaign_id: int | None,
    at: datetime | None,
    data: dict[str, Any],
) -> KeywordOutcome:
    """Apply an inbound keyword from `contact` to `our_number` (see the module
    docstring). `campaign_id`: the campaign the message answers; `data`: the inbound
    message's record, copied to the history event."""
    effect = keyword_effect(match)
    with transaction.atomic():
        canceled = 0
        if effect.to_status == SmsStatus.OPTED_OUT:
            # Before the commit: calls booked before it must not start after it.
            dispatch.opt_out_mark(account_id=account.pk, phone=contact.phone)
            canceled = messages_cancel_to_phone(
                account=account, phone=contact.phone, reason="opted out"
            )
        changed = False
        if effect.to_status is not None:
            # Locked already by the inbound path; read here so the consent record
            # says what the keyword changed (opt-out, re-opt-in, double opt-in confirmed).
            before = contact_lock(contact=contact).sms_status
            changed = contact_sms_status_change(
                contact=contact,
                to=effect.to_status,
                event_type=effect.event_type,
                source="keyword",
                at=at,
                only_from=effect.only_from,
                campaign_id=campaign_id,
                data={
                    **data,
                    "keyword": match.keyword,
                    "rule": match.rule,
                    "canceled": canceled,
                },
            )
        if changed:
            # The consent record and audit entry, in the status change's transaction.
            consent_keyword_record(
                contact=contact,
                before=before,
                after=effect.to_status,
                keyword=match.keyword,
                text=data.get("text") or "",
                provider_message_id=data.get("provider_message_id") or "",
                campaign_id=campaign_id,
                at=at,
            )
        if changed and effect.to_status == SmsStatus.OPTED_OUT:
            sender_health.count(our_number, sender_health.OPTED_OUT)  # the number's health
        if changed and effect.to_status == SmsStatus.OPTED_IN:
            transaction.on_commit(
                lambda: dispatch.opt_out_unmark(account_id=account.pk, phone=contact.phone)
            )
        reply = None
        if changed or not effect.reply_on_change_only:
            reply = keyword_reply_queue(
                account=account,
                contact=contact,
                from_number=our_number,
                kind=effect.reply_kind,
                body=keyword_reply_text(
                    kind=effect.reply_kind,
                    help_text=account.help_text,
                    opt_out_text=account.opt_out_confirmation,
                    opt_in_text=account.opt_in_confirmation,
                ),
                answers=data.get("provider_message_id") or "",
            )
    return KeywordOutcome(changed=changed, canceled=canceled, reply=reply)
