"""Everything the account knows about one phone number, for a regulator, a carrier or
the person themselves (issue 4 item 8): consent records with their provenance,
messages both ways, opt-outs and opt-ins, do-not-contact entries and the compliance
audit log. As JSON (one list per kind) or CSV (one row per item, oldest first).

It lives in `texting` because it reads messages; every other part is read from the
apps below. Outbound messages are the queue rows to the phone (the `message_to_recent`
index); inbound messages are message rows too (stored since conversations, issue 6; the
`message_from_recent_inbound` index), attributed to the campaign their `sms_received`
history event names; an `sms_received` event with no row (recorded before inbound rows
existed) is listed from the history, so nothing is listed twice. Delivery events
(`sms_sent`, `sms_delivered`, `sms_failed`) are left out of the events list: the
message rows carry the same times and statuses.
"""

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import Account
from compliance.models import AuditEntry, ConsentRecord, DncEntry
from contacts.models import Contact, EngagementEvent, EventType

from .models import Direction, Message

_MESSAGE_EVENTS = frozenset(
    {EventType.SMS_SENT, EventType.SMS_DELIVERED, EventType.SMS_FAILED, EventType.SMS_RECEIVED}
)

CSV_COLUMNS = [
    "record",
    "at",
    "action",
    "direction",
    "from",
    "to",
    "body",
    "status",
    "campaign_id",
    "source_type",
    "source_ref",
    "consent_language",
    "method",
    "ip",
    "user_agent",
    "actor",
    "details",
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


@dataclass
class AuditTrail:
    account: Account
    phone: str
    contact: Contact | None
    consents: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    dnc: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    generated_at: datetime = field(default_factory=timezone.now)

    def as_dict(self) -> dict[str, Any]:
        contact = None
        if self.contact is not None:
            contact = {
                "id": self.contact.pk,
                "name": self.contact.display_name,
                "sms_status": self.contact.sms_status,
                "created_at": _iso(self.contact.created_at),
            }
        return {
            "account": self.account.slug,
            "phone": self.phone,
            "generated_at": _iso(self.generated_at),
            "contact": contact,
            "consents": self.consents,
            "messages": self.messages,
            "events": self.events,
            "dnc": self.dnc,
            "audit": self.audit,
        }

    def as_csv(self) -> str:
        """One row per item of every kind, oldest first; `details` holds the rest as JSON."""
        rows = [
            *(_consent_row(c) for c in self.consents),
            *(_message_row(m) for m in self.messages),
            *(_event_row(e) for e in self.events),
            *(_dnc_row(d) for d in self.dnc),
            *(_audit_row(a) for a in self.audit),
        ]
        rows.sort(key=lambda row: row["at"] or "")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return buffer.getvalue()


def _cell(value: Any) -> str:
    """Free text cannot start a spreadsheet formula (a body that begins with "=")."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _details(item: dict[str, Any], *shown: str) -> str:
    rest = {k: v for k, v in item.items() if k not in shown and v not in (None, "", {})}
    return json.dumps(rest, sort_keys=True) if rest else ""


def _consent_row(c: dict[str, Any]) -> dict[str, Any]:
    shown = ("captured_at", "action", "source_type", "source_ref", "consent_language", "method")
    return {
        "record": "consent",
        "at": c["captured_at"],
        "action": c["action"],
        "source_type": c["source_type"],
        "source_ref": c["source_ref"],
        "consent_language": c["consent_language"],
        "method": c["method"],
        "ip": c["ip"],
        "user_agent": c["user_agent"],
        "actor": c["recorded_by"],
        "details": _details(c, *shown, "ip", "user_agent", "recorded_by"),
    }


def _message_row(m: dict[str, Any]) -> dict[str, Any]:
    shown = ("at", "direction", "from", "to", "body", "status", "campaign_id")
    return {
        "record": "message",
        **{k: m[k] for k in shown},
        "action": m.get("kind") or "",
        "details": _details(m, *shown, "kind"),
    }


def _event_row(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "record": "event",
        "at": e["at"],
        "action": e["type"],
        "campaign_id": e["campaign_id"],
        "details": _details(e, "at", "type", "campaign_id"),
    }


def _dnc_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "record": "dnc",
        "at": d["created_at"],
        "action": d["reason"],
        "actor": d["added_by"],
        "details": _details(d, "created_at", "reason", "added_by"),
    }


def _audit_row(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "record": "audit",
        "at": a["at"],
        "action": a["action"],
        "actor": a["actor"],
        "details": _details(a, "at", "action", "actor"),
    }


def audit_trail(*, account: Account, phone: str) -> AuditTrail:
    """The account's whole record of `phone` (E.164). Every query is scoped to the
    account and uses an index that leads with it (or with the contact)."""
    contact = Contact.objects.filter(account=account, phone=phone).first()
    trail = AuditTrail(account=account, phone=phone, contact=contact)

    consents = (
        ConsentRecord.objects.filter(account=account, phone=phone)
        .select_related("recorded_by")
        .order_by("captured_at", "id")
    )
    trail.consents = [
        {
            "id": c.pk,
            "contact_id": c.contact_id,
            "action": c.action,
            "source_type": c.source_type,
            "source_ref": c.source_ref,
            "consent_language": c.consent_language,
            "method": c.method,
            "captured_at": _iso(c.captured_at),
            "ip": c.ip,
            "user_agent": c.user_agent,
            "status_after": c.status_after,
            "recorded_by": _username(c.recorded_by),
            "created_at": _iso(c.created_at),
        }
        for c in consents
    ]

    outbound = (
        Message.objects.filter(account=account, to_number=phone, direction=Direction.OUTBOUND)
        .select_related("campaign")
        .order_by("created_at", "id")
    )
    messages = [
        {
            "id": m.pk,
            "at": _iso(m.sent_at or m.created_at),
            "direction": m.direction,
            "from": m.from_number,
            "to": m.to_number,
            "body": m.body,
            "status": m.status,
            "kind": m.kind,
            "campaign_id": m.campaign_id,
            "campaign": m.campaign.name if m.campaign is not None else None,
            "provider_message_id": m.provider_message_id,
            "created_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at),
            "delivered_at": _iso(m.delivered_at),
            "failed_at": _iso(m.failed_at),
            "error": m.error_reason or None,
        }
        for m in outbound
    ]
    inbound = list(
        Message.objects.filter(
            account=account, from_number=phone, direction=Direction.INBOUND
        ).order_by("created_at", "id")
    )
    history = (
        list(EngagementEvent.objects.filter(account=account, contact=contact).order_by("at", "id"))
        if contact is not None
        else []
    )
    answered = {
        (e.data or {}).get("provider_message_id"): e.campaign_id
        for e in history
        if e.type == EventType.SMS_RECEIVED
    }
    stored = {m.provider_message_id for m in inbound if m.provider_message_id}
    messages.extend(
        {
            "id": m.pk,
            "at": _iso(m.created_at),
            "direction": m.direction,
            "from": m.from_number,
            "to": m.to_number,
            "body": m.body,
            "status": m.status,
            "kind": None,
            "campaign_id": answered.get(m.provider_message_id),
            "provider_message_id": m.provider_message_id,
        }
        for m in inbound
    )
    if contact is not None:
        for e in history:
            data = e.data or {}
            if e.type == EventType.SMS_RECEIVED:
                if data.get("provider_message_id") in stored:
                    continue  # listed from its message row
                messages.append(
                    {
                        "id": None,
                        "at": _iso(e.at),
                        "direction": Direction.INBOUND.value,
                        "from": phone,
                        "to": data.get("to"),
                        "body": data.get("text") or "",
                        "status": "received",
                        "kind": None,
                        "campaign_id": e.campaign_id,
                        "provider_message_id": data.get("provider_message_id"),
                    }
                )
            elif e.type not in _MESSAGE_EVENTS:
                trail.events.append(
                    {
                        "id": e.pk,
                        "type": e.type,
                        "at": _iso(e.at),
                        "campaign_id": e.campaign_id,
                        "data": data,
                    }
                )
    messages.sort(key=lambda m: m["at"] or "")
    trail.messages = messages

    trail.dnc = [
        {
            "id": d.pk,
            "reason": d.reason,
            "note": d.note,
            "added_by": _username(d.added_by),
            "created_at": _iso(d.created_at),
        }
        for d in DncEntry.objects.filter(account=account, phone=phone).select_related("added_by")
    ]
    trail.audit = [
        {
            "id": a.pk,
            "action": a.action,
            "at": _iso(a.at),
            "actor": _username(a.actor),
            "contact_id": a.contact_id,
            "data": a.data,
        }
        for a in AuditEntry.objects.filter(account=account, phone=phone)
        .select_related("actor")
        .order_by("at", "id")
    ]
    return trail
