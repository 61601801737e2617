"""The audience filter language (API.md "Tribes"), validated and compiled to one SQL
WHERE over `Contact`.

A filter is `{"all": [...]}` or `{"any": [...]}`; each item is a condition
`{"field", "op", "value"}` or another filter. `filter_validate` checks a filter against
an account and names the first problem's path (`filter.all[2].op`); `filter_q` turns a
valid filter into a `Q` the caller applies to the account's contacts. Nothing is
evaluated in Python: a Tribe of 100k contacts is one statement.

Fields and ops:

- Text fields (`phone`, names, `street`, `city`, `state`, `zip`, `timezone`): `eq`,
  `ne`, `in`, `not_in`, `contains` compare case-insensitively (`phone` values are
  normalised to E.164 first and compared exactly); `gt`/`gte`/`lt`/`lte` compare
  non-blank values as text (ZIP ranges); `exists` (value true/false) means "not blank".
- Choice fields (`pool`, `sms_status`, `timezone_source`): `eq ne in not_in` with a
  value from the choices.
- `created_at`, `updated_at`: `gt gte lt lte` with an ISO date (midnight in the
  account's zone) or datetime.
- `custom.<key>` (the contact's `custom_fields`): `eq ne in not_in` compare the JSON
  value as text, so `true` matches `true` and `"true"`, and `5` matches `5` and `"5"`;
  `contains` is a case-insensitive substring; `gt gte lt lte` with a number compare
  numerically and match only values that are numbers (or strings holding a number),
  with a string compare as text (ISO dates order correctly); `exists` means the key
  is present. A contact without the key matches `ne` and `not_in` and nothing else.
- `tribe` (value: a Tribe id of the account): `eq`/`in` member of (any of), `ne`/
  `not_in` member of none. A saved-filter Tribe is expanded inline (recursively, with
  cycles and depth refused); a list Tribe is `id IN (its members)`.
- Message history (`replied_to_campaign`, `messaged_within_hours`) lives in `texting`,
  above this app: `texting` registers those fields here (`register_history_field`, in
  its `AppConfig.ready()`); `eq` means "did", `ne` "did not".

Every compiled condition is NULL-free (a missing JSON key reads as false, never NULL),
so `NOT`, `CASE WHEN` (the audit) and `exclude()` (the commit) always agree.
"""

import datetime
import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, F, FloatField, Q, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, Lower
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    LessThan,
    LessThanOrEqual,
    Regex,
)
from django.utils import dateparse

from accounts.models import Account
from accounts.parsers import text_problem

from .models import Pool, SmsStatus, TimezoneSource, TribeKind
from .phones import ascii_digits, try_normalize_phone

OPS = ("eq", "ne", "in", "not_in", "contains", "gt", "gte", "lt", "lte", "exists")
MAX_DEPTH = 5  # nested groups, and Tribes referring to Tribes
MAX_CONDITIONS = 100
MAX_LIST = 1000  # values of one `in` / `not_in`
# Numbers compare as PostgreSQL floats: beyond this they lose whole-number precision
# (and 1e400 is no float at all).
MAX_NUMBER = 1e15

TEXT_FIELDS = (
    "phone",
    "first_name",
    "last_name",
    "preferred_name",
    "street",
    "city",
    "state",
    "zip",
    "timezone",
)
CHOICE_FIELDS = {
    "pool": Pool.values,
    "sms_status": SmsStatus.values,
    "timezone_source": TimezoneSource.values,
}
DATE_FIELDS = ("created_at", "updated_at")
_TEXT_OPS = frozenset(OPS)
_CHOICE_OPS = frozenset({"eq", "ne", "in", "not_in"})
_DATE_OPS = frozenset({"gt", "gte", "lt", "lte"})
_MEMBER_OPS = frozenset({"eq", "ne", "in", "not_in"})
_NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")  # as contacts.serializers allows


