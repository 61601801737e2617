"""The account's do-not-contact list: add, remove, import, mark as spam; and its reads.

A listed phone gets nothing, whatever the path: commit leaves it out (the `dnc`
exclusion in `compliance.eligibility`), the dispatcher's final check refuses it
(`may_send_now(dnc=True)`) and so does its last-moment mark, and keyword replies are not
queued to it. Putting a phone on the list also stops what is already waiting for it:
`texting` registers a hook (`compliance.hooks.register_phones_suppressed`) that cancels
the phone's queued and scheduled messages in the account and marks it for calls already
booked, inside the transaction that lists it.

Every add and remove writes a `compliance.AuditEntry` in the same transaction (who,
when, old -> new, why). Nothing here expires: the list is kept until someone removes an
entry (Virginia: honour a stop for 10 years; shared/reference/compliance.md).
"""

import json
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Account
from contacts import csvfile
from contacts.models import Contact
from contacts.phones import InvalidPhone, ascii_digits, normalize_phone
from providers.base import RECIPIENT_REFUSED_CODES

from . import hooks
from .models import AuditEntry, DncEntry, DncReason

DNC_ADDED = "dnc_added"
DNC_REMOVED = "dnc_removed"

NOTE_MAX = DncEntry._meta.get_field("note").max_length

IMPORT_MAX_ROWS = 50_000
IMPORT_MAX_BYTES = 10 * 1024 * 1024
IMPORT_MAX_ERRORS = 1_000  # listed one by one; the counts always cover every row


# --- Reads ---------------------------------------------------------------------------


def dnc_list(*, account: Account, q: str = "") -> QuerySet[DncEntry]:
    """The account's DNC entries, newest first; `q` matches phone digits or the note."""
    entries = DncEntry.objects.filter(account=account).select_related("added_by")
    q = q.strip()
    if q:
        match = Q(note__icontains=q)
        digits = ascii_digits(q)
        if len(digits) >= 3:
            match |= Q(phone__contains=digits)
        entries = entries.filter(match)
    return entries.order_by("-created_at", "-id")


def access_dnc_entry(*, account: Account, entry_id: int) -> DncEntry:
    """The account's DNC entry, or 404 (also for another tenant's id)."""
    return get_object_or_404(
        DncEntry.objects.select_related("account"), account=account, pk=entry_id
    )


def dnc_entry_for_phone(*, account: Account, phone: str) -> DncEntry | None:
    return DncEntry.objects.filter(account=account, phone=phone).first()


def dnc_listed(*, account: Account, phone: str) -> bool:
    """Is `phone` (E.164) on the account's DNC list? (the unique (account, phone) index)"""
    return DncEntry.objects.filter(account=account, phone=phone).exists()


# --- Changes ---------------------------------------------------------------------------


