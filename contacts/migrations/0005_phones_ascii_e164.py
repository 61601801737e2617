"""Every stored phone becomes ASCII E.164, and the database keeps it so (issue 14).

Until now `contacts.phones` accepted any Unicode digit, so `503-5５5-0189` was stored as
`+15035５50189`: a second contact for the same person, which escaped the real number's
STOP and DNC entry. This migration:

1. Rewrites every contact whose phone is not ASCII E.164 to its ASCII spelling. When no
   contact has that spelling yet, the contact is simply renamed. When one does (the
   "twin" case), the twin is merged into it and deleted: its history, consent records,
   tribe memberships, conversations (folded into the real thread when both exist with
   the same number of ours) and messages move to the real contact; blank names are
   filled from the twin; and the consent state is the stricter of the two (opted out
   wins over everything, so the real number's STOP holds). Each rename and merge writes
   a compliance audit entry (`phone_normalized`, `phone_twin_merged`) naming the old
   spelling and the merged contact's id.
2. Rewrites the copies of those phones (consent records, audit entries, conversations,
   messages) to the ASCII spelling, through their indexes.
3. Rewrites DNC entries the same way; a non-ASCII entry whose ASCII twin is listed
   already is dropped (the number stays listed).
4. Adds a check constraint so a contact's phone can only be ASCII E.164 (the DNC list
   gets the same in compliance 0002).

Consent records, audit entries and history are append-only (database triggers); their
triggers are switched off only for these statements, only when there is something to
fix, and inside this migration's transaction.

Backwards: the constraint is dropped; the rewritten phones stay ASCII (valid in the old
schema too) and merged twins stay merged.
"""

import json
import re
import unicodedata

import phonenumbers
from django.db import migrations, models

# The stored form (contacts.phones.E164_PATTERN), copied so this migration does not
# change if the module does. `[0-9]` and not `\d`: PostgreSQL's `\d` is Unicode too.
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"

APPEND_ONLY_TRIGGERS = [
    ("contacts_engagementevent", "contacts_engagementevent_append_only"),
    ("compliance_consentrecord", "compliance_consentrecord_append_only"),
    ("compliance_auditentry", "compliance_auditentry_append_only"),
]

# Stricter consent state first: opted out wins over everything.
STATUS_RANK = ["opted_out", "opted_in", "pending", "none"]

NAME_FIELDS = ["first_name", "last_name", "preferred_name"]
ADDRESS_FIELDS = ["street", "city", "state", "zip"]


def ascii_e164(phone: str) -> str | None:
    """The ASCII spelling of a stored phone, or None when there is none.

    The old parser stored `+1` and ten characters `\\d` matched (any decimal digit), so
    mapping each digit to its value is exact; `phonenumbers` reads anything else."""
    text = unicodedata.normalize("NFKC", phone or "").strip()
    if text.startswith("+"):
        mapped = "+" + "".join(str(unicodedata.digit(ch)) for ch in text[1:] if ch.isdecimal())
        if _is_e164(mapped):
            return mapped
    try:
        parsed = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164 if _is_e164(e164) else None


def _is_e164(value: str) -> bool:
    return re.fullmatch(E164_PATTERN, value) is not None


def phones_to_ascii(connection) -> dict[str, int]:
    """Steps 1 to 3 above, on `connection` (callable from tests). Returns counts."""
    counts = {"renamed": 0, "merged": 0, "dnc_renamed": 0, "dnc_dropped": 0}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, account_id, phone FROM contacts_contact WHERE phone !~ %s ORDER BY id",
            [E164_PATTERN],
        )
        contacts = cur.fetchall()
        cur.execute(
            "SELECT id, account_id, phone FROM compliance_dncentry WHERE phone !~ %s ORDER BY id",
            [E164_PATTERN],
        )
        dnc = cur.fetchall()
        if not contacts and not dnc:
            return counts
        # Row by row from here on: each statement sees the foreign keys hold, and the
        # triggers below can be switched back on (no pending trigger events).
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, trigger in APPEND_ONLY_TRIGGERS:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        for contact_id, account_id, phone in contacts:
            real_phone = ascii_e164(phone)
            if real_phone is None:
                raise RuntimeError(
                    f"Contact {contact_id} has the phone {phone!r}, which is not a phone "
                    "number: correct or delete it, then run the migration again."
                )
            cur.execute(
                "SELECT id FROM contacts_contact WHERE account_id = %s AND phone = %s",
                [account_id, real_phone],
            )
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "UPDATE contacts_contact SET phone = %s, updated_at = now() WHERE id = %s",
                    [real_phone, contact_id],
                )
                _copies_rephone(cur, account_id, phone, real_phone)
                _audit(cur, account_id, real_phone, contact_id, "phone_normalized", phone, None)
                counts["renamed"] += 1
            else:
                _merge(cur, account_id, twin_id=contact_id, real_id=row[0], twin_phone=phone)
                _copies_rephone(cur, account_id, phone, real_phone)
                _audit(cur, account_id, real_phone, row[0], "phone_twin_merged", phone, contact_id)
                counts["merged"] += 1
        for entry_id, account_id, phone in dnc:
            real_phone = ascii_e164(phone)
            if real_phone is None:
                raise RuntimeError(
                    f"DNC entry {entry_id} has the phone {phone!r}, which is not a phone "
                    "number: correct or delete it, then run the migration again."
                )
            cur.execute(
                "SELECT 1 FROM compliance_dncentry WHERE account_id = %s AND phone = %s",
                [account_id, real_phone],
            )
            if cur.fetchone() is None:
                cur.execute(
                    "UPDATE compliance_dncentry SET phone = %s WHERE id = %s", [real_phone, entry_id]
                )
                counts["dnc_renamed"] += 1
            else:
                cur.execute("DELETE FROM compliance_dncentry WHERE id = %s", [entry_id])
                counts["dnc_dropped"] += 1
            _copies_rephone(cur, account_id, phone, real_phone)
        for table, trigger in APPEND_ONLY_TRIGGERS:
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
    return counts


