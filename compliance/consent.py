"""Consent provenance: recording how a contact opted in (or out), and its reads.

Every consent event is an append-only `ConsentRecord` (who, when, where, the words the
person agreed to) plus an `AuditEntry`, written in the same transaction as the
contact's status change (`contacts.services.contact_sms_status_change`, which writes the
engagement history event), so the three always agree.

What a record does to the contact's `sms_status`:

| status before | method single | method double |
|---------------|---------------|---------------|
| none          | opted_in      | pending (until the contact replies YES) |
| pending       | opted_in      | pending |
| opted_in      | opted_in      | opted_in (an existing opt-in is never downgraded) |
| opted_out     | opted_in *    | pending * |

\\* **Overriding a STOP.** Only new, explicit consent undoes an opt-out. A record for an
opted-out contact is refused (422, naming the field) unless it

- was captured *after* the contact's last opt-out (consent given before a STOP is what
  the STOP revoked),
- names its source (`source_ref`: which form, survey, CTA, call) and carries the
  language the person agreed to (`consent_language`), whatever its source type, and
- is not a list import (a list is not the person's own new request).

Such a record is a `re_opt_in`. Keywords are recorded by `consent_keyword_record`
(texting.keywords applies them): STOP → `opt_out`, START/UNSTOP/YES after a STOP →
`re_opt_in`, YES while pending → `confirm` (the double opt-in completed).

When a double opt-in record makes a contact `pending`, `hooks.confirmation_needed` runs
in the same transaction: texting queues them "reply YES to confirm" (texting.keywords).

When a record moves a contact to `opted_in`, `hooks.opted_in` runs after the commit:
texting clears the dispatcher's opt-out mark for that phone, or messages to a contact
who opted back in within the last two minutes would still be canceled.
"""

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from contacts.models import Contact, EngagementEvent, EventType, SmsStatus
from contacts.services import contact_lock, contact_sms_status_change

from . import hooks
from .models import AuditEntry, ConsentAction, ConsentMethod, ConsentRecord, ConsentSource

# Sources whose consent is a piece of text the person agreed to: without that language
# the record is no evidence.
LANGUAGE_REQUIRED = frozenset({ConsentSource.FORM, ConsentSource.SURVEY, ConsentSource.CTA})
# A client's clock may run a little ahead of ours.
FUTURE_TOLERANCE = datetime.timedelta(minutes=1)
SOURCE_REF_MAX = ConsentRecord._meta.get_field("source_ref").max_length
USER_AGENT_MAX = ConsentRecord._meta.get_field("user_agent").max_length
LANGUAGE_MAX = 2000