class FilterError(Exception):
    """An invalid filter; `path` names where (`filter.all[2].op`)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class HistoryField:
    """A field over message history, provided by a higher app. `check(account, value)`
    returns an error message or ""; `matches(account, value)` the Q of contacts for
    whom it is true."""

    check: Callable[[Account, Any], str]
    matches: Callable[[Account, Any], Q]
    ops: frozenset = frozenset({"eq", "ne"})


_HISTORY_FIELDS: dict[str, HistoryField] = {}


def register_history_field(
    name: str, *, check: Callable[[Account, Any], str], matches: Callable[[Account, Any], Q]
) -> None:
    """Hook: `texting` provides the message-history fields (it owns the messages)."""
    _HISTORY_FIELDS[name] = HistoryField(check=check, matches=matches)


def field_names() -> list[str]:
    """Every field a condition may name (`custom.<key>` aside), for the builder."""
    return [*TEXT_FIELDS, *CHOICE_FIELDS, *DATE_FIELDS, "tribe", *_HISTORY_FIELDS]


def ops_for(field: str) -> frozenset:
    if field in TEXT_FIELDS or field.startswith("custom."):
        return _TEXT_OPS
    if field in CHOICE_FIELDS:
        return _CHOICE_OPS
    if field in DATE_FIELDS:
        return _DATE_OPS
    if field == "tribe":
        return _MEMBER_OPS
    if field in _HISTORY_FIELDS:
        return _HISTORY_FIELDS[field].ops
    return frozenset()


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar_problem(value: Any) -> str:
    """Why a value cannot be compared in SQL, or "": PostgreSQL refuses NUL in text, and
    a number beyond a float's range (or NaN) compares with nothing."""
    if isinstance(value, str):
        return text_problem(value)
    if _is_number(value):
        try:
            if math.isfinite(float(value)) and abs(value) <= MAX_NUMBER:
                return ""
        except OverflowError:
            pass
        return f"Give a number between {-MAX_NUMBER:.0e} and {MAX_NUMBER:.0e}."
    return ""


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Compiler:
    """Validates and compiles in one walk, so what is checked is what runs."""

    def __init__(self, *, account: Account, within: frozenset[int] = frozenset()):
        self.account = account
        self.within = within  # Tribe ids being expanded (cycle guard)
        self.conditions = 0

    # -- groups ------------------------------------------------------------------

    def group(self, node: Any, path: str, depth: int = 1) -> Q:
        if not isinstance(node, dict) or len(node) != 1 or next(iter(node)) not in ("all", "any"):
            raise FilterError(path, 'Give {"all": [...]} or {"any": [...]}.')
        ((kind, items),) = node.items()
        here = f"{path}.{kind}"
        if not isinstance(items, list) or not items:
            raise FilterError(here, "Give a non-empty list of conditions.")
        if depth > MAX_DEPTH:
            raise FilterError(path, f"Filters nest at most {MAX_DEPTH} deep.")
        parts = []
        for i, item in enumerate(items):
            item_path = f"{here}[{i}]"
            if isinstance(item, dict) and ("all" in item or "any" in item):
                parts.append(self.group(item, item_path, depth + 1))
            else:
                parts.append(self.condition(item, item_path))
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if kind == "all" else combined | part
        return combined

    # -- conditions --------------------------------------------------------------

    def condition(self, node: Any, path: str) -> Q:
        if not isinstance(node, dict):
            raise FilterError(path, 'Give a condition {"field", "op", "value"} or a group.')
        unknown = set(node) - {"field", "op", "value"}
        if unknown:
            raise FilterError(f"{path}.{sorted(unknown)[0]}", "Unknown key.")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterError(path, f"A filter has at most {MAX_CONDITIONS} conditions.")
        field, op = node.get("field"), node.get("op")
        if not isinstance(field, str) or not (
            field in field_names() or field.startswith("custom.")
        ):
            raise FilterError(
                f"{path}.field", f"Unknown field {field!r} (contact fields, custom.<key>, ...)."
            )
        allowed = ops_for(field)
        if not isinstance(op, str) or op not in allowed:
            raise FilterError(
                f"{path}.op", f"{field} takes one of: {', '.join(o for o in OPS if o in allowed)}."
            )
        value_path = f"{path}.value"
        if op == "exists":
            value = node.get("value", True)
            if not isinstance(value, bool):
                raise FilterError(value_path, "exists takes true or false.")
        else:
            if "value" not in node:
                raise FilterError(value_path, "Give a value.")
            value = node["value"]
            if op in ("in", "not_in"):
                if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                    raise FilterError(value_path, f"Give a list of 1 to {MAX_LIST} values.")
                if not all(_is_scalar(v) for v in value):
                    raise FilterError(value_path, "Give a list of strings, numbers or booleans.")
            elif not _is_scalar(value):
                raise FilterError(value_path, "Give a string, number or boolean.")
            for item in value if isinstance(value, list) else [value]:
                problem = _scalar_problem(item)
                if problem:
                    raise FilterError(value_path, problem)

        if field.startswith("custom."):
            return self.custom(field.removeprefix("custom."), op, value, path)
        if field in TEXT_FIELDS:
            return self.text(field, op, value, value_path)
        if field in CHOICE_FIELDS:
            return self.choice(field, op, value, value_path)
        if field in DATE_FIELDS:
            return self.date(field, op, value, value_path)
        if field == "tribe":
            return self.tribe(op, value, value_path)
        return self.history(field, op, value, value_path)

    def text(self, field: str, op: str, value: Any, path: str) -> Q:
        if op == "exists":
            present = ~Q(**{field: ""})
            return present if value else ~present
        values = value if isinstance(value, list) else [value]
        if field == "phone":
            normal = []
            for v in values:
                phone = try_normalize_phone(str(v))
                if phone is None and op not in ("contains", "gt", "gte", "lt", "lte"):
                    raise FilterError(path, f"{v!r} is not a phone number.")
                normal.append(phone or str(v))
            values = normal
            column = F(field)
        else:
            values = [str(v).lower() for v in values]
            column = Lower(field)
        if op in ("eq", "ne"):
            q = Q(Exact(column, values[0]))
        elif op in ("in", "not_in"):
            q = Q(In(column, values))
        elif op == "contains":
            # A phone is stored in ASCII digits: "５５５" looks for "555".
            needle = (ascii_digits(str(value)) or str(value)) if field == "phone" else str(value)
            q = Q(IContains(F(field), needle))
        else:  # a blank value has no place in an order
            q = ~Q(**{field: ""}) & Q(_ORDER[op](column, values[0]))
        return ~q if op in ("ne", "not_in") else q

    def choice(self, field: str, op: str, value: Any, path: str) -> Q:
        values = value if isinstance(value, list) else [value]
        bad = [v for v in values if v not in CHOICE_FIELDS[field]]
        if bad:
            raise FilterError(path, f"{bad[0]!r} is not one of: {', '.join(CHOICE_FIELDS[field])}.")
        q = Q(**{field: values[0]}) if op in ("eq", "ne") else Q(**{f"{field}__in": values})
        return ~q if op in ("ne", "not_in") else q

    def date(self, field: str, op: str, value: Any, path: str) -> Q:
        when = _parse_when(value, self.account) if isinstance(value, str) else None
        if when is None:
            raise FilterError(path, "Give an ISO date (2026-11-01) or date and time.")
        return Q(**{f"{field}__{op}": when})

    def custom(self, key: str, op: str, value: Any, path: str) -> Q:
        if not _CUSTOM_KEY.match(key):
            raise FilterError(
                f"{path}.field", "A custom field name is letters, digits and underscores."
            )
        has = Q(custom_fields__has_key=key)
        if op == "exists":
            return has if value else ~has
        # `->>` text of the value ('' when the key is missing or JSON null): never NULL.
        text = Coalesce(KeyTextTransform(key, "custom_fields"), Value(""), output_field=TextField())
        if op in ("eq", "ne", "in", "not_in"):
            values = [_json_text(v) for v in (value if isinstance(value, list) else [value])]
            q = has & Q(In(text, values))
            return ~q if op in ("ne", "not_in") else q
        if op == "contains":
            return has & Q(IContains(text, str(value)))
        if _is_number(value):
            # CASE keeps the cast away from values that are not numbers (PostgreSQL
            # would otherwise fail the whole statement on the first one).
            looks_numeric = Q(Regex(text, _NUMBER))
            number = Case(When(looks_numeric, then=Cast(text, FloatField())), default=None)
            return has & looks_numeric & Q(_ORDER[op](number, float(value)))
        if isinstance(value, str):
            return has & Q(_ORDER[op](text, value))
        raise FilterError(f"{path}.value", f"{op} takes a number or a string.")

    def tribe(self, op: str, value: Any, path: str) -> Q:
        ids = value if isinstance(value, list) else [value]
        if not all(_whole(i) for i in ids):
            raise FilterError(path, "Give Tribe ids (integers).")
        from .models import Tribe, TribeMember

        tribes = {t.pk: t for t in Tribe.objects.filter(account=self.account, pk__in=ids)}
        missing = [i for i in ids if i not in tribes]
        if missing:
            raise FilterError(path, f"No Tribe {missing[0]} in this account.")
        parts = []
        for tribe_id in dict.fromkeys(ids):
            tribe = tribes[tribe_id]
            if tribe.pk in self.within:
                raise FilterError(path, f"Tribe {tribe.pk} ({tribe.name}) refers to itself.")
            if len(self.within) >= MAX_DEPTH:
                raise FilterError(path, f"Tribes refer to Tribes at most {MAX_DEPTH} deep.")
            if tribe.kind == TribeKind.LIST:
                members = TribeMember.objects.filter(tribe_id=tribe.pk).values("contact_id")
                parts.append(Q(pk__in=members))
            else:
                inner = _Compiler(account=self.account, within=self.within | {tribe.pk})
                try:
                    parts.append(inner.group(tribe.filter, "filter"))
                except FilterError as exc:
                    raise FilterError(
                        path, f"Tribe {tribe.pk} ({tribe.name}) has an unusable filter: {exc}"
                    ) from exc
        q = parts[0]
        for part in parts[1:]:
            q |= part
        return ~q if op in ("ne", "not_in") else q

    def history(self, field: str, op: str, value: Any, path: str) -> Q:
        provider = _HISTORY_FIELDS[field]
        problem = provider.check(self.account, value)
        if problem:
            raise FilterError(path, problem)
        q = provider.matches(self.account, value)
        return ~q if op == "ne" else q


_ORDER = {"gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}


def _json_text(value: Any) -> str:
    """The text PostgreSQL's `->>` gives for this JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_when(value: str, account: Account) -> datetime.datetime | None:
    try:
        moment = dateparse.parse_datetime(value)
        if moment is None:
            day = dateparse.parse_date(value)
            if day is None:
                return None
            moment = datetime.datetime.combine(day, datetime.time.min)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(account.timezone))
    return moment


def filter_q(
    filter: Any, *, account: Account, path: str = "filter", within: frozenset[int] = frozenset()
) -> Q:
    """The filter as a `Q` over the account's contacts (apply it to
    `Contact.objects.filter(account=account)`). Raises FilterError naming the path.
    `within`: Tribe ids that may not be referred to (the Tribe being saved)."""
    return _Compiler(account=account, within=within).group(filter, path)


def filter_validate(
    filter: Any, *, account: Account, path: str = "filter", within: frozenset[int] = frozenset()
) -> None:
    """Raises FilterError (with the path of the first problem) unless `filter` is valid
    for this account."""
    filter_q(filter, account=account, path=path, within=within)
