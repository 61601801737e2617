"""A cap on the size of a request body, applied before Django reads it.

Under ASGI, Django's handler reads the whole body (into a temporary file past 2.5 MB)
before any view or upload check runs, so a 2 GB upload would be written to disk in full
only to be refused afterwards. This wrapper answers 413 with a sentence at once when
the declared `Content-Length` is over `REQUEST_MAX_BYTES`, and, for a body that does
not declare its length (chunked) or declares less than it sends, stops reading as soon
as the count passes the cap: Django sees the client leave (it answers nothing) and the
413 is sent here. `REQUEST_MAX_BYTES` sits above the largest upload we take (a 20 MiB
contact import, `MMS_UPLOAD_MAX_BYTES`), whose own, more specific checks say more.
"""

import json

from asgiref.typing import ASGIApplication
from django.conf import settings


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


async def _refuse(scope, send, size: int | None) -> None:
    limit = settings.REQUEST_MAX_BYTES
    declared = f"is {_mb(size)}" if size is not None else f"is larger than {_mb(limit)}"
    sentence = (
        f"The upload {declared}; a request may carry at most {_mb(limit)}. Send a smaller file."
    )
    if scope.get("path", "").startswith("/api/"):
        body, content_type = json.dumps({"detail": sentence}).encode(), b"application/json"
    else:
        body, content_type = sentence.encode(), b"text/plain; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def with_body_limit(app: ASGIApplication) -> ASGIApplication:
    """`app` with HTTP request bodies capped at REQUEST_MAX_BYTES (413 over it)."""

    async def limited(scope, receive, send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = settings.REQUEST_MAX_BYTES
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, declared)
            return
        received = 0
        over = False
        started = False

        async def counting_receive():
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # the app sees the client go, and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await app(scope, counting_receive, tracking_send)
        if over and not started:
            await _refuse(scope, send, None)

    return limited
