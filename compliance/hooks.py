"""Hooks higher apps register to hear about compliance changes (see docs/architecture.md).

compliance may not import texting, yet texting owns what must follow these changes: the
queued messages to a phone and the dispatcher's short-lived opt-out mark per phone
(texting.dispatch.opt_out_mark, checked right before every provider call). texting
registers its handlers here in TextingConfig.ready().
"""

from collections.abc import Callable, Sequence
from typing import Any

from accounts.models import Account

_phones_suppressed: list[Callable[..., Any]] = []
_phones_released: list[Callable[..., Any]] = []
_opted_in: list[Callable[..., None]] = []


def register_phones_suppressed(fn: Callable[..., Any]) -> None:
    """`fn(account=..., phones=[...])` runs inside the transaction that put the phones on
    the do-not-contact list (compliance.suppression)."""
    if fn not in _phones_suppressed:
        _phones_suppressed.append(fn)


def phones_suppressed(*, account: Account, phones: Sequence[str]) -> None:
    for fn in _phones_suppressed:
        fn(account=account, phones=phones)


def register_phones_released(fn: Callable[..., Any]) -> None:
    """`fn(account=..., phones=[...])` runs when phones come off the do-not-contact list
    (compliance.suppression)."""
    if fn not in _phones_released:
        _phones_released.append(fn)


def phones_released(*, account: Account, phones: Sequence[str]) -> None:
    for fn in _phones_released:
        fn(account=account, phones=phones)


def register_opted_in(fn: Callable[..., None]) -> None:
    """`fn(account_id=..., phone=...)` runs after the commit of a consent record that
    moved a contact to `opted_in` (compliance.consent: API, contact page, keyword)."""
    if fn not in _opted_in:
        _opted_in.append(fn)


def opted_in(*, account_id: int, phone: str) -> None:
    for fn in _opted_in:
        fn(account_id=account_id, phone=phone)
