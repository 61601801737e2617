import datetime
import hashlib
import logging
import math
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import redis
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from . import hooks
from .models import Account, ApiToken, Membership, Role

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
    if user is None and not password:
        raise AccountError(f"User '{username}' does not exist; give --password to create it.")
    if password:
        _password_check(password, user=user or User(username=username))
    if user is None:
        user = User.objects.create_user(username=username, password=password)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
    membership, _ = Membership.objects.update_or_create(
        user=user, account=account, defaults={"role": role}
    )
    return membership


def _password_check(password: str, *, user: AbstractBaseUser) -> None:
    """The AUTH_PASSWORD_VALIDATORS rules, as for the sign-up and password-change forms."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise AccountError("Password refused: " + " ".join(exc.messages)) from exc


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


# --- API tokens ---------------------------------------------------------------------
# A token is issued per client (each `POST /api/v1/auth/token/` makes a new one), lives
# API_TOKEN_DAYS from its issue (no sliding renewal: a stolen token dies on schedule;
# the client asks for a new one), and ends early when revoked: by its owner, by an
# account admin, when its owner logs out of the UI or changes their password.


def _token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    key: str  # shown once; never stored
    token: ApiToken


@transaction.atomic
def api_token_issue(*, user: AbstractBaseUser, name: str = "") -> IssuedToken:
    """A new token for `user`; beyond API_TOKENS_PER_USER the oldest ones are revoked
    (which also bounds the expired rows a user can leave behind)."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip()[:100],
        key_hash=_token_hash(key),
        key_prefix=key[:8],
        expires_at=timezone.now() + datetime.timedelta(days=settings.API_TOKEN_DAYS),
    )
    keep = ApiToken.objects.filter(user=user).order_by("-created_at", "-id")
    keep_ids = list(keep.values_list("pk", flat=True)[: settings.API_TOKENS_PER_USER])
    ApiToken.objects.filter(user=user).exclude(pk__in=keep_ids).delete()
    return IssuedToken(key=key, token=token)


# last_used_at is written at most this often per token, not on every request.
_LAST_USED_EVERY = datetime.timedelta(minutes=5)


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token with this key (its user loaded), or None: unknown, revoked,
    expired or the user deactivated all read the same to the caller."""
    if not key or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_token_hash(key), expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_tokens_revoke(*, user: AbstractBaseUser, token_id: int | None = None) -> int:
    """Revoke one of `user`'s tokens (`token_id`), or all of them. Returns how many."""
    tokens = ApiToken.objects.filter(user=user)
    if token_id is not None:
        tokens = tokens.filter(pk=token_id)
    deleted, _ = tokens.delete()
    if deleted:
        logger.info("revoked %d API token(s) of user %s", deleted, user.pk)
    return deleted


# --- Password guessing ----------------------------------------------------------------
# Failed logins (the sign-in page, the admin's, `POST /api/v1/auth/token/`) are counted in
# Redis per username and per client IP, in fixed windows of LOGIN_FAILURE_WINDOW seconds
# that start at the first failure. At LOGIN_FAILURES_PER_USERNAME (or _PER_IP) failures
# the username (or IP) is refused, correct password or not, until its window ends. A
# success resets nothing: it would let an attacker on another IP guess on. Redis down:
# logins go on unthrottled (a warning is logged) rather than nobody logging in.
#
# Each attempt is counted *before* its password is checked (one Lua script: count,
# refuse over the limit) and given back if the password was right, so a burst of
# parallel guesses gets no more password checks than the limit.

_LOGIN_PREFIX = "login:fail:"

# KEYS: the counters; ARGV[1]: the window (s), ARGV[1 + i]: KEYS[i]'s limit. Returns 0
# with every counter taken, or the seconds to wait (and takes none).
_RESERVE_LUA = """
local wait = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    redis.call('EXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  if count > tonumber(ARGV[i + 1]) and ttl > wait then wait = ttl end
end
if wait > 0 then
  for _, key in ipairs(KEYS) do redis.call('DECR', key) end
end
return wait
"""
# Gives an attempt back (a right password); a counter whose window ended stays gone.
_RELEASE_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
return 0
"""


class LoginThrottled(Exception):
    def __init__(self, wait: int) -> None:
        self.wait = wait
        minutes = max(1, math.ceil(wait / 60))
        unit = "minute" if minutes == 1 else "minutes"
        self.message = f"Too many attempts; try again in {minutes} {unit}."
        super().__init__(self.message)


@cache
def _login_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


@cache
def _login_scripts(url: str) -> tuple[Any, Any]:
    client = _login_redis(url)
    return client.register_script(_RESERVE_LUA), client.register_script(_RELEASE_LUA)


def _login_keys(username: str, ip: str | None) -> list[tuple[str, int]]:
    # Usernames are hashed: keys of any length or alphabet, and none in Redis in clear.
    name = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    keys = [(f"{_LOGIN_PREFIX}user:{name}", settings.LOGIN_FAILURES_PER_USERNAME)]
    if ip:
        keys.append((f"{_LOGIN_PREFIX}ip:{ip}", settings.LOGIN_FAILURES_PER_IP))
    return keys


def login_wait(*, username: str, ip: str | None) -> int:
    """Seconds before this username / IP may try a password again (0: now). A read
    only: the attempt itself is counted by login_authenticate."""
    keys = _login_keys(username, ip)
    try:
        pipe = _login_redis(settings.REDIS_URL).pipeline(transaction=False)
        for key, _ in keys:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("login throttle unavailable (%s); not throttling", exc)
        return 0
    wait = 0
    for i, (_, limit) in enumerate(keys):
        count, ttl = replies[2 * i], replies[2 * i + 1]
        if count is not None and int(count) >= limit:
            wait = max(wait, ttl if ttl > 0 else settings.LOGIN_FAILURE_WINDOW)
    return wait


def _login_attempt_take(keys: list[tuple[str, int]]) -> int:
    reserve, _ = _login_scripts(settings.REDIS_URL)
    try:
        return int(
            reserve(
                keys=[key for key, _ in keys],
                args=[settings.LOGIN_FAILURE_WINDOW, *(limit for _, limit in keys)],
            )
        )
    except redis.RedisError as exc:
        logger.warning("login throttle unavailable (%s); not throttling", exc)
        return 0


def _login_attempt_give_back(keys: list[tuple[str, int]]) -> None:
    _, release = _login_scripts(settings.REDIS_URL)
    try:
        release(keys=[key for key, _ in keys])
    except redis.RedisError as exc:
        logger.warning("login throttle unavailable (%s)", exc)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the server saw it (uvicorn puts a trusted proxy's
    X-Forwarded-For there with --proxy-headers and --forwarded-allow-ips)."""
    return request.META.get("REMOTE_ADDR") or None


def login_authenticate(
    *, request: HttpRequest, username: str, password: str
) -> AbstractBaseUser | None:
    """`authenticate()` behind the guessing limits: raises LoginThrottled while the
    username or the client's IP is refused (the password is not even checked), else
    returns the user, or None for a wrong password, which stays counted."""
    keys = _login_keys(username, client_ip(request))
    wait = _login_attempt_take(keys)
    if wait:
        raise LoginThrottled(wait)
    user = authenticate(request, username=username, password=password)
    if user is not None:
        _login_attempt_give_back(keys)
    return user
