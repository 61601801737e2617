"""Webhook intake: the checks every path shares, and the ASGI fast path.

`webhook_verify` is the one place that decides what a request body is worth: the
Ed25519 signature (the Telnyx SDK's own verifier, against TELNYX_PUBLIC_KEY) and the
shape of a Telnyx event. The Django view (`providers.views.telnyx_webhook`, for WSGI and
the test client) and the ASGI fast path both call it, then store through
`providers.services.webhook_events_store`.

The fast path (`with_webhook_fast_path`, wrapped around Django in config/asgi.py) answers
`POST /webhooks/telnyx/` without Django's request machinery: no middleware chain, no
sync/async thread switches. Only the database write leaves the event loop, and it is
grouped: the requests that arrive while a write is in flight are stored together by the
next one (one multi-row INSERT ... ON CONFLICT DO NOTHING, one commit). Nothing is
added to an idle server's answer time; under load the batches grow and each event
costs less. Every request is answered only after the commit that stored its event
(durable before the 2xx); if that write fails it is answered 500 and the provider
retries.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http.request import split_domain_port, validate_host
from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

from . import services

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telnyx/"  # providers/urls.py routes the same path to the view
# The writer threads' database work: at most this many batches in flight per process,
# each of at most MAX_BATCH events.
WRITERS = 2
MAX_BATCH = 500

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WebhookRejected(Exception):
    """The request is not a verified provider event; `status` is the answer."""

    status = 400


class InvalidSignature(WebhookRejected):
    status = 403


class NotAnEvent(WebhookRejected):
    status = 400


def webhook_verify(*, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The event envelope of a signed Telnyx webhook. Raises InvalidSignature (403) when
    the signature is missing, wrong or stale, NotAnEvent (400) when the signed body is
    not a Telnyx event we can store."""
    try:
        # The raw bytes as received: re-serialised JSON would not verify.
        verify_webhook_signature(body, headers, settings.TELNYX_PUBLIC_KEY)
    except (WebhookVerificationError, ValueError) as exc:
        raise InvalidSignature("invalid signature") from exc
    try:
        envelope = storable_envelope(json.loads(body))
        services.webhook_event_parse(envelope)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise NotAnEvent("not a Telnyx event") from exc
    return envelope


# What PostgreSQL's jsonb cannot hold. A signed event carrying one (a NUL in a text, a
# lone surrogate, NaN) was refused by the INSERT and answered 500 at every retry until
# Telnyx gave up: the inbound was lost. It is stored instead with the value replaced
# (U+FFFD for text, null for a number) and the replacements listed in the stored
# payload under CLEANED_KEY, so the event applies like any other and nothing is lost.
CLEANED_KEY = "x_a2p_cleaned"
MAX_EVENT_DEPTH = 64  # a Telnyx event is ~5 deep; deeper is not one
_UNSTORABLE_TEXT = re.compile("[\\x00\\ud800-\\udfff]")


def storable_envelope(envelope: Any) -> Any:
    """`envelope` with every value jsonb refuses replaced, and CLEANED_KEY listing them
    (only when something was). Raises ValueError for nesting beyond MAX_EVENT_DEPTH."""
    notes: list[str] = []
    clean = _storable(envelope, "", notes, 0)
    if notes and isinstance(clean, dict):
        clean[CLEANED_KEY] = notes[:50]
    return clean


def _storable(value: Any, path: str, notes: list[str], depth: int) -> Any:
    if isinstance(value, str):
        if _UNSTORABLE_TEXT.search(value) is None:
            return value
        notes.append(f"{path or '.'}: NUL or lone surrogate replaced by U+FFFD")
        return _UNSTORABLE_TEXT.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{path or '.'}: {value!r} replaced by null")
        return None
    if not isinstance(value, dict | list):
        return value
    if depth >= MAX_EVENT_DEPTH:
        raise ValueError(f"nested deeper than {MAX_EVENT_DEPTH} levels")
    if isinstance(value, list):
        return [_storable(v, f"{path}[{i}]", notes, depth + 1) for i, v in enumerate(value)]
    clean: dict[str, Any] = {}
    for key, item in value.items():
        key = _storable(key, f"{path}.<key>", notes, depth + 1)
        clean[key] = _storable(item, f"{path}.{key}" if path else key, notes, depth + 1)
    return clean


# --- The ASGI fast path --------------------------------------------------------------------
def with_webhook_fast_path(app: ASGIApp) -> ASGIApp:
    """`app` (Django's ASGI handler) with POST /webhooks/telnyx/ answered by the fast
    path; every other request goes to `app` unchanged."""

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await telnyx_webhook_asgi(scope, receive, send)
        else:
            await app(scope, receive, send)

    return router


