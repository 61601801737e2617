"""Small factories for personas and tenants. Plain functions over the real ORM."""

import datetime
import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import Account, Membership
from accounts.services import api_token_issue
from contacts.geo import zone_at_local_hour
from contacts.services import contact_upsert
from phone_numbers.models import PhoneNumber

_seq = itertools.count(1)


def make_account(slug: str | None = None, **fields) -> Account:
    n = next(_seq)
    slug = slug or f"acct{n}"
    fields.setdefault("balance", Decimal("100"))  # sends are paid for; tests start funded
    return Account.objects.create(slug=slug, name=fields.pop("name", slug.title()), **fields)


def make_user(username: str | None = None, password: str = "pw-for-tests-1"):
    username = username or f"user{next(_seq)}"
    return get_user_model().objects.create_user(username=username, password=password)


def make_member(account: Account, role: str = "admin", username: str | None = None):
    user = make_user(username)
    Membership.objects.create(user=user, account=account, role=role)
    return user


def api_client(user, account: Account | None = None) -> APIClient:
    """An API client authenticated by token, optionally pinned to an account (X-Account)."""
    client = APIClient()
    key = api_token_issue(user=user, name="tests").key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    if account is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}", HTTP_X_ACCOUNT=account.slug)
    client.token_key = key  # for tests of the token itself
    return client


def daytime_zone(at: datetime.datetime | None = None) -> str:
    """A zone where the local time is nearest 13:30 at `at` (default now): inside every
    quiet-hours window (compliance.rules) with hours to spare either side."""
    return zone_at_local_hour(13.5, at)


# Set by the `daytime_recipients` fixture (tests/texting, tests/reliability): contacts
# made without an address (zip, state) are put in this zone, so sends are never held by
# quiet hours, whatever the hour the suite runs at.
RECIPIENT_ZONE: str | None = None


def make_contact(
    account: Account, phone: str | None = None, sms_status: str = "opted_in", **fields
):
    """A contact, opted in unless `sms_status` says otherwise (set directly: the consent
    API is what tests of consent use). Placed in `RECIPIENT_ZONE` when that is set and
    no address is given."""
    phone = phone or f"+1503555{next(_seq) % 10000:04d}"
    contact, _ = contact_upsert(account=account, phone=phone, data=fields)
    if contact.sms_status != sms_status:
        type(contact).objects.filter(pk=contact.pk).update(sms_status=sms_status)
        contact.sms_status = sms_status
    if RECIPIENT_ZONE and not (fields.get("zip") or fields.get("state")):
        place = {"timezone": RECIPIENT_ZONE, "timezone_candidates": [RECIPIENT_ZONE]}
        type(contact).objects.filter(pk=contact.pk).update(**place)
        for key, value in place.items():
            setattr(contact, key, value)
    return contact


def make_number(account: Account, e164: str | None = None, **fields) -> PhoneNumber:
    e164 = e164 or f"+1971555{next(_seq) % 10000:04d}"
    # Registered (10DLC campaign active), as a number that sends must be; carriers block
    # unregistered 10DLC traffic and the Tech Check refuses it.
    fields.setdefault("registration_status", "active")
    return PhoneNumber.objects.create(account=account, e164=e164, **fields)


def make_campaign(account: Account, name: str = "Spring canvass", user=None, **fields):
    from texting.services import campaign_create

    return campaign_create(account=account, actor=user, name=name, **fields)


def make_event(contact, type: str = "sms_received", **fields):
    from contacts.services import engagement_record

    return engagement_record(contact=contact, type=type, **fields)
