"""Hooks higher apps register to hear about account changes (see docs/architecture.md)."""

from collections.abc import Callable

from .models import Account

_timezone_changed: list[Callable[[Account], None]] = []


def register_timezone_changed(fn: Callable[[Account], None]) -> None:
    """`fn(account)` runs inside the transaction that changed the account's timezone."""
    if fn not in _timezone_changed:
        _timezone_changed.append(fn)


def timezone_changed(account: Account) -> None:
    for fn in _timezone_changed:
        fn(account)
