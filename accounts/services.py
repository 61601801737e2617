import datetime
import logging
import re
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from . import hooks
from .models import Account, Membership, Role

logger = logging.getLogger(__name__)


class AccountError(Exception):
    pass


@transaction.atomic
def account_create(
    *, slug: str, name: str, admin_username: str, admin_password: str | None
) -> Account:
    if Account.objects.filter(slug=slug).exists():
        raise AccountError(f"An account with slug '{slug}' already exists.")
    account = Account.objects.create(slug=slug, name=name)
    membership_add(
        account=account, username=admin_username, role=Role.ADMIN, password=admin_password
    )
    return account


@transaction.atomic
def membership_add(
    *, account: Account, username: str, role: str, password: str | None
) -> Membership:
    """Add (or re-role) a member; creates the user when it does not exist yet."""
    if role not in Role.values:
        raise AccountError(f"Unknown role '{role}'; choose one of {', '.join(Role.values)}.")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        if not password:
            raise AccountError(f"User '{username}' does not exist; give --password to create it.")
        user = User.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        user=user, account=account, defaults={"role": role}
    )
    return membership


# Fields an admin may change from the Settings page. The balance is not among them:
# money moves only through the balance ledger.
SETTINGS_FIELDS = (
    "name",
    "timezone",
    "stop_language",
    "help_text",
    "opt_out_confirmation",
    "opt_in_confirmation",
    "quiet_hours_start",
    "quiet_hours_end",
)

# A STOP confirmation only confirms (FCC § 64.1200(a)(12): no marketing, the one
# further message): it must say the number is unsubscribed / opted out, or how to opt
# back in, and it may carry no link. An opt-in confirmation must say how to opt out.
_CONFIRMS_OPT_OUT = re.compile(
    r"unsubscrib|opt(?:ed)?[- ]?out|\bstart\b|opt(?:ed)? back in", re.IGNORECASE
)
_LINK = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|org|net|ly|co|us|io)/", re.IGNORECASE)


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_account_settings(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        if key not in SETTINGS_FIELDS:
            raise ValueError(f"account_update_settings: '{key}' is not a settings field")
        cleaned[key] = value.strip() if isinstance(value, str) else value
    if "name" in cleaned and not cleaned["name"]:
        errors["name"] = "The account needs a name."
    elif len(cleaned.get("name", "")) > 200:
        errors["name"] = "The name must fit in 200 characters."
    if "timezone" in cleaned and cleaned["timezone"] not in _iana_zones():
        errors["timezone"] = (
            f"'{cleaned['timezone']}' is not an IANA time zone (e.g. America/Chicago)."
        )
    if "stop_language" in cleaned:
        stop = cleaned["stop_language"]
        if not stop:
            errors["stop_language"] = "Stop language is required on every campaign message."
        elif len(stop) > 160:
            errors["stop_language"] = "Stop language must fit in 160 characters."
    if "help_text" in cleaned:
        if not cleaned["help_text"]:
            errors["help_text"] = "HELP replies need a text."
        elif len(cleaned["help_text"]) > 320:
            errors["help_text"] = "Help text must fit in 320 characters."
    if "opt_out_confirmation" in cleaned:
        text = cleaned["opt_out_confirmation"]
        if not text:
            errors["opt_out_confirmation"] = "A STOP needs a confirmation text."
        elif len(text) > 320:
            errors["opt_out_confirmation"] = "The STOP confirmation must fit in 320 characters."
        elif not _CONFIRMS_OPT_OUT.search(text):
            errors["opt_out_confirmation"] = (
                "The STOP confirmation must say the number is unsubscribed (or opted out) "
                "or how to opt back in (Reply START)."
            )
        elif _LINK.search(text):
            errors["opt_out_confirmation"] = (
                "The STOP confirmation may not contain a link: it only confirms, no marketing."
            )
    if "opt_in_confirmation" in cleaned:
        text = cleaned["opt_in_confirmation"]
        if not text:
            errors["opt_in_confirmation"] = "Opting in needs a confirmation text."
        elif len(text) > 320:
            errors["opt_in_confirmation"] = "The opt-in confirmation must fit in 320 characters."
        elif "stop" not in text.lower():
            errors["opt_in_confirmation"] = (
                "The opt-in confirmation must say how to opt out (e.g. Reply STOP to opt out)."
            )
    for key in ("quiet_hours_start", "quiet_hours_end"):
        if key in cleaned and not isinstance(cleaned[key], datetime.time):
            errors[key] = "Give a time of day, e.g. 21:00."
    both_hours = "quiet_hours_start" in cleaned and "quiet_hours_end" in cleaned
    if not errors and both_hours and cleaned["quiet_hours_start"] == cleaned["quiet_hours_end"]:
        errors["quiet_hours_end"] = "Quiet hours must start and end at different times."
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def account_update_settings(*, account: Account, actor: AbstractBaseUser, **fields: Any) -> Account:
    """Change the account's sending settings (admin only; the caller checks MANAGE_ACCOUNT).

    Raises ValidationError keyed by field. Stop language, help text and quiet hours are
    compliance settings, so every change is logged with old and new values.
    """
    cleaned = _check_account_settings(fields)
    account = Account.objects.select_for_update().get(pk=account.pk)
    changed = {k: v for k, v in cleaned.items() if getattr(account, k) != v}
    if not changed:
        return account
    for key, value in changed.items():
        logger.info(
            "account %s: %s changed by %s: %r -> %r",
            account.slug,
            key,
            actor,
            getattr(account, key),
            value,
        )
        setattr(account, key, value)
    account.save(update_fields=list(changed))
    if "timezone" in changed:
        hooks.timezone_changed(account)
    return account


# --- Balance ------------------------------------------------------------------------
# The send engine debits a whole claim in its claim statement and credits back what was
# not sent (texting.dispatch); this is its one-message path. One conditional UPDATE:
# concurrent workers can never take the balance below zero (the CHECK constraint is the
# backstop), and no row lock is held across a call.


def balance_debit(*, account_id: int, amount: Decimal) -> bool:
    """Take `amount` if the balance covers it; False (and nothing taken) otherwise."""
    if amount <= 0:
        return True
    return bool(
        Account.objects.filter(pk=account_id, balance__gte=amount).update(
            balance=F("balance") - amount
        )
    )