def _copies_rephone(cur, account_id: int, old: str, new: str) -> None:
    """The places that copy a person's phone, by their (account, phone) indexes."""
    for sql in (
        "UPDATE compliance_consentrecord SET phone = %(new)s"
        " WHERE account_id = %(account)s AND phone = %(old)s",
        "UPDATE compliance_auditentry SET phone = %(new)s"
        " WHERE account_id = %(account)s AND phone = %(old)s",
        "UPDATE conversations_conversation SET phone = %(new)s"
        " WHERE account_id = %(account)s AND phone = %(old)s",
        "UPDATE texting_message SET to_number = %(new)s"
        " WHERE account_id = %(account)s AND to_number = %(old)s",
        "UPDATE texting_message SET from_number = %(new)s"
        " WHERE account_id = %(account)s AND direction = 'inbound' AND from_number = %(old)s",
    ):
        cur.execute(sql, {"account": account_id, "old": old, "new": new})


def _merge(cur, account_id: int, *, twin_id: int, real_id: int, twin_phone: str) -> None:
    """Everything of the twin onto the real contact, then the twin goes."""
    p = {"twin": twin_id, "real": real_id, "account": account_id, "phone": twin_phone}
    # The contact row: blank names from the twin; the twin's address only when the real
    # contact has none (half of one address and half of another is no address); custom
    # fields merged (the real contact's values win); the stricter consent state.
    names = ", ".join(
        f"{f} = CASE WHEN r.{f} = '' THEN t.{f} ELSE r.{f} END" for f in NAME_FIELDS
    )
    no_address = " AND ".join(f"r.{f} = ''" for f in ADDRESS_FIELDS)
    address = ", ".join(
        f"{f} = CASE WHEN {no_address} THEN t.{f} ELSE r.{f} END"
        for f in [*ADDRESS_FIELDS, "timezone", "timezone_candidates", "timezone_source"]
    )
    rank = " ".join(
        f"WHEN '{s}' IN (r.sms_status, t.sms_status) THEN '{s}'" for s in STATUS_RANK
    )
    cur.execute(
        f"UPDATE contacts_contact r SET {names}, {address},"
        " custom_fields = t.custom_fields || r.custom_fields,"
        f" sms_status = CASE {rank} ELSE r.sms_status END, updated_at = now()"
        " FROM contacts_contact t WHERE r.id = %(real)s AND t.id = %(twin)s",
        p,
    )
    cur.execute(
        "UPDATE contacts_engagementevent SET contact_id = %(real)s WHERE contact_id = %(twin)s", p
    )
    cur.execute(
        "UPDATE compliance_consentrecord SET contact_id = %(real)s WHERE contact_id = %(twin)s", p
    )
    cur.execute(
        "UPDATE compliance_auditentry SET contact_id = %(real)s"
        " WHERE account_id = %(account)s AND contact_id = %(twin)s",
        p,
    )
    cur.execute(
        "INSERT INTO contacts_tribemember (tribe_id, contact_id)"
        " SELECT tribe_id, %(real)s FROM contacts_tribemember WHERE contact_id = %(twin)s"
        " ON CONFLICT DO NOTHING",
        p,
    )
    cur.execute("DELETE FROM contacts_tribemember WHERE contact_id = %(twin)s", p)
    _merge_conversations(cur, p)
    _merge_messages(cur, p)
    cur.execute("DELETE FROM contacts_contact WHERE id = %(twin)s", p)


