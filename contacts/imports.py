"""Contact imports: a CSV file (up to 50,000 rows, in the background) or pasted numbers
(up to 10,000, at once), matched to the account's contacts by phone.

The file is read with `contacts.csvfile` (the DNC import reads files the same way):
UTF-8 with or without a BOM, UTF-16, or Windows-1252; the header row in any position
and its columns in any order; the phone column found by its name, the columns named
like contact fields mapped to them and the rest kept in `custom_fields`. Rows are
numbered as a spreadsheet shows them (a quoted cell with line breaks is one row); blank
rows are skipped; an invalid phone and a phone already read higher up are reported with
their row and imported no further.

Writes are set-based: the valid rows go in chunks of `CHUNK_ROWS`, each one
`INSERT ... ON CONFLICT (account_id, phone) DO UPDATE` (a phone we know updates that
contact; blank cells never erase what the record holds; an existing contact keeps its
pool), one `INSERT` of the list Tribe's members, and the import's progress, in one
transaction. A worker that dies mid-way loses nothing: what committed is counted, and
the task, run again (Celery redelivers it: late acks), carries on after the last chunk
that committed; the upserts are idempotent anyway, so nothing is ever duplicated.

Consent is not imported: a new contact starts with `sms_status = none` and an existing
one keeps its status. Consent with provenance is recorded through `compliance`.
"""

import csv
import io
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Account

from . import csvfile
from .geo import STATE_NAMES, STATE_ZONES, TimezoneGuess, guess_timezone, state_for_zip
from .models import Contact, ContactImport, ImportStatus, Pool, Tribe, TribeKind
from .phones import InvalidPhone, normalize_phone

IMPORT_MAX_ROWS = 50_000
IMPORT_MAX_BYTES = 20 * 1024 * 1024
PASTE_MAX_NUMBERS = 10_000
ERRORS_LISTED = 1_000  # the API and the page list this many; the report has every row
CHUNK_ROWS = 5_000

# Header cells (compared by `csvfile.header_key`) that name a contact field.
FIELD_HEADERS = {
    "first_name": {"firstname", "first", "fname", "givenname", "forename"},
    "last_name": {"lastname", "last", "lname", "surname", "familyname"},
    "preferred_name": {"preferredname", "nickname", "goesby"},
    "street": {"street", "address", "streetaddress", "address1", "addressline1", "addr"},
    "city": {"city", "town", "locality"},
    "state": {"state", "st", "statecode", "province", "region"},
    "zip": {"zip", "zipcode", "zip5", "postalcode", "postcode", "postal"},
}
_FIELD_FOR_KEY = {key: name for name, keys in FIELD_HEADERS.items() for key in keys}
_MAX_LENGTH = {name: Contact._meta.get_field(name).max_length for name in FIELD_HEADERS}


# --- Reading -------------------------------------------------------------------------


@dataclass
class Row:
    """A valid row: its number, the phone (E.164), contact fields and custom fields."""

    row: int
    phone: str
    fields: dict[str, str]
    custom: dict[str, str]


@dataclass
class Parsed:
    rows: list[Row] = field(default_factory=list)  # valid and first of their phone
    total: int = 0  # data rows read (blank rows not counted)
    invalid: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)  # [{row, value, reason}], by row


def _clean_state(value: str) -> str:
    code = value.strip().upper()
    if code in STATE_ZONES:
        return code
    return STATE_NAMES.get(csvfile.header_key(value), "")


def custom_key(header: str) -> str:
    """'Precinct #' -> 'precinct': the name a column gets in `custom_fields` (letters,
    digits and underscores, as the contact API and the filter language's `custom.<key>`
    expect)."""
    return re.sub(r"[^a-z0-9]+", "_", header.strip().lower()).strip("_")


def _columns(header: list[str], phone_at: int) -> tuple[dict[int, str], dict[int, str]]:
    """({column: contact field}, {column: custom key}) for a header row; the first
    column naming a field wins, later ones are kept as custom fields. Linear in the
    number of columns (the names taken are sets, not a scan of what was mapped)."""
    fields: dict[int, str] = {}
    custom: dict[int, str] = {}
    taken_fields: set[str] = set()
    taken_keys: set[str] = set()
    for j, cell in enumerate(header):
        if j == phone_at:
            continue
        name = _FIELD_FOR_KEY.get(csvfile.header_key(cell))
        if name and name not in taken_fields:
            fields[j] = name
            taken_fields.add(name)
        elif (key := custom_key(cell)) and key not in taken_keys:
            custom[j] = key
            taken_keys.add(key)
    return fields, custom


