"""Tribes (saved audiences): reads and writes.

A saved-filter Tribe's members are whoever matches its filter now (`contacts.filters`,
one WHERE); a list Tribe's are its `TribeMember` rows (filled by pastes and imports).
The SMS-eligible count needs consent rules, which live in `compliance`, above this app:
`compliance.tribes` adds it.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import Account

from .filters import FilterError, filter_q, filter_validate
from .models import Contact, Tribe, TribeKind, TribeMember, TribeMode


class TribeError(Exception):
    """Bad input for a Tribe (400); `field` names it. Nothing was changed."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --- reads --------------------------------------------------------------------------


def access_tribe(*, account: Account, tribe_id: int) -> Tribe:
    """The account's Tribe, or 404 (also for another tenant's id)."""
    return get_object_or_404(Tribe, account=account, pk=tribe_id)


def tribe_list(*, account: Account, q: str = "", modes: list[str] | None = None) -> QuerySet[Tribe]:
    """The account's Tribes by name; `q` searches the name, `modes` keeps those modes."""
    tribes = Tribe.objects.filter(account=account)
    if q:
        tribes = tribes.filter(name__icontains=q.strip())
    if modes:
        tribes = tribes.filter(mode__in=modes)
    return tribes.order_by("name", "id")


def tribe_condition(*, tribe: Tribe) -> Q:
    """Membership of the Tribe as a condition over the account's contacts."""
    if tribe.kind == TribeKind.LIST:
        return Q(pk__in=TribeMember.objects.filter(tribe_id=tribe.pk).values("contact_id"))
    return filter_q(tribe.filter, account=tribe.account, within=frozenset({tribe.pk}))


def tribe_members(*, tribe: Tribe) -> QuerySet[Contact]:
    """The Tribe's members, now: one statement, whatever its size."""
    return Contact.objects.filter(account_id=tribe.account_id).filter(tribe_condition(tribe=tribe))


def tribes_condition(*, account: Account, tribe_ids: list[int]) -> Q:
    """Member of any of these Tribes of the account (ids already checked)."""
    tribes = Tribe.objects.filter(account=account, pk__in=tribe_ids)
    conditions = [tribe_condition(tribe=t) for t in tribes]
    if not conditions:
        return Q(pk__in=[])
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined


def tribe_member_count(*, tribe: Tribe) -> int:
    return tribe_members(tribe=tribe).count()


def filter_members(*, account: Account, filter: Any) -> QuerySet[Contact]:
    """The contacts an ad-hoc filter matches (FilterError if it is invalid)."""
    return Contact.objects.filter(account=account).filter(filter_q(filter, account=account))


# --- writes -------------------------------------------------------------------------


def _check(*, account: Account, name: str, mode: str, kind: str, filter: Any, tribe_id=None):
    if not name.strip():
        raise TribeError("name", "Give the Tribe a name.")
    if mode not in TribeMode.values:
        raise TribeError("mode", f"Give one of: {', '.join(TribeMode.values)}.")
    if kind == TribeKind.FILTER:
        within = frozenset({tribe_id}) if tribe_id else frozenset()
        try:
            filter_validate(filter, account=account, within=within)
        except FilterError as exc:
            raise TribeError(exc.path, exc.message) from exc
    clash = Tribe.objects.filter(account=account, name__iexact=name.strip())
    if tribe_id:
        clash = clash.exclude(pk=tribe_id)
    if clash.exists():
        raise TribeError("name", f"A Tribe named “{name.strip()}” already exists.")


def tribe_create(
    *,
    account: Account,
    actor: AbstractBaseUser | None,
    name: str,
    mode: str = TribeMode.CROSS,
    filter: Any = None,
    kind: str = TribeKind.FILTER,
) -> Tribe:
    """A saved-filter Tribe (or an empty list Tribe with `kind="list"`)."""
    filter = filter if kind == TribeKind.FILTER else {}
    _check(account=account, name=name, mode=mode, kind=kind, filter=filter)
    try:
        with transaction.atomic():
            return Tribe.objects.create(
                account=account,
                name=name.strip(),
                mode=mode,
                kind=kind,
                filter=filter,
                created_by=actor if actor and actor.is_authenticated else None,
            )
    except IntegrityError as exc:  # a concurrent create with the same name
        raise TribeError("name", f"A Tribe named “{name.strip()}” already exists.") from exc


def tribe_update(*, tribe: Tribe, data: dict[str, Any]) -> Tribe:
    """Change name, mode and (saved-filter Tribes) filter. A filter that would refer to
    the Tribe itself, directly or through others, is refused."""
    fields = {k: v for k, v in data.items() if k in ("name", "mode", "filter")}
    if "filter" in fields and tribe.kind == TribeKind.LIST:
        raise TribeError("filter", "A list Tribe has members, not a filter.")
    merged = {
        "name": tribe.name,
        "mode": tribe.mode,
        "filter": tribe.filter,
        **fields,
    }
    _check(account=tribe.account, kind=tribe.kind, tribe_id=tribe.pk, **merged)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    changed = [k for k, v in fields.items() if getattr(tribe, k) != v]
    for key in changed:
        setattr(tribe, key, fields[key])
    if changed:
        try:
            with transaction.atomic():
                tribe.save(update_fields=[*changed, "updated_at"])
        except IntegrityError as exc:
            raise TribeError("name", f"A Tribe named “{tribe.name}” already exists.") from exc
    return tribe


def tribe_delete(*, tribe: Tribe) -> None:
    """Delete the Tribe. Refused while another Tribe's filter refers to it (their
    filters would stop working)."""
    users = [
        t.name
        for t in Tribe.objects.filter(account_id=tribe.account_id, kind=TribeKind.FILTER).exclude(
            pk=tribe.pk
        )
        if tribe.pk in _referred_tribes(t.filter)
    ]
    if users:
        raise TribeError("tribe", f"Used by the Tribe “{users[0]}”; change that one first.")
    tribe.delete()


def _referred_tribes(node: Any) -> set[int]:
    """Tribe ids a filter names (its `tribe` conditions)."""
    found: set[int] = set()
    if isinstance(node, dict):
        if node.get("field") == "tribe":
            value = node.get("value")
            found.update(v for v in (value if isinstance(value, list) else [value]) if v)
        for items in (node.get("all"), node.get("any")):
            for item in items if isinstance(items, list) else []:
                found |= _referred_tribes(item)
    return found