def _check_entry(phone: str, reason: str, note: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    try:
        e164 = normalize_phone(phone)
    except InvalidPhone as exc:
        errors["phone"] = str(exc)
        e164 = ""
    if reason not in DncReason.values:
        errors["reason"] = f"'{reason}' is not a DNC reason ({', '.join(DncReason.values)})."
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters."
    if errors:
        raise ValidationError(errors)
    return e164, note


def _contact_id(account: Account, phone: str) -> int | None:
    return Contact.objects.filter(account=account, phone=phone).values_list("pk", flat=True).first()


def dnc_add(
    *,
    account: Account,
    phone: str,
    reason: str,
    note: str = "",
    actor: AbstractBaseUser | None = None,
) -> tuple[DncEntry, bool]:
    """Put `phone` (any form a person types) on the account's DNC list. Returns (entry,
    created); a phone already listed is left as it is (created False, nothing written).

    Raises ValidationError keyed by field (`phone`, `reason`, `note`); nothing changes."""
    e164, note = _check_entry(phone, reason, note)
    with transaction.atomic():
        try:
            with transaction.atomic():
                entry = DncEntry.objects.create(
                    account=account, phone=e164, reason=reason, note=note, added_by=actor
                )
        except IntegrityError:  # listed already (or by a concurrent add): one entry
            return DncEntry.objects.get(account=account, phone=e164), False
        AuditEntry.objects.create(
            account=account,
            phone=e164,
            contact_id=_contact_id(account, e164),
            action=DNC_ADDED,
            actor=actor,
            data={"old": "not listed", "new": "listed", "reason": reason, "note": note},
            at=entry.created_at,
        )
        hooks.phones_suppressed(account=account, phones=[e164])
    return entry, True


def dnc_remove(*, entry: DncEntry, actor: AbstractBaseUser | None = None) -> bool:
    """Take `entry` off its account's DNC list. The contact's consent is not touched (an
    opted-out contact stays opted out). False when it was already gone."""
    account = entry.account
    with transaction.atomic():
        deleted, _ = DncEntry.objects.filter(pk=entry.pk, account=account).delete()
        if not deleted:
            return False
        AuditEntry.objects.create(
            account=account,
            phone=entry.phone,
            contact_id=_contact_id(account, entry.phone),
            action=DNC_REMOVED,
            actor=actor,
            data={
                "old": "listed",
                "new": "not listed",
                "reason": entry.reason,
                "note": entry.note,
                "listed_at": entry.created_at.isoformat(),
            },
            at=timezone.now(),
        )
        hooks.phones_released(account=account, phones=[entry.phone])
    return True


def contact_mark_spam(
    *, contact: Contact, actor: AbstractBaseUser | None = None, note: str = ""
) -> tuple[DncEntry, bool]:
    """The contact's phone goes on the DNC list with reason `spam` (the inbox's "spam"
    button). A phone already listed stays listed under its first reason."""
    return dnc_add(
        account=contact.account,
        phone=contact.phone,
        reason=DncReason.SPAM,
        note=note or "Marked as spam",
        actor=actor,
    )


def carrier_refusal_record(*, account_id: int, phone: str, code: str, title: str = "") -> bool:
    """A carrier answered a send to `phone` with a code that says the recipient refuses
    our messages (`providers.base.RECIPIENT_REFUSED_CODES`): the phone goes on the DNC
    list with reason `complaint`. True when the code is one of those (listed now or
    before); other codes change nothing."""
    if code not in RECIPIENT_REFUSED_CODES:
        return False
    dnc_add(
        account=Account.objects.get(pk=account_id),
        phone=phone,
        reason=DncReason.COMPLAINT,
        note=(f"Carrier error {code}: {title}" if title else f"Carrier error {code}")[:NOTE_MAX],
    )
    return True


# --- CSV import ------------------------------------------------------------------------


@dataclass
class DncImportResult:
    rows: int = 0  # data rows read (blank lines not counted)
    added: int = 0
    already_listed: int = 0
    invalid: int = 0
    duplicates: int = 0  # the same phone again further down the file
    errors: list[dict[str, Any]] = field(default_factory=list)  # [{row, reason}], by row
    errors_omitted: int = 0  # errors beyond IMPORT_MAX_ERRORS (counted, not listed)

    def error(self, row: int, reason: str) -> None:
        if len(self.errors) < IMPORT_MAX_ERRORS:
            self.errors.append({"row": row, "reason": reason})
        else:
            self.errors_omitted += 1


# One statement for the whole file: insert what is not listed yet, and the audit row of
# each insert, joined to the account's contacts by phone (the unique (account, phone)
# indexes on both tables serve the conflict check and the join).
_IMPORT = """
WITH listed AS (
    INSERT INTO compliance_dncentry (account_id, phone, reason, note, added_by_id, created_at)
    SELECT %(account)s, phone, %(reason)s, %(note)s, %(actor)s, %(at)s
    FROM unnest(%(phones)s::text[]) AS input(phone)
    ON CONFLICT (account_id, phone) DO NOTHING
    RETURNING phone
)
INSERT INTO compliance_auditentry (account_id, phone, contact_id, action, actor_id, data, at)
SELECT %(account)s, listed.phone, c.id, %(action)s, %(actor)s, %(data)s::jsonb, %(at)s
FROM listed
LEFT JOIN contacts_contact c ON c.account_id = %(account)s AND c.phone = listed.phone
RETURNING phone
"""


def dnc_import_csv(
    *,
    account: Account,
    file: IO[bytes] | bytes,
    actor: AbstractBaseUser | None = None,
    filename: str = "",
) -> DncImportResult:
    """Add every phone of a CSV file to the account's DNC list (reason `import`).

    The phone column is found by its header ("phone", "mobile", "cell", ...), which may
    be any column and need not be the first line; a file of bare phone numbers needs
    none. UTF-8 (BOM or not) or Windows-1252; blank lines are skipped. Rows are numbered
    as a spreadsheet shows them (the header is row 1 when it is the first line); invalid
    phones and repeats of a phone already read are reported by row and skipped. Phones
    already on the list are counted, not changed. One transaction, one INSERT for the
    file (about a second for 50,000 rows, most of it reading the phone numbers).

    Raises ValidationError on `file` (unreadable, too big, no phone column); then nothing
    changes."""
    data = file if isinstance(file, bytes) else file.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationError({"file": "The file is larger than 10 MB; split it."})
    rows = csvfile.read_file(data)
    header, column = csvfile.phone_column(rows)
    result = DncImportResult()
    first_row: dict[str, int] = {}
    for i in range(header + 1, len(rows)):
        row = rows[i]
        if csvfile.is_blank(row):
            continue
        result.rows += 1
        if result.rows > IMPORT_MAX_ROWS:
            raise ValidationError(
                {"file": f"The file has more than {IMPORT_MAX_ROWS:,} rows; split it."}
            )
        number = i + 1  # as a spreadsheet numbers the line
        raw = row[column].strip() if column < len(row) else ""
        if not raw:
            result.invalid += 1
            result.error(number, "No phone number in the phone column.")
            continue
        try:
            e164 = normalize_phone(raw)
        except InvalidPhone as exc:
            result.invalid += 1
            result.error(number, str(exc))
            continue
        if e164 in first_row:
            result.duplicates += 1
            result.error(number, f"{e164} is repeated (first on row {first_row[e164]}).")
            continue
        first_row[e164] = number
    phones = list(first_row)
    note = f"Imported from {filename}"[:NOTE_MAX] if filename else "Imported from a CSV file"
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _IMPORT,
                {
                    "account": account.pk,
                    "reason": DncReason.IMPORT.value,
                    "note": note,
                    "actor": actor.pk if actor is not None else None,
                    "at": timezone.now(),
                    "phones": phones,
                    "action": DNC_ADDED,
                    "data": json.dumps(
                        {"old": "not listed", "new": "listed", "reason": "import", "note": note}
                    ),
                },
            )
            added = [phone for (phone,) in cursor.fetchall()]
        if added:
            hooks.phones_suppressed(account=account, phones=added)
    result.added = len(added)
    result.already_listed = len(phones) - len(added)
    return result
