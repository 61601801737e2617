import json
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Account

from .geo import guess_timezone, state_for_zip
from .models import Contact, EngagementEvent, TimezoneSource
from .phones import is_e164, normalize_phone

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "street",
    "city",
    "state",
    "zip",
    "pool",
    "custom_fields",
)
_LOCATION_FIELDS = {"phone", "state", "zip"}


def _apply_timezone(contact: Contact, account: Account) -> None:
    guess = guess_timezone(
        phone=contact.phone, state=contact.state, zip_code=contact.zip, default=account.timezone
    )
    contact.timezone = guess.timezone
    contact.timezone_candidates = list(guess.candidates)
    contact.timezone_source = guess.source


def _fill_state_from_zip(data: dict[str, Any]) -> None:
    if data.get("zip") and not data.get("state"):
        state = state_for_zip(data["zip"])
        if state:
            data["state"] = state


def _stored_phone(phone: str) -> str:
    """ASCII E.164 as given (the callers have parsed it); any other spelling through
    `normalize_phone`, so `+15035５50189` can never become a contact of its own."""
    return phone if is_e164(phone) else normalize_phone(phone)


def contact_upsert(*, account: Account, phone: str, data: dict[str, Any]) -> tuple[Contact, bool]:
    """Create the contact, or update the existing one with that phone (one per phone).

    `phone` should already be E.164; anything else is normalised here so no caller can
    create a second spelling of a number (InvalidPhone if it is none).
    Returns (contact, created).
    """
    phone = _stored_phone(phone)
    data = {k: v for k, v in data.items() if k in CONTACT_FIELDS}
    _fill_state_from_zip(data)
    for _ in range(2):  # a concurrent insert of the same phone loses the race once, then updates
        existing = Contact.objects.filter(account=account, phone=phone).first()
        if existing is not None:
            return contact_update(contact=existing, data=data), False
        contact = Contact(account=account, phone=phone, **data)
        _apply_timezone(contact, account)
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            continue
        return contact, True
    raise RuntimeError("contact_upsert: could not insert or find the contact")


def contact_update(*, contact: Contact, data: dict[str, Any]) -> Contact:
    data = {k: v for k, v in data.items() if k in CONTACT_FIELDS or k == "phone"}
    if "phone" in data:
        data["phone"] = _stored_phone(data["phone"])
    if "zip" in data and "state" not in data:
        _fill_state_from_zip(data)
    changed = [k for k, v in data.items() if getattr(contact, k) != v]
    if not changed:
        return contact
    for key in changed:
        setattr(contact, key, data[key])
    update_fields = [*changed, "updated_at"]
    if _LOCATION_FIELDS & set(changed):
        _apply_timezone(contact, contact.account)
        update_fields += ["timezone", "timezone_candidates", "timezone_source"]
    contact.save(update_fields=update_fields)
    return contact


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def contact_for_phone(*, account: Account, phone: str) -> tuple[Contact, bool]:
    """The contact with this phone, creating a phone-only record when there is none."""
    return contact_upsert(account=account, phone=phone, data={})


def contact_lock(*, contact: Contact) -> Contact:
    """Lock the contact's row until the caller's transaction ends (FOR UPDATE) and
    refresh its `sms_status`: inbound keywords from one phone apply one after another,
    so two STOPs cannot both find the contact subscribed."""
    contact.sms_status = (
        Contact.objects.select_for_update()
        .filter(pk=contact.pk)
        .values_list("sms_status", flat=True)
        .get()
    )
    return contact


def contact_sms_status_change(
    *,
    contact: Contact,
    to: str,
    event_type: str,
    source: str,
    at: datetime | None = None,
    only_from: Collection[str] | None = None,
    campaign_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> bool:
    """Move the contact's sms_status to `to` and write `event_type` to its history, with
    the old and new status and the source, in the caller's transaction (the audit row
    of the change). One contact per phone per account, so this is account-wide.

    Nothing changes (False) when the status already is `to`, or is not one of
    `only_from` (when given). The row is locked first (`contact_lock`)."""
    with transaction.atomic():
        previous = contact_lock(contact=contact).sms_status
        if previous == to or (only_from is not None and previous not in only_from):
            return False
        Contact.objects.filter(pk=contact.pk).update(sms_status=to, updated_at=timezone.now())
        contact.sms_status = to
        engagement_record(
            contact=contact,
            type=event_type,
            at=at,
            campaign_id=campaign_id,
            data={**(data or {}), "from": previous, "to": to, "source": source},
        )
    return True


def engagement_record(
    *,
    contact: Contact,
    type: str,
    at: datetime | None = None,
    campaign_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> EngagementEvent:
    return EngagementEvent.objects.create(
        account_id=contact.account_id,
        contact=contact,
        type=type,
        at=at or timezone.now(),
        campaign_id=campaign_id,
        data=data or {},
    )


def engagement_record_many(events: Iterable[EngagementEvent]) -> int:
    """Append several unsaved history rows in one INSERT (the send engine records a
    batch of sends at once; no ORM compile per batch). Returns how many."""
    rows = list(events)
    if not rows:
        return 0
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_engagementevent (account_id, contact_id, type, campaign_id, at, data)"
            " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[],"
            " %s::timestamptz[], %s::jsonb[])",
            [
                [e.account_id for e in rows],
                [e.contact_id for e in rows],
                [e.type for e in rows],
                [e.campaign_id for e in rows],
                [e.at or now for e in rows],
                [json.dumps(e.data or {}) for e in rows],
            ],
        )
    return len(rows)


def contacts_follow_account_timezone(account: Account) -> int:
    """Contacts whose zone is unknown use the account default: move them with it."""
    return Contact.objects.filter(
        account=account, timezone_source=TimezoneSource.ACCOUNT_DEFAULT
    ).update(timezone=account.timezone, timezone_candidates=[account.timezone])