async def telnyx_webhook_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The view's answers without Django's request cycle: 200 once stored (or already
    stored), 403 bad signature, 400 not an event (or a host not in ALLOWED_HOSTS, or a
    body over DATA_UPLOAD_MAX_MEMORY_SIZE, as Django answers those), 405 not a POST."""
    if scope["method"] != "POST":
        await _respond(send, 405, extra=[(b"allow", b"POST")])
        return
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    if not _allowed_host(headers, scope):
        await _respond(send, 400, b"Bad Request")
        return
    body = await _read_body(receive)
    if body is None:
        await _respond(send, 400, b"Bad Request")
        return
    try:
        envelope = webhook_verify(body=body, headers=headers)
    except WebhookRejected as exc:
        await _respond(send, exc.status, str(exc).encode())
        return
    try:
        await _batcher().store(envelope)
    except Exception:
        log.exception("webhook: storing the event failed; answered 500 (the provider retries)")
        await _respond(send, 500, b"Server Error")
        return
    await _respond(send, 200)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when it is over DATA_UPLOAD_MAX_MEMORY_SIZE (or the
    client went away)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _allowed_host(headers: Mapping[str, str], scope: Scope) -> bool:
    """Django's ALLOWED_HOSTS check (HttpRequest.get_host), which the fast path would
    otherwise skip."""
    host = headers.get("host", "")
    if settings.USE_X_FORWARDED_HOST and "x-forwarded-host" in headers:
        host = headers["x-forwarded-host"]
    elif not host and scope.get("server"):
        host = str(scope["server"][0])
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


async def _respond(
    send: Send, status: int, body: bytes = b"", extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _StoreBatcher:
    """Group commit for one event loop. `store` resolves once the event's batch has
    committed. A batch starts as soon as a writer thread is free and takes everything
    waiting (up to MAX_BATCH)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._in_flight = 0
        self._executor = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="webhook-store")

    async def store(self, envelope: dict[str, Any]) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiting.append((envelope, future))
        self._start_batches()
        await future

    def _start_batches(self) -> None:
        while self._waiting and self._in_flight < WRITERS:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._in_flight += 1
            done = self._loop.run_in_executor(self._executor, _store_batch, [e for e, _ in batch])
            done.add_done_callback(functools.partial(self._finished, batch))

    def _finished(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]], done: asyncio.Future
    ) -> None:
        self._in_flight -= 1
        if done.cancelled():  # the executor went away (shutdown): nothing is known
            for _, future in batch:
                future.cancel()
        else:
            error = done.exception()
            errors = [error] * len(batch) if error is not None else done.result()
            for (_, future), failure in zip(batch, errors, strict=True):
                if future.done():  # the request was cancelled meanwhile
                    continue
                if failure is None:
                    future.set_result(None)
                else:
                    future.set_exception(failure)
        self._start_batches()


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _StoreBatcher] = (
    weakref.WeakKeyDictionary()
)


def _batcher() -> _StoreBatcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = _StoreBatcher(loop)
    return batcher


def _store_batch(envelopes: list[dict[str, Any]]) -> list[BaseException | None]:
    """In a writer thread: store the batch in one statement (autocommit: committed when
    it returns). Returns one error (or None) per event. A batch the database refuses
    (rather than cannot be reached for) is stored event by event, so only the event at
    fault fails. The thread's connection goes back to the pool after every batch, as
    Django's request cycle does."""
    try:
        _store_reconnecting(envelopes)
        return [None] * len(envelopes)
    except (OperationalError, InterfaceError) as exc:  # unreachable: every event fails
        return [exc] * len(envelopes)
    except DatabaseError as exc:
        if len(envelopes) == 1:
            return [exc]
        return [error for envelope in envelopes for error in _store_batch([envelope])]
    except Exception as exc:  # not the database's doing: the same for every event
        log.exception("webhook: storing a batch of %s failed", len(envelopes))
        return [exc] * len(envelopes)
    finally:
        connection.close()


def _store_reconnecting(envelopes: list[dict[str, Any]]) -> None:
    """A pooled connection the server dropped (a restart, an idle timeout) is replaced
    once."""
    try:
        services.webhook_events_store(envelopes=envelopes)
    except (OperationalError, InterfaceError):
        connection.close()  # back to the pool, which discards a broken connection
        services.webhook_events_store(envelopes=envelopes)