def _check(entries: Iterable[tuple[int, str, dict[str, str], dict[str, str]]]) -> Parsed:
    """Normalise each entry's phone; report invalid ones and repeats by row."""
    parsed = Parsed()
    first_row: dict[str, int] = {}
    for number, raw, fields, custom in entries:
        parsed.total += 1
        raw = raw.strip()
        if not raw:
            parsed.invalid += 1
            parsed.errors.append({"row": number, "value": raw, "reason": "No phone number."})
            continue
        try:
            phone = normalize_phone(raw)
        except InvalidPhone as exc:
            parsed.invalid += 1
            parsed.errors.append({"row": number, "value": raw, "reason": str(exc)})
            continue
        if phone in first_row:
            parsed.duplicates += 1
            parsed.errors.append(
                {
                    "row": number,
                    "value": raw,
                    "reason": f"{phone} is repeated (first on row {first_row[phone]}); "
                    "imported once.",
                }
            )
            continue
        first_row[phone] = number
        parsed.rows.append(Row(number, phone, fields, custom))
    return parsed


def _csv_entries(rows: list[list[str]]) -> Iterator[tuple[int, str, dict, dict]]:
    header, phone_at = csvfile.phone_column(rows)
    fields, custom = _columns(rows[header], phone_at) if header >= 0 else ({}, {})
    for i in range(header + 1, len(rows)):
        row = rows[i]
        if csvfile.is_blank(row):
            continue
        values: dict[str, str] = {}
        for j, name in fields.items():
            value = row[j].strip() if j < len(row) else ""
            if name == "state":
                value = _clean_state(value)
            if value:
                values[name] = value[: _MAX_LENGTH[name]]
        extra = {
            key: row[j].strip() for j, key in custom.items() if j < len(row) and row[j].strip()
        }
        raw = row[phone_at] if phone_at < len(row) else ""
        yield i + 1, raw, values, extra  # numbered as a spreadsheet shows the row


def count_data_rows(rows: list[list[str]]) -> int:
    header, _ = csvfile.phone_column(rows)
    return sum(1 for row in rows[header + 1 :] if not csvfile.is_blank(row))


def parse_csv(data: bytes) -> Parsed:
    """Read a contact CSV. Raises ValidationError on `file` (unreadable, no phone column)."""
    return _check(_csv_entries(csvfile.read_file(data)))


# A separator between pasted numbers: line breaks, commas, semicolons, tabs.
_PASTE_SPLIT = re.compile(r"[\r\n,;\t]+")


def paste_entries(text: str) -> list[str]:
    """The numbers in pasted text: one per line, or separated by commas, semicolons,
    tabs or spaces. '(503) 555-0100' stays one number; a line of several numbers
    separated by spaces is split when every part is a phone. Full-width and ideographic
    separators (`，`, `；`) count too (NFKC folds them, contacts.phones)."""
    entries: list[str] = []
    for piece in _PASTE_SPLIT.split(unicodedata.normalize("NFKC", text or "")):
        piece = piece.strip()
        if not piece:
            continue
        parts = piece.split()
        if len(parts) > 1:
            try:
                normalize_phone(piece)
            except InvalidPhone:
                if all(_is_phone(part) for part in parts):
                    entries.extend(parts)
                    continue
        entries.append(piece)
    return entries


def _is_phone(text: str) -> bool:
    try:
        normalize_phone(text)
    except InvalidPhone:
        return False
    return True


# --- Creating an import -----------------------------------------------------------------


def list_tribe_for(*, account: Account, name: str, actor: AbstractBaseUser | None) -> Tribe | None:
    """The account's list Tribe called `name`, created when there is none (an import
    adds to an existing list of that name). None for a blank name. A saved-filter Tribe
    of that name is a ValidationError on `tribe_name`."""
    name = (name or "").strip()
    if not name:
        return None
    if len(name) > Tribe._meta.get_field("name").max_length:
        raise ValidationError({"tribe_name": "Keep the list name under 200 characters."})
    for _ in range(2):
        tribe = Tribe.objects.filter(account=account, name=name).first()
        if tribe is not None:
            if tribe.kind != TribeKind.LIST:
                raise ValidationError(
                    {"tribe_name": f"“{name}” is a saved filter, not a list; choose another name."}
                )
            return tribe
        try:
            with transaction.atomic():
                return Tribe.objects.create(
                    account=account, name=name, kind=TribeKind.LIST, created_by=actor
                )
        except IntegrityError:  # created by a concurrent import: use it
            continue
    raise RuntimeError("list_tribe_for: could not create or find the Tribe")