class ConsentError(Exception):
    """Bad input; `errors` maps each field to what is wrong with it (API: 400)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ConsentBlocked(ConsentError):
    """Well-formed, but it may not change this contact: a STOP stands (API: 422)."""


@dataclass(frozen=True)
class _Input:
    source_type: str
    method: str
    source_ref: str
    consent_language: str
    captured_at: datetime.datetime
    ip: str | None
    user_agent: str


def _check(
    *,
    source_type: str,
    method: str,
    source_ref: str,
    consent_language: str,
    captured_at: datetime.datetime | None,
    ip: str | None,
    user_agent: str,
) -> _Input:
    errors: dict[str, str] = {}
    source_ref, consent_language = (source_ref or "").strip(), (consent_language or "").strip()
    user_agent = (user_agent or "").strip()
    if source_type not in ConsentSource.values:
        errors["source_type"] = (
            f"'{source_type}' is not a consent source; use one of {', '.join(ConsentSource.values)}."
        )
    if method not in ConsentMethod.values:
        errors["method"] = f"'{method}' is not a method; use single or double."
    if source_type in LANGUAGE_REQUIRED and not consent_language:
        errors["consent_language"] = (
            f"A {source_type} consent needs the exact language the person agreed to."
        )
    elif len(consent_language) > LANGUAGE_MAX:
        errors["consent_language"] = f"Consent language must fit in {LANGUAGE_MAX} characters."
    if len(source_ref) > SOURCE_REF_MAX:
        errors["source_ref"] = f"The source reference must fit in {SOURCE_REF_MAX} characters."
    if len(user_agent) > USER_AGENT_MAX:
        errors["user_agent"] = f"The user agent must fit in {USER_AGENT_MAX} characters."
    now = timezone.now()
    if captured_at is None:
        captured_at = now
    elif timezone.is_naive(captured_at):
        errors["captured_at"] = "Give the time with its time zone (e.g. 2026-11-02T14:05:00Z)."
    elif captured_at > now + FUTURE_TOLERANCE:
        errors["captured_at"] = "Consent cannot be captured in the future."
    if ip:
        try:
            ip = str(ipaddress.ip_address(str(ip).strip()))
        except ValueError:
            errors["ip"] = f"'{ip}' is not an IPv4 or IPv6 address."
    if errors:
        raise ConsentError(errors)
    return _Input(
        source_type, method, source_ref, consent_language, captured_at, ip or None, user_agent
    )


def last_opt_out_at(*, contact: Contact) -> datetime.datetime | None:
    """When the contact last opted out: the latest opt-out record, or (for opt-outs older
    than consent records) the latest `sms_opt_out` history event."""
    recorded = ConsentRecord.objects.filter(
        contact=contact, action=ConsentAction.OPT_OUT
    ).aggregate(at=Max("captured_at"))["at"]
    history = EngagementEvent.objects.filter(contact=contact, type=EventType.SMS_OPT_OUT).aggregate(
        at=Max("at")
    )["at"]
    return max((t for t in (recorded, history) if t is not None), default=None)


def _check_stop_override(*, contact: Contact, given: _Input) -> None:
    errors: dict[str, str] = {}
    if given.source_type == ConsentSource.IMPORT:
        errors["source_type"] = (
            "This contact opted out; a list import cannot override a STOP. Only new consent "
            "the person gave after opting out can."
        )
    if not given.source_ref:
        errors["source_ref"] = (
            "This contact opted out: name where the new consent came from (form, survey, call)."
        )
    if not given.consent_language:
        errors["consent_language"] = (
            "This contact opted out: record the language they agreed to when opting back in."
        )
    stopped = last_opt_out_at(contact=contact)
    if stopped is not None and given.captured_at <= stopped:
        errors["captured_at"] = (
            f"This contact opted out at {stopped:%Y-%m-%d %H:%M} UTC; consent captured before "
            "that was revoked by the STOP. Only consent given afterwards can opt them back in."
        )
    if errors:
        raise ConsentBlocked(errors)


def _status_after(*, before: str, method: str) -> str:
    if before == SmsStatus.OPTED_IN:
        return SmsStatus.OPTED_IN  # an existing opt-in is not downgraded to pending
    return SmsStatus.OPTED_IN if method == ConsentMethod.SINGLE else SmsStatus.PENDING


def _audit(
    *,
    record: ConsentRecord,
    before: str,
    actor: AbstractBaseUser | None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        account_id=record.account_id,
        phone=record.phone,
        contact_id=record.contact_id,
        action=f"consent_{record.action}",
        actor=actor,
        at=timezone.now(),
        data={
            "consent_record": record.pk,
            "from": before,
            "to": record.status_after,
            "source_type": record.source_type,
            "source_ref": record.source_ref,
            "method": record.method,
            **(data or {}),
        },
    )


def consent_record(
    *,
    contact: Contact,
    source_type: str,
    method: str = ConsentMethod.SINGLE,
    source_ref: str = "",
    consent_language: str = "",
    captured_at: datetime.datetime | None = None,
    ip: str | None = None,
    user_agent: str = "",
    actor: AbstractBaseUser | None = None,
) -> ConsentRecord:
    """Record consent the contact gave (see the module docstring for what it does to
    their status and when a STOP may be overridden). One transaction: the record, the
    status change with its history event, and the audit entry, or none of them.

    Raises ConsentError (bad input) or ConsentBlocked (an opt-out stands), keyed by
    field; nothing changes then."""
    given = _check(
        source_type=source_type,
        method=method,
        source_ref=source_ref,
        consent_language=consent_language,
        captured_at=captured_at,
        ip=ip,
        user_agent=user_agent,
    )
    with transaction.atomic():
        before = contact_lock(contact=contact).sms_status
        if before == SmsStatus.OPTED_OUT:
            _check_stop_override(contact=contact, given=given)
            action = ConsentAction.RE_OPT_IN
        else:
            action = ConsentAction.OPT_IN
        after = _status_after(before=before, method=given.method)
        record = ConsentRecord.objects.create(
            account_id=contact.account_id,
            contact=contact,
            phone=contact.phone,
            action=action,
            source_type=given.source_type,
            source_ref=given.source_ref,
            consent_language=given.consent_language,
            method=given.method,
            captured_at=given.captured_at,
            ip=given.ip,
            user_agent=given.user_agent,
            status_after=after,
            recorded_by=actor,
        )
        if after != before:
            contact_sms_status_change(
                contact=contact,
                to=after,
                event_type=EventType.SMS_OPT_IN,
                source=f"consent:{given.source_type}",
                at=given.captured_at,
                only_from={before},
                data={"consent_record": record.pk, "method": given.method},
            )
        _audit(record=record, before=before, actor=actor)
        if after == SmsStatus.OPTED_IN and before != SmsStatus.OPTED_IN:
            account_id, phone = contact.account_id, contact.phone
            transaction.on_commit(lambda: hooks.opted_in(account_id=account_id, phone=phone))
        elif after == SmsStatus.PENDING and before != SmsStatus.PENDING:
            # Ask once, when the contact becomes pending (a second double record while
            # they have not answered sends no second request), in this transaction: the
            # record and its request are queued together or not at all.
            hooks.confirmation_needed(
                account_id=contact.account_id, contact_id=contact.pk, record_id=record.pk
            )
    return record


def consent_keyword_record(
    *,
    contact: Contact,
    before: str,
    after: str,
    keyword: str,
    text: str,
    provider_message_id: str,
    campaign_id: int | None,
    at: datetime.datetime | None,
) -> ConsentRecord:
    """The consent record and audit entry of an inbound keyword that changed the
    contact's status from `before` to `after` (texting.keywords calls it in the
    keyword's transaction, after the status change). `text`: the contact's own words,
    kept as the record's language (for a YES, the confirmation itself)."""
    if after == SmsStatus.OPTED_OUT:
        action, method = ConsentAction.OPT_OUT, ConsentMethod.SINGLE
    elif before == SmsStatus.PENDING:
        action, method = ConsentAction.CONFIRM, ConsentMethod.DOUBLE
    elif before == SmsStatus.OPTED_OUT:
        action, method = ConsentAction.RE_OPT_IN, ConsentMethod.SINGLE
    else:
        action, method = ConsentAction.OPT_IN, ConsentMethod.SINGLE
    ref = f"message {provider_message_id}" if provider_message_id else "inbound message"
    if campaign_id is not None:
        ref += f", campaign {campaign_id}"
    record = ConsentRecord.objects.create(
        account_id=contact.account_id,
        contact=contact,
        phone=contact.phone,
        action=action,
        source_type=ConsentSource.KEYWORD,
        source_ref=ref[:SOURCE_REF_MAX],
        consent_language=(text or keyword)[:LANGUAGE_MAX],
        method=method,
        captured_at=at or timezone.now(),
        status_after=after,
    )
    _audit(
        record=record,
        before=before,
        actor=None,
        data={
            "keyword": keyword,
            "provider_message_id": provider_message_id,
            "campaign_id": campaign_id,
        },
    )
    return record


def consent_trail(*, contact: Contact) -> QuerySet[ConsentRecord]:
    """The contact's consent records, newest first (the (contact, -captured_at) index)."""
    return (
        ConsentRecord.objects.filter(account_id=contact.account_id, contact=contact)
        .select_related("recorded_by")
        .order_by("-captured_at", "-id")
    )