def _merge_conversations(cur, p: dict) -> None:
    """A twin thread with a number of ours the real contact has no thread with moves
    over; one it has is folded into the real thread (the messages belong to threads by
    phone pair, so only the thread's summary and its assignment history move)."""
    cur.execute(
        "SELECT t.id, r.id FROM conversations_conversation t"
        " LEFT JOIN conversations_conversation r ON r.account_id = t.account_id"
        "  AND r.contact_id = %(real)s AND r.our_number = t.our_number"
        " WHERE t.account_id = %(account)s AND t.contact_id = %(twin)s",
        p,
    )
    for twin_conv, real_conv in cur.fetchall():
        if real_conv is None:
            cur.execute(
                "UPDATE conversations_conversation SET contact_id = %s WHERE id = %s",
                [p["real"], twin_conv],
            )
            continue
        cur.execute(
            "UPDATE conversations_conversation r SET"
            " unread = r.unread + t.unread,"
            " last_message_at = GREATEST(r.last_message_at, t.last_message_at),"
            " last_inbound_at = GREATEST(r.last_inbound_at, t.last_inbound_at),"
            " last_preview = CASE WHEN t.last_message_at > r.last_message_at"
            "  OR r.last_message_at IS NULL THEN t.last_preview ELSE r.last_preview END,"
            " status = CASE WHEN t.status = 'open' THEN 'open' ELSE r.status END,"
            " label = CASE WHEN r.label = '' THEN t.label ELSE r.label END,"
            " campaign_id = COALESCE(r.campaign_id, t.campaign_id),"
            " assigned_to_id = COALESCE(r.assigned_to_id, t.assigned_to_id),"
            " tags = COALESCE((SELECT jsonb_agg(DISTINCT x)"
            "  FROM jsonb_array_elements(r.tags || t.tags) x), '[]'::jsonb),"
            " search = CASE WHEN r.search IS NULL AND t.search IS NULL THEN NULL"
            "  ELSE strip(COALESCE(r.search, ''::tsvector) || COALESCE(t.search, ''::tsvector))"
            "  END,"
            " updated_at = now()"
            " FROM conversations_conversation t WHERE r.id = %s AND t.id = %s",
            [real_conv, twin_conv],
        )
        cur.execute(
            "UPDATE conversations_assignmentrecord SET conversation_id = %s"
            " WHERE conversation_id = %s",
            [real_conv, twin_conv],
        )
        cur.execute("DELETE FROM conversations_conversation WHERE id = %s", [twin_conv])


def _merge_messages(cur, p: dict) -> None:
    """The twin's messages are the ones to or from its phone (the indexes on the phone
    columns find them; `contact_id` has none). A campaign holds one message per contact:
    when both twins got the same campaign, the twin's copy leaves the campaign (kept in
    the thread) or, if it had not gone out yet, is canceled."""
    cur.execute(
        "UPDATE texting_message m SET status = 'canceled',"
        " error_reason = 'Canceled: the same phone was in this campaign twice.'"
        " WHERE m.account_id = %(account)s AND m.to_number = %(phone)s"
        " AND m.campaign_id IS NOT NULL AND m.status IN ('queued', 'scheduled')"
        " AND EXISTS (SELECT 1 FROM texting_message o"
        "  WHERE o.campaign_id = m.campaign_id AND o.contact_id = %(real)s)",
        p,
    )
    cur.execute(
        "UPDATE texting_message m SET campaign_id = NULL"
        " WHERE m.account_id = %(account)s AND m.to_number = %(phone)s"
        " AND m.campaign_id IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM texting_message o"
        "  WHERE o.campaign_id = m.campaign_id AND o.contact_id = %(real)s)",
        p,
    )
    cur.execute(
        "UPDATE texting_message SET contact_id = %(real)s"
        " WHERE account_id = %(account)s AND to_number = %(phone)s AND contact_id = %(twin)s",
        p,
    )
    cur.execute(
        "UPDATE texting_message SET contact_id = %(real)s"
        " WHERE account_id = %(account)s AND direction = 'inbound' AND from_number = %(phone)s"
        " AND contact_id = %(twin)s",
        p,
    )


def _audit(cur, account_id, phone, contact_id, action, old_phone, merged_id) -> None:
    data = {"old": old_phone, "new": phone}
    if merged_id is not None:
        data["merged_contact_id"] = merged_id
    cur.execute(
        "INSERT INTO compliance_auditentry (account_id, phone, contact_id, action, data, at)"
        " VALUES (%s, %s, %s, %s, %s::jsonb, now())",
        [account_id, phone, contact_id, action, json.dumps(data, ensure_ascii=False)],
    )


def forwards(apps, schema_editor) -> None:
    phones_to_ascii(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0004_tribes_and_imports"),
        ("compliance", "0001_initial"),
        ("conversations", "0002_inbox_search"),
        ("texting", "0009_message_kind_confirmation_request"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.CheckConstraint(
                condition=models.Q(("phone__regex", E164_PATTERN)),
                name="contact_phone_ascii_e164",
            ),
        ),
    ]