def _check_pool(pool: str) -> str:
    if pool not in Pool.values:
        raise ValidationError({"pool": f"'{pool}' is not a pool ({', '.join(Pool.values)})."})
    return pool


def import_create(
    *,
    account: Account,
    actor: AbstractBaseUser | None,
    data: bytes,
    filename: str = "",
    pool: str = Pool.CONTACT,
    tribe_name: str = "",
) -> ContactImport:
    """Accept a CSV file for import and queue it (`contacts.tasks.import_contacts`, after
    the commit). The file is read once here, so a file that cannot be imported is
    refused now: ValidationError on `file` (over 20 MB or 50,000 rows, a row over
    `csvfile.MAX_COLUMNS` columns or `csvfile.MAX_ROW_CHARS` long, unreadable, no phone
    column), `pool` or `tribe_name`; then nothing is stored."""
    _check_pool(pool)
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationError({"file": "The file is larger than 20 MB; split it."})
    total = count_data_rows(csvfile.read_file(data))
    if total > IMPORT_MAX_ROWS:
        raise ValidationError(
            {"file": f"The file has {total:,} rows, more than {IMPORT_MAX_ROWS:,}; split it."}
        )
    if total == 0:
        raise ValidationError({"file": "The file has a header but no rows."})
    with transaction.atomic():
        tribe = list_tribe_for(account=account, name=tribe_name, actor=actor)
        imp = ContactImport.objects.create(
            account=account,
            created_by=actor,
            filename=(filename or "")[:255],
            pool=pool,
            data=data,
            tribe=tribe,
            total=total,
        )
        from .tasks import import_contacts

        transaction.on_commit(lambda: import_contacts.delay(imp.pk))
    return imp


def paste_import(
    *,
    account: Account,
    actor: AbstractBaseUser | None,
    text: str,
    pool: str = Pool.CONTACT,
    tribe_name: str = "",
) -> ContactImport:
    """Import pasted numbers (up to 10,000) now, reported like a file: entry N is the
    Nth number pasted. Raises ValidationError on `numbers` (none, too many), `pool` or
    `tribe_name`; then nothing changes."""
    _check_pool(pool)
    entries = paste_entries(text)
    if not entries:
        raise ValidationError({"numbers": "Paste at least one phone number."})
    if len(entries) > PASTE_MAX_NUMBERS:
        raise ValidationError(
            {
                "numbers": f"{len(entries):,} numbers pasted; paste at most "
                f"{PASTE_MAX_NUMBERS:,} at a time (or upload a CSV file)."
            }
        )
    parsed = _check((n, raw, {}, {}) for n, raw in enumerate(entries, start=1))
    with transaction.atomic():
        tribe = list_tribe_for(account=account, name=tribe_name, actor=actor)
        imp = ContactImport.objects.create(
            account=account,
            created_by=actor,
            filename="pasted numbers",
            pool=pool,
            tribe=tribe,
            total=parsed.total,
            status=ImportStatus.RUNNING,
        )
        _process(imp, parsed)
    imp.refresh_from_db()
    return imp


# --- Processing -----------------------------------------------------------------------------


class _Zones:
    """Timezone guesses per distinct (ZIP, state, phone prefix): the guess reads the
    phone only through its NPA-NXX (phonenumbers' zone data for +1 goes no deeper than
    seven digits), so a 50,000-row file costs a few hundred guesses, not 50,000."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.known: dict[tuple[str, str, str], TimezoneGuess] = {}

    def guess(self, *, phone: str, state: str, zip_code: str) -> TimezoneGuess:
        prefix = phone[:8] if phone.startswith("+1") else phone
        key = (zip_code.strip()[:5], state.upper(), prefix)
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = guess_timezone(
                phone=phone, state=state, zip_code=zip_code, default=self.default
            )
        return found


_EXISTING = """
SELECT phone, state, zip FROM contacts_contact
WHERE account_id = %s AND phone = ANY(%s::text[])
"""

# Blank cells never erase what a record holds; custom fields are merged; the pool and
# the consent status of an existing contact are left as they are. The zone is computed
# from the merged address (see `_chunk_values`). `xmax = 0`: the row was inserted.
_UPSERT = """
INSERT INTO contacts_contact (
    account_id, phone, first_name, last_name, preferred_name, street, city, state, zip,
    pool, custom_fields, timezone, timezone_candidates, timezone_source, sms_status,
    created_at, updated_at)
