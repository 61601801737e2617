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
_confirmation_needed: list[Callable[..., None]] = []


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


def register_confirmation_needed(fn: Callable[..., None]) -> None:
    """`fn(account_id=..., contact_id=..., record_id=...)` runs inside the transaction
    of a double opt-in record that made a contact `pending` (compliance.consent):
    texting queues the request to reply YES with it."""
    if fn not in _confirmation_needed:
        _confirmation_needed.append(fn)


def confirmation_needed(*, account_id: int, contact_id: int, record_id: int) -> None:
    for fn in _confirmation_needed:
        fn(account_id=account_id, contact_id=contact_id, record_id=record_id)
