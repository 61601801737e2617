"""Reading the CSV files people upload (contact imports, the DNC list): decoding, rows,
and the header row with its phone column. One reader for both, so a file that imports
as contacts also imports as DNC entries.

Excel and Google Sheets write UTF-8 (often with a BOM), Windows-1252 (Excel's "CSV"
on Windows) or UTF-16 ("Unicode text"); the header may sit under a title line or two
and name the phone column anything from "Phone" to "Mobile number".
"""

import codecs
import csv
import io
import re
from typing import Any

from django.core.exceptions import ValidationError

from .phones import InvalidPhone, normalize_phone

# A header cell (letters and digits only, lower case) that names the phone column.
PHONE_HEADERS = frozenset(
    {
        "phone",
        "phones",
        "phonenumber",
        "phoneno",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "cellnumber",
        "telephone",
        "tel",
        "number",
        "wireless",
        "e164",
        "msisdn",
    }
)
HEADER_SEARCH_ROWS = 20  # a title line or two may come before the header

# A contact or DNC file has a phone, a name, an address and some custom fields: a
# couple of hundred columns is already generous. Anything wider (a file of 100,000
# columns once tied a worker up for minutes) or with a row longer than this is refused
# while the file is read, with the row that broke the limit.
MAX_COLUMNS = 200
MAX_ROW_CHARS = 64 * 1024


def decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM), UTF-16 with a BOM, else Windows-1252 (Excel)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_rows(text: str) -> list[list[str]]:
    """Every row of the file (quoted fields may hold commas and line breaks); the
    delimiter is sniffed among comma, semicolon and tab. A row of more than
    `MAX_COLUMNS` cells or `MAX_ROW_CHARS` characters is a ValidationError on `file`
    naming the row (numbered as a spreadsheet shows it)."""
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:  # one column (or nothing to tell by): plain commas
        dialect = csv.excel
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            # The csv module's own cap on one cell (128 K characters) is above ours on
            # a whole row, so a cell that long is a row too long.
            if "field larger than field limit" in str(exc):
                raise _row_too_long(len(rows) + 1) from exc
            raise
        if len(row) > MAX_COLUMNS:
            raise ValidationError(
                {
                    "file": f"Row {len(rows) + 1:,} has {len(row):,} columns; a file may "
                    f"have at most {MAX_COLUMNS} columns. Remove the columns you do not "
                    "need and upload it again."
                }
            )
        if sum(map(len, row)) + len(row) > MAX_ROW_CHARS:
            raise _row_too_long(len(rows) + 1)
        rows.append(row)


def _row_too_long(number: int) -> ValidationError:
    return ValidationError(
        {
            "file": f"Row {number:,} is longer than {MAX_ROW_CHARS // 1024} KB; a row may "
            f"hold at most {MAX_ROW_CHARS // 1024} KB. Check that the file is a CSV of "
            "contacts, one per row."
        }
    )


def read_file(data: bytes) -> list[list[str]]:
    """`decode` + `read_rows`; an unreadable file is a ValidationError on `file`."""
    try:
        return read_rows(decode(data))
    except (csv.Error, UnicodeError) as exc:
        raise ValidationError({"file": f"This is not a readable CSV file ({exc})."}) from exc


def header_key(cell: str) -> str:
    """'Mobile Number ' -> 'mobilenumber': how header cells are compared."""
    return re.sub(r"[^a-z0-9]", "", cell.strip().lower())


def is_blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def phone_column(rows: list[list[str]]) -> tuple[int, int]:
    """(index of the header row, or -1 when the file has none; index of the phone column).

    The header is the first row, among the first few non-blank ones, with a cell that
    names a phone column ("Phone", "Mobile number", "cell"); a file without one is read
    as a plain list when its first row holds exactly one phone number."""
    seen = 0
    for i, row in enumerate(rows):
        if is_blank(row):
            continue
        keys = [header_key(cell) for cell in row]
        exact = [j for j, key in enumerate(keys) if key in PHONE_HEADERS]
        loose = [j for j, key in enumerate(keys) if re.search("phone|mobile|cell", key)]
        if exact or loose:
            return i, (exact or loose)[0]
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    first = next((row for row in rows if not is_blank(row)), None)
    if first is not None:
        phones = [j for j, cell in enumerate(first) if _is_phone(cell)]
        if len(phones) == 1:
            return -1, phones[0]
    raise ValidationError(
        {"file": "No phone column found: add a header row with a column named “phone”."}
    )


def _is_phone(cell: str) -> bool:
    try:
        normalize_phone(cell)
    except InvalidPhone:
        return False
    return True