SELECT %(account)s, phone, first_name, last_name, preferred_name, street, city, state, zip,
       %(pool)s, custom, tz, tz_candidates, tz_source, 'none', %(now)s, %(now)s
FROM unnest(%(phone)s::text[], %(first_name)s::text[], %(last_name)s::text[],
            %(preferred_name)s::text[], %(street)s::text[], %(city)s::text[],
            %(state)s::text[], %(zip)s::text[], %(custom)s::jsonb[], %(tz)s::text[],
            %(tz_candidates)s::jsonb[], %(tz_source)s::text[])
    AS input(phone, first_name, last_name, preferred_name, street, city, state, zip,
             custom, tz, tz_candidates, tz_source)
ON CONFLICT (account_id, phone) DO UPDATE SET
    first_name = COALESCE(NULLIF(EXCLUDED.first_name, ''), contacts_contact.first_name),
    last_name = COALESCE(NULLIF(EXCLUDED.last_name, ''), contacts_contact.last_name),
    preferred_name = COALESCE(NULLIF(EXCLUDED.preferred_name, ''), contacts_contact.preferred_name),
    street = COALESCE(NULLIF(EXCLUDED.street, ''), contacts_contact.street),
    city = COALESCE(NULLIF(EXCLUDED.city, ''), contacts_contact.city),
    state = COALESCE(NULLIF(EXCLUDED.state, ''), contacts_contact.state),
    zip = COALESCE(NULLIF(EXCLUDED.zip, ''), contacts_contact.zip),
    custom_fields = contacts_contact.custom_fields || EXCLUDED.custom_fields,
    timezone = EXCLUDED.timezone,
    timezone_candidates = EXCLUDED.timezone_candidates,
    timezone_source = EXCLUDED.timezone_source,
    updated_at = EXCLUDED.updated_at
