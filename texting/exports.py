"""CSV export of a campaign's per-recipient rows (the API's `?format=csv` and the Status
tab's Export link share it).

Built for 100k rows: one query (the rows with their contacts' names joined in and the
times already formatted by PostgreSQL) read through a server-side cursor in chunks;
tuples only, no model instance or serializer per row.
"""

import csv
import io
from collections.abc import Iterator

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet

from .models import Message

COLUMNS = [
    "id",
    "contact_id",
    "phone",
    "status",
    "from_number",
    "sent_at",
    "delivered_at",
    "error",
    "name",
]
_FIELDS = [
    "id",
    "contact_id",
    "to_number",
    "status",
    "from_number",
    "sent_at",
    "delivered_at",
    "error_reason",
]
CHUNK = 2000
_UTC = """to_char(m.{0} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

# A LEFT JOIN: Django would INNER JOIN the non-null contact FK and silently drop a row
# whose contact is gone. The name is Contact.display_name's rule, in SQL.
_EXPORT = f"""
SELECT m.id, m.contact_id, m.to_number, m.status, m.from_number,
       {_UTC.format("sent_at")}, {_UTC.format("delivered_at")}, m.error_reason,
       trim(coalesce(nullif(c.preferred_name, ''), c.first_name) || ' ' || c.last_name)
FROM ({{rows}}) AS m
LEFT JOIN contacts_contact c ON c.id = m.contact_id AND c.account_id = %s
ORDER BY m.id
"""


def _cell(text: str | None) -> str:
    """Free text (names, provider errors) cannot start a spreadsheet formula."""
    text = text or ""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def message_rows_csv(*, account_id: int, rows: QuerySet[Message]) -> Iterator[str]:
    """The header, then one chunk of CSV text per CHUNK rows, in id order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield flush()
    try:
        sql, params = rows.order_by().values_list(*_FIELDS).query.sql_with_params()
    except EmptyResultSet:  # e.g. a search no contact matches
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(_EXPORT.format(rows=sql), [*params, account_id])
        while chunk := cursor.fetchmany(CHUNK):
            for *fields, error, name in chunk:
                writer.writerow([*(f or "" for f in fields), _cell(error), _cell(name)])
            yield flush()