RETURNING id, (xmax = 0)
"""

_JOIN_TRIBE = """
INSERT INTO contacts_tribemember (tribe_id, contact_id)
SELECT %s, unnest(%s::bigint[])
ON CONFLICT (tribe_id, contact_id) DO NOTHING
"""

_TEXT_COLUMNS = ("first_name", "last_name", "preferred_name", "street", "city", "state", "zip")


def _chunk_values(chunk: list[Row], existing: dict[str, tuple[str, str]], zones: _Zones) -> dict:
    columns: dict[str, list] = {name: [] for name in ("phone", *_TEXT_COLUMNS, "custom")}
    columns |= {"tz": [], "tz_candidates": [], "tz_source": []}
    for item in chunk:
        values = dict(item.fields)
        old_state, old_zip = existing.get(item.phone, ("", ""))
        # As contact_upsert / contact_update: a ZIP without a state gives the state.
        if values.get("zip") and not values.get("state"):
            found = state_for_zip(values["zip"])
            if found:
                values["state"] = found
        guess = zones.guess(
            phone=item.phone,
            state=values.get("state") or old_state,
            zip_code=values.get("zip") or old_zip,
        )
        columns["phone"].append(item.phone)
        for name in _TEXT_COLUMNS:
            columns[name].append(values.get(name, ""))
        columns["custom"].append(json.dumps(item.custom))
        columns["tz"].append(guess.timezone)
        columns["tz_candidates"].append(json.dumps(list(guess.candidates)))
        columns["tz_source"].append(guess.source)
    return columns


def _upsert_chunk(imp: ContactImport, chunk: list[Row], zones: _Zones) -> tuple[list[int], int]:
    """(contact ids, how many were created) for one chunk of valid rows."""
    phones = [item.phone for item in chunk]
    with connection.cursor() as cursor:
        cursor.execute(_EXISTING, [imp.account_id, phones])
        existing = {phone: (state, zip_code) for phone, state, zip_code in cursor.fetchall()}
        params = _chunk_values(chunk, existing, zones)
        params |= {"account": imp.account_id, "pool": imp.pool, "now": timezone.now()}
        cursor.execute(_UPSERT, params)
        returned = cursor.fetchall()
        ids = [contact_id for contact_id, _ in returned]
        if imp.tribe_id is not None:
            cursor.execute(_JOIN_TRIBE, [imp.tribe_id, ids])
    return ids, sum(1 for _, inserted in returned if inserted)


def _process(
    imp: ContactImport,
    parsed: Parsed,
    *,
    chunk_rows: int = CHUNK_ROWS,
    time_budget: float | None = None,
) -> bool:
    """Import `parsed` for `imp` (status running), after the chunks already committed.
    True when finished; False when `time_budget` (seconds) ran out first."""
    started = time.monotonic()
    skipped = parsed.invalid + parsed.duplicates
    ContactImport.objects.filter(pk=imp.pk).update(
        invalid=parsed.invalid,
        duplicates=parsed.duplicates,
        errors=parsed.errors,
        total=parsed.total,
        processed=Greatest(F("processed"), skipped),
    )
    imp.refresh_from_db(fields=["processed"])
    done = max(imp.processed - skipped, 0)  # valid rows of chunks that committed
    zones = _Zones(imp.account.timezone)
    for start in range(done, len(parsed.rows), chunk_rows):
        chunk = parsed.rows[start : start + chunk_rows]
        with transaction.atomic():
            ids, created = _upsert_chunk(imp, chunk, zones)
            ContactImport.objects.filter(pk=imp.pk).update(
                processed=F("processed") + len(chunk),
                created=F("created") + created,
                updated=F("updated") + (len(ids) - created),
            )
        last = start + chunk_rows >= len(parsed.rows)
        if not last and time_budget is not None and time.monotonic() - started >= time_budget:
            return False
    ContactImport.objects.filter(pk=imp.pk).update(
        status=ImportStatus.DONE, data=None, finished_at=timezone.now()
    )
    return True


def import_run(
    *, import_id: int, chunk_rows: int = CHUNK_ROWS, time_budget: float | None = None
) -> bool:
    """The worker's part (`contacts.tasks.import_contacts`): process a pending import,
    or carry on with one that stopped (a worker that died, a `time_budget` that ran out).
    True when the import is finished (done or failed, now or before)."""
    claimed = ContactImport.objects.filter(
        pk=import_id, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).update(status=ImportStatus.RUNNING)
    if not claimed:
        return True  # finished already: running it again changes nothing
    imp = ContactImport.objects.select_related("account").get(pk=import_id)
    try:
        if imp.data is None:
            raise ValidationError({"file": "The uploaded file is gone."})
        parsed = parse_csv(bytes(imp.data))
        if parsed.total > IMPORT_MAX_ROWS:
            raise ValidationError({"file": f"More than {IMPORT_MAX_ROWS:,} rows."})
    except ValidationError as exc:
        _fail(imp, "; ".join(exc.messages))
        return True
    return _process(imp, parsed, chunk_rows=chunk_rows, time_budget=time_budget)


def import_fail(*, import_id: int, reason: str) -> None:
    """Mark an import that cannot go on as failed (what committed stays)."""
    imp = ContactImport.objects.get(pk=import_id)
    _fail(imp, reason)


def _fail(imp: ContactImport, reason: str) -> None:
    ContactImport.objects.filter(
        pk=imp.pk, status__in=[ImportStatus.PENDING, ImportStatus.RUNNING]
    ).update(
        status=ImportStatus.FAILED,
        failure=reason[:300],
        data=None,
        finished_at=timezone.now(),
    )


# --- Reads --------------------------------------------------------------------------------


def access_import(*, account: Account, import_id: int) -> ContactImport:
    """The account's import, or 404 (also for another tenant's id)."""
    return get_object_or_404(
        ContactImport.objects.defer("data").select_related("tribe"), account=account, pk=import_id
    )


def import_errors_listed(imp: ContactImport) -> list[dict]:
    """The first `ERRORS_LISTED` rows at fault, as the API shows them ({row, reason})."""
    return [{"row": e["row"], "reason": e["reason"]} for e in imp.errors[:ERRORS_LISTED]]


def import_error_report(imp: ContactImport) -> str:
    """Every row at fault (invalid or repeated phone) as CSV: row, value, reason."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "phone", "reason"])
    for error in imp.errors:
        value = error.get("value", "")
        if value[:1] in ("=", "+", "-", "@") and not re.fullmatch(r"\+?[\d\s().\-]+", value):
            value = "'" + value  # a cell a spreadsheet would run as a formula
        writer.writerow([error["row"], value, error["reason"]])
    return out.getvalue()


def import_percent(imp: ContactImport) -> int:
    return 100 if not imp.total else min(100, imp.processed * 100 // imp.total)


def recent_imports(*, account: Account, limit: int = 5) -> list[ContactImport]:
    return list(
        ContactImport.objects.filter(account=account).defer("data").order_by("-created_at")[:limit]
    )
